"""Removing a space whose apps had routes, on the real swarm with the real router.

The router service joins the network of every space; removing a space's network
while the router is still attached fails ("network ... is in use by service
...-router_caddy"). That failure must neither stop the reconciler for the other
spaces nor keep the space's name taken.
"""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import ControlPlane
from tests.e2e.test_app_router import text, via_router
from tests.e2e.test_apps import HELLO
from tests.helpers import TEST_PORTS, free_port, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def install_hello(plane: ControlPlane, *, space: str, message: str) -> str:
    """Install the hello app in ``space``; its default route's host name."""
    created = plane.api.post(
        f"/spaces/{space}/apps",
        json={
            "name": "hello",
            "template_text": HELLO,
            "values": {"http_port": free_port(), "message": message},
        },
    )
    assert created.status_code == 201, created.text
    plane.wait_status("hello", {"running"}, space=space)
    return f"hello.{space}.localhost"


def test_removing_a_routed_space_leaves_the_other_spaces_routed_and_frees_its_name(
    routed_plane: ControlPlane,
) -> None:
    plane = routed_plane
    plane.new_space("alpha")
    plane.new_space("beta")
    alpha = install_hello(plane, space="alpha", message="from alpha")
    wait_until(
        lambda: text(via_router(plane, alpha)) == "from alpha",
        timeout=120,
        what="alpha's app through the router",
    )
    network = f"{plane.instance}-alpha"
    router = plane.docker.services.get(f"{plane.instance}-router_caddy")  # type: ignore[no-untyped-call]
    attached = {
        plane.docker.networks.get(n["Target"]).name
        for n in router.attrs["Spec"]["TaskTemplate"].get("Networks", [])
    }
    assert network in attached, "the router serves alpha over alpha's network"

    removed = plane.api.delete("/spaces/alpha", params={"force": "true"})
    assert removed.status_code == 204, removed.text

    # Another space's new app and route are applied meanwhile, through the router.
    beta = install_hello(plane, space="beta", message="from beta")
    wait_until(
        lambda: text(via_router(plane, beta)) == "from beta",
        timeout=90,
        what="beta's new app through the router after alpha's removal",
    )

    # The space goes with its network, and its name can be used again.
    wait_until(
        lambda: not plane.docker.networks.list(names=[network]),
        timeout=90,
        what=f"network {network} removed",
    )
    wait_until(
        lambda: plane.api.post("/spaces", json={"name": "alpha"}).status_code == 201,
        timeout=30,
        what="the name alpha free again",
    )
    # A new space of the old name inherits nothing: no host ports until allowed again.
    policy = plane.api.get("/spaces/alpha/policy")
    assert policy.status_code == 200, policy.text
    assert policy.json()["ports"] is None
    ports = plane.api.put("/spaces/alpha/policy", json={"allow": [], "ports": TEST_PORTS})
    assert ports.status_code == 200, ports.text
    again = install_hello(plane, space="alpha", message="alpha again")
    wait_until(
        lambda: text(via_router(plane, again)) == "alpha again",
        timeout=120,
        what="the new alpha's app through the router",
    )
    assert text(via_router(plane, beta)) == "from beta"
    health = httpx.get(f"{plane.url}/healthz", timeout=5)
    assert (health.status_code, health.json()["status"]) == (200, "ok")
