"""Addon server stacks: snapshot-checked, deterministic, valid for docker stack config."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from cloudos.addons import ServerStackSpec, app_server, render_server_stack, space_server

SNAPSHOTS = Path(__file__).with_name("snapshots")
SPECS = {
    "mysql-space-dnsrr": ServerStackSpec(
        server=space_server(instance="cloudos", space="default", kind="mysql"),
        image="cloudos/mariadb:0.1",
        root_secret="cloudos--default--mysql_root_0123456789ab",
        endpoint_mode="dnsrr",
        node_id="node123",
    ),
    "postgresql-space-vip": ServerStackSpec(
        server=space_server(instance="cloudos", space="default", kind="postgresql"),
        image="cloudos/postgresql:0.1",
        root_secret="cloudos--default--postgresql_root_0123456789ab",
        endpoint_mode="vip",
    ),
    "redis-app-dnsrr": ServerStackSpec(
        server=app_server(instance="cloudos", app_id=3, app_name="cache", kind="redis"),
        image="cloudos/redis:0.1",
        root_secret="cloudos--3-cache--redis-app_root_0123456789ab",
        endpoint_mode="dnsrr",
        node_id="node123",
    ),
}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_server_stack_matches_snapshot(name: str) -> None:
    rendered = render_server_stack(SPECS[name])
    snapshot = SNAPSHOTS / f"{name}.yaml"
    if os.environ.get("UPDATE_GOLDEN"):
        SNAPSHOTS.mkdir(exist_ok=True)
        snapshot.write_text(rendered)
    assert rendered == snapshot.read_text()
    assert rendered == render_server_stack(SPECS[name])


@pytest.mark.parametrize("name", sorted(SPECS))
def test_server_stack_shape(name: str) -> None:
    spec = SPECS[name]
    document = yaml.safe_load(render_server_stack(spec))
    service = document["services"]["server"]
    assert service["deploy"]["endpoint_mode"] == spec.endpoint_mode
    assert service["deploy"]["labels"]["io.cloudos.addon"] == spec.server.kind
    assert document["networks"]["addon"] == {"external": True, "name": spec.server.network}
    assert document["secrets"]["root_password"]["name"] == spec.root_secret
    assert service["volumes"][0].startswith("data:/")
    placement = service["deploy"].get("placement", {}).get("constraints")
    assert placement == ([f"node.id == {spec.node_id}"] if spec.node_id else None)


def test_redis_keeps_its_users_in_a_file_seeded_with_the_root_password() -> None:
    service = yaml.safe_load(render_server_stack(SPECS["redis-app-dnsrr"]))["services"]["server"]
    script = service["entrypoint"][2]
    assert "--aclfile" in script
    assert "$$acl" in script  # $ escaped for docker stack deploy's interpolation
    assert "/run/secrets/root_password" in script
