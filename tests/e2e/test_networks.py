"""Removing a network a swarm service still uses, on the real engine: a clear,
typed refusal naming the service, and removal once the service has left."""

from __future__ import annotations

import uuid

import docker
import pytest

from cloudos.engine import INSTANCE_LABEL, NetworkInUse, remove_network
from cloudos.engine.images import image_ref
from tests.helpers import wait_until

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_a_network_in_use_is_refused_naming_the_service_then_removed_once_it_left(
    built_images: docker.DockerClient,
) -> None:
    client = built_images
    instance = f"net{uuid.uuid4().hex[:6]}"
    name = f"{instance}-shop"
    client.networks.create(
        name, driver="overlay", attachable=True, labels={INSTANCE_LABEL: instance}
    )
    service = client.services.create(  # type: ignore[no-untyped-call]
        image_ref("static"),
        command=["sleep", "600"],
        name=f"{instance}-router_caddy",
        networks=[name],
        labels={INSTANCE_LABEL: instance},
    )
    try:
        with pytest.raises(NetworkInUse) as refused:
            remove_network(client, name=name, instance=instance)
        assert str(refused.value) == (
            f"network {name} is still in use by service {instance}-router_caddy"
        )
        assert client.networks.list(names=[name]), "nothing was removed"
    finally:
        service.remove()

    def removed() -> bool:
        try:
            remove_network(client, name=name, instance=instance)
        except NetworkInUse:
            return False  # its task is still stopping: a later attempt succeeds
        return not client.networks.list(names=[name])

    wait_until(removed, timeout=60, what=f"network {name} removed")
