"""Swarm checks against recorded engine answers (no engine needed)."""

from __future__ import annotations

from typing import Any

import pytest

from cloudos.engine import IpvsSupport, detect_engine, ensure_swarm_manager
from cloudos.errors import EnvironmentProblem

VERSION = {"Version": "20.10.24", "ApiVersion": "1.41"}
NO_IPVS = IpvsSupport(False, "test")


class RecordedEngine:
    """Answers ``version()``/``info()`` from recorded JSON; records ``swarm.init`` calls."""

    def __init__(self, swarm: dict[str, Any]) -> None:
        self._swarm = swarm
        self.inits: list[str | None] = []
        self.swarm = self

    def version(self) -> dict[str, Any]:
        return VERSION

    def info(self) -> dict[str, Any]:
        return {"OperatingSystem": "Debian", "Architecture": "x86_64", "Swarm": self._swarm}

    def init(self, advertise_addr: str | None = None) -> None:
        self.inits.append(advertise_addr)
        self._swarm = {
            "LocalNodeState": "active",
            "ControlAvailable": True,
            "NodeID": "n1",
            "Nodes": 1,
        }


def test_worker_is_refused_with_a_way_out() -> None:
    worker = RecordedEngine({"LocalNodeState": "active", "ControlAvailable": False, "NodeID": "w"})
    with pytest.raises(EnvironmentProblem, match="swarm worker, not a manager") as caught:
        ensure_swarm_manager(worker)  # type: ignore[arg-type]
    assert "docker node promote" in str(caught.value)
    assert worker.inits == []


def test_engine_in_no_swarm_gets_one() -> None:
    lone = RecordedEngine({"LocalNodeState": "inactive"})
    info = ensure_swarm_manager(lone, advertise_addr="127.0.0.1")  # type: ignore[arg-type]
    assert lone.inits == ["127.0.0.1"]
    assert (info.swarm_state, info.is_manager, info.node_id) == ("active", True, "n1")


def test_locked_swarm_is_explained() -> None:
    locked = RecordedEngine({"LocalNodeState": "locked"})
    with pytest.raises(EnvironmentProblem, match="swarm is locked"):
        ensure_swarm_manager(locked)  # type: ignore[arg-type]


def test_endpoint_mode_follows_ipvs() -> None:
    engine = RecordedEngine({"LocalNodeState": "active", "ControlAvailable": True, "Nodes": 3})
    assert detect_engine(engine, ipvs=NO_IPVS).endpoint_mode == "dnsrr"  # type: ignore[arg-type]
    with_vip = detect_engine(engine, ipvs=IpvsSupport(True, "t"))  # type: ignore[arg-type]
    assert with_vip.endpoint_mode == "vip"
    assert with_vip.as_dict()["node_count"] == 3
