"""RouterSync around a fake engine: when a router on its way makes passes come sooner.

tests/e2e/test_app_router.py proves the real thing: the router replaced to join a new
space's network serves its routes as soon as it answers.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

import pytest

from cloudos.apps import AppManager, Reconciler
from cloudos.apps import _router_sync as router_sync_module
from cloudos.apps._router_sync import ROUTER_SETTLE_LIMIT, RouterSettings, RouterSync
from cloudos.engine import ObservedService, ObservedStack
from cloudos.router import HstsPolicy, Platform
from tests.apps.test_reconciler import FakeSwarm


@dataclass
class Engine:
    """What the router's stack deploy needs to know about the node."""

    node_id: str = "node-1"


@pytest.fixture
def deploys(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The router stack deploys RouterSync makes, the engine faked around them."""
    made: list[str] = []
    monkeypatch.setattr(
        router_sync_module, "deploy_stack", lambda client, *, name, **_: made.append(name)
    )
    monkeypatch.setattr(router_sync_module, "detect_engine", lambda client: Engine())
    monkeypatch.setattr(router_sync_module, "ensure_network", lambda client, **_: None)
    monkeypatch.setattr(router_sync_module, "network_names", lambda client, **_: [])
    return made


@pytest.fixture
def router(manager: AppManager, tmp_path: Path) -> RouterSync:
    """The router of cloud ``t``; its admin socket does not exist (no router answers)."""
    return RouterSync(
        database=manager.database,
        vault=manager.vault,
        settings=RouterSettings(
            instance="t",
            data_dir=tmp_path / "data",
            host_data_dir=tmp_path / "data",
            http_port=8081,
            https_port=8443,
            acme_directory="https://127.0.0.1:1/directory",
            acme_email=None,
            acme_ca_root=None,
            docker_host=None,
            platform=Platform(host="cloud.localhost"),
        ),
        endpoint_mode=lambda: "dnsrr",
    )


def test_a_router_on_its_way_is_looked_at_again_soon_for_a_bounded_time(
    router: RouterSync, deploys: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The default space's portal is something to serve: the router stack is deployed.
    assert router.sync(object(), {}), "just deployed, not answering: look again soon"  # type: ignore[arg-type]
    assert deploys == ["t-router"]
    started = time.monotonic()
    later = started + ROUTER_SETTLE_LIMIT + 1
    monkeypatch.setattr("cloudos.apps._router_sync.time.monotonic", lambda: later)
    assert not router.sync(object(), {}), "never answering: back to the interval"  # type: ignore[arg-type]


def test_a_pass_keeps_settling_while_the_router_is_on_its_way(
    manager: AppManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    FakeSwarm().install(monkeypatch)  # no apps: nothing of theirs settles

    class Router:
        pending = True
        deploys = loads = 0

        def sync(self, client: object, observed: object) -> bool:
            return self.pending

    fake = Router()
    reconciler = Reconciler(
        manager=manager,
        connect_engine=lambda: object(),  # type: ignore[arg-type,return-value]
        router=fake,  # type: ignore[arg-type]
    )
    assert reconciler.run_once().settling, "no app to watch, but the router is starting"
    fake.pending = False
    assert not reconciler.run_once().settling


class RecordingAdmin:
    """Caddy's admin socket, recording the configurations loaded through it."""

    loaded: ClassVar[list[bytes]] = []

    def __init__(self, socket: Path, *, timeout: float) -> None:
        pass

    def __enter__(self) -> RecordingAdmin:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def config(self) -> dict[str, object]:
        return {}

    def load(self, config: bytes) -> None:
        self.loaded.append(config)


@pytest.mark.parametrize(("policy", "sent"), [("all", True), ("public", True), ("off", False)])
def test_the_hsts_setting_reaches_the_config_the_router_loads(
    router: RouterSync,
    deploys: list[str],
    monkeypatch: pytest.MonkeyPatch,
    policy: HstsPolicy,
    sent: bool,
) -> None:
    monkeypatch.setattr(router_sync_module, "RouterAdmin", RecordingAdmin)
    monkeypatch.setattr(RecordingAdmin, "loaded", [])
    router.settings = replace(router.settings, hsts=policy)
    router.settings.admin_socket.parent.mkdir(parents=True)
    router.settings.admin_socket.touch()  # the router answers
    router.sync(object(), {})  # type: ignore[arg-type]
    [loaded] = RecordingAdmin.loaded
    https = json.loads(loaded)["apps"]["http"]["servers"]["https"]["routes"]
    [platform] = [r for r in https if "cloud.localhost" in r.get("match", [{}])[0].get("host", [])]
    assert (
        '"Strict-Transport-Security":["max-age=31536000"]'
        in json.dumps(platform, separators=(",", ":"))
    ) is sent


def test_a_router_running_what_in_step_describes_is_left_alone(
    router: RouterSync, deploys: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # bench/bench_idle_memory.py records its idle router from in_step: it must be
    # exactly what a pass finds nothing to change in (no redeploy, no reload).
    in_step = router.in_step(networks=set(), node_id="node-1")
    assert in_step is not None, "the default space's portal needs a router"

    class InStepAdmin(RecordingAdmin):
        def config(self) -> dict[str, object]:
            return json.loads(in_step.config)  # type: ignore[no-any-return,union-attr]

    monkeypatch.setattr(router_sync_module, "RouterAdmin", InStepAdmin)
    monkeypatch.setattr(RecordingAdmin, "loaded", [])
    router.settings.admin_socket.parent.mkdir(parents=True)
    router.settings.admin_socket.touch()
    caddy = ObservedService(
        name="t-router_caddy",
        replicas=1,
        running=1,
        starting=0,
        labels={router_sync_module.SPEC_LABEL: in_step.stack_digest},
    )
    observed = {"t-router": ObservedStack("t-router", (caddy,))}
    assert not router.sync(object(), observed), "in step: nothing to wait for"  # type: ignore[arg-type]
    assert deploys == []
    assert RecordingAdmin.loaded == []
