"""The system stack YAML (pure rendering, snapshot-checked)."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from cloudos.system import SystemStackSpec, render_system_stack

SNAPSHOT = Path(__file__).with_name("snapshots") / "system-stack.yaml"

SPEC = SystemStackSpec(
    instance="cloudos",
    control_image="cloudos/control:0.1",
    data_dir=Path("/var/lib/cloudos"),
    port=8080,
    node_id="node123",
    docker_host="unix:///var/run/docker.sock",
)


def test_system_stack_matches_snapshot() -> None:
    rendered = render_system_stack(SPEC)
    if os.environ.get("UPDATE_GOLDEN"):
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(rendered)
    assert rendered == SNAPSHOT.read_text()


def test_rendering_is_deterministic() -> None:
    assert render_system_stack(SPEC) == render_system_stack(SPEC)


def test_data_and_socket_are_mounted_and_it_listens_on_the_hosts_loopback() -> None:
    document = yaml.safe_load(render_system_stack(SPEC))
    service = document["services"]["control"]
    assert "data:/var/lib/cloudos" in service["volumes"]
    assert "/var/run/docker.sock:/var/run/docker.sock" in service["volumes"]
    # No published port (swarm would open it on every address): the host's network,
    # where it listens on loopback; other machines come in through the router.
    assert "ports" not in service
    (network,) = service["networks"]
    assert document["networks"][network] == {"external": True, "name": "host"}
    assert service["environment"]["CLOUDOS_HOST"] == "127.0.0.1"
    assert service["environment"]["CLOUDOS_PORT"] == "8080"
    assert service["deploy"]["placement"]["constraints"] == ["node.id == node123"]


def test_another_address_is_listened_on_only_when_chosen() -> None:
    spec = SystemStackSpec(**{**SPEC.__dict__, "host": "0.0.0.0"})
    service = yaml.safe_load(render_system_stack(spec))["services"]["control"]
    assert service["environment"]["CLOUDOS_HOST"] == "0.0.0.0"


def test_remote_engine_and_postgres_are_passed_through() -> None:
    spec = SystemStackSpec(
        instance="x",
        control_image="cloudos/control:0.1",
        data_dir=Path("/srv/x"),
        port=9000,
        node_id="n",
        docker_host="tcp://10.0.0.5:2375",
        database_url="postgresql://u:p@db/cloudos",
    )
    service = yaml.safe_load(render_system_stack(spec))["services"]["control"]
    assert service["environment"]["DOCKER_HOST"] == "tcp://10.0.0.5:2375"
    assert service["environment"]["CLOUDOS_DATABASE_URL"] == "postgresql://u:p@db/cloudos"
    assert service["volumes"] == ["data:/var/lib/cloudos"]


def test_sqlite_url_of_the_host_is_not_passed_into_the_container() -> None:
    spec = SystemStackSpec(**{**SPEC.__dict__, "database_url": "sqlite:////host/path.db"})
    service = yaml.safe_load(render_system_stack(spec))["services"]["control"]
    assert "CLOUDOS_DATABASE_URL" not in service["environment"]


def test_the_control_plane_has_a_memory_limit() -> None:
    service = yaml.safe_load(render_system_stack(SPEC))["services"]["control"]
    assert service["deploy"]["resources"] == {"limits": {"memory": "1G"}}
    spec = SystemStackSpec(**{**SPEC.__dict__, "memory": "512M"})
    limits = yaml.safe_load(render_system_stack(spec))["services"]["control"]["deploy"]
    assert limits["resources"]["limits"]["memory"] == "512M"
