"""The swarm's nodes as the dashboard shows them."""

from __future__ import annotations

from typing import Any

from docker.errors import APIError

from cloudos.engine import list_nodes


class _Api:
    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def nodes(self) -> Any:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class _Client:
    def __init__(self, answer: Any) -> None:
        self.api = _Api(answer)


def test_nodes_are_read_from_the_engines_answer() -> None:
    recorded = [
        {
            "ID": "b",
            "Spec": {"Role": "worker", "Availability": "drain"},
            "Status": {"State": "down", "Addr": "10.0.0.2"},
            "Description": {
                "Hostname": "pi",
                "Resources": {"NanoCPUs": 4_000_000_000, "MemoryBytes": 4 << 30},
                "Engine": {"EngineVersion": "20.10.24"},
            },
        },
        {
            "ID": "a",
            "Spec": {"Role": "manager", "Availability": "active"},
            "Status": {"State": "ready", "Addr": "10.0.0.1"},
            "Description": {"Hostname": "box", "Resources": {"NanoCPUs": 2_500_000_000}},
        },
    ]
    nodes = list_nodes(_Client(recorded))  # type: ignore[arg-type]
    assert [(n.hostname, n.role, n.state, n.availability) for n in nodes] == [
        ("box", "manager", "ready", "active"),
        ("pi", "worker", "down", "drain"),
    ]
    assert (nodes[0].cpus, nodes[0].memory_bytes, nodes[0].engine_version) == (2.5, 0, None)
    assert (nodes[1].cpus, nodes[1].memory_bytes, nodes[1].address) == (4.0, 4 << 30, "10.0.0.2")


def test_an_engine_in_no_swarm_has_no_nodes() -> None:
    refused = APIError("not a manager", response=type("R", (), {"status_code": 503})())
    assert list_nodes(_Client(refused)) == []  # type: ignore[arg-type]


def test_the_real_swarm_lists_this_machine(docker_client: Any) -> None:
    nodes = list_nodes(docker_client)
    assert any(n.role == "manager" and n.state == "ready" for n in nodes)
    assert all(n.cpus >= 1 and n.memory_bytes > 0 for n in nodes)
