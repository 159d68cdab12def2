"""A real stack on the real swarm, from a locally built image, serving HTTP."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from cloudos.engine import (
    INSTANCE_LABEL,
    deploy_stack,
    detect_engine,
    find_stack,
    remove_stack,
    service_states,
)
from cloudos.engine.images import image_ref
from cloudos.errors import Conflict
from tests.helpers import Runner, free_port, wait_for_http, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture
def stack_name(docker_client: docker.DockerClient) -> Iterator[str]:
    """A unique stack name, removed after the test whoever owns it."""
    name = f"t{uuid.uuid4().hex[:8]}"
    yield name
    for service in docker_client.services.list(
        filters={"label": f"com.docker.stack.namespace={name}"}
    ):
        service.remove()  # type: ignore[no-untyped-call]


def web_stack(port: int, endpoint_mode: str) -> str:
    return f"""
version: "3.8"
services:
  web:
    image: {image_ref("static")}
    ports:
      - {{target: 8080, published: {port}, mode: host}}
    deploy:
      endpoint_mode: {endpoint_mode}
"""


def test_detects_a_manager_of_a_swarm(docker_client: docker.DockerClient) -> None:
    info = detect_engine(docker_client)
    assert info.swarm_state == "active"
    assert info.is_manager
    assert info.node_count >= 1
    assert info.api_version >= "1.41"
    assert info.endpoint_mode == ("vip" if info.ipvs.available else "dnsrr")


def test_deployed_stack_serves_http_and_is_ours(
    built_images: docker.DockerClient, stack_name: str
) -> None:
    client = built_images
    mode = detect_engine(client).endpoint_mode
    port = free_port()
    deploy_stack(client, name=stack_name, compose_yaml=web_stack(port, mode), instance="e2e")
    response = wait_for_http(f"http://127.0.0.1:{port}/", ok=lambda r: r.status_code == 200)
    assert response.status_code == 200
    stack = find_stack(client, stack_name)
    assert stack is not None
    assert stack.owned_by("e2e")
    service = client.services.get(f"{stack_name}_web")  # type: ignore[no-untyped-call]
    assert service.attrs["Spec"]["Labels"][INSTANCE_LABEL] == "e2e"
    # Swarm marks the task running once the image's health check passes.
    wait_until(
        lambda: [(s.desired, s.running) for s in service_states(client, stack_name)] == [(1, 1)],
        what="1 of 1 task running",
    )

    # Another cloud on the same engine may neither update nor remove it.
    with pytest.raises(Conflict, match="belongs to cloud 'e2e'"):
        deploy_stack(client, name=stack_name, compose_yaml=web_stack(port, mode), instance="other")
    with pytest.raises(Conflict):
        remove_stack(client, name=stack_name, instance="other")
    assert find_stack(client, stack_name) is not None

    assert remove_stack(client, name=stack_name, instance="e2e")
    assert find_stack(client, stack_name) is None
    assert not client.networks.list(filters={"label": f"com.docker.stack.namespace={stack_name}"})


def test_a_stack_cloudos_did_not_create_is_never_touched(
    built_images: docker.DockerClient, stack_name: str
) -> None:
    client = built_images
    # Created by hand, without our label, as a user might have done.
    client.services.create(  # type: ignore[no-untyped-call]
        image_ref("static"),
        name=f"{stack_name}_web",
        labels={"com.docker.stack.namespace": stack_name},
    )
    stack = find_stack(client, stack_name)
    assert stack is not None
    assert stack.instance is None
    with pytest.raises(Conflict, match="belongs to nobody in Cloud OS"):
        remove_stack(client, name=stack_name, instance="e2e")
    with pytest.raises(Conflict):
        deploy_stack(
            client, name=stack_name, compose_yaml=web_stack(free_port(), "dnsrr"), instance="e2e"
        )
    assert client.services.get(f"{stack_name}_web") is not None  # type: ignore[no-untyped-call]


def test_doctor_json_describes_this_machine(cloudos: Runner, tmp_path: Path) -> None:
    result = cloudos("doctor", "--json", "--data-dir", str(tmp_path))
    assert result.returncode == 0, result.stdout
    report = json.loads(result.stdout)
    assert report["can_run"] is True
    assert report["reasons"] == []
    engine = report["engine"]
    assert engine["reachable"] is True
    assert engine["swarm_state"] == "active"
    assert engine["role"] == "manager"
    assert engine["node_count"] >= 1
    assert engine["endpoint_mode"] in ("vip", "dnsrr")
    assert isinstance(engine["ipvs"]["available"], bool)
    assert report["disk"]["free_bytes"] > 0
    names = {image["name"] for image in report["images"]}
    assert {"router", "mariadb", "postgresql", "redis", "php", "control"} <= names
