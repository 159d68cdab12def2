"""``cloudos up`` / ``down`` on the real swarm: the control plane as a swarm service."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest

from cloudos.engine import find_stack
from tests.e2e.conftest import remove_instance
from tests.e2e.test_app_router import router_root, via_router
from tests.helpers import Runner, free_port, listening_addresses, wait_for_http, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.slow]


class Cloud:
    """One cloud of the test: its data directory, ports and instance name."""

    def __init__(self, root: Path, client: docker.DockerClient) -> None:
        self.instance = f"e2e-{uuid.uuid4().hex[:6]}"
        self.docker = client
        self.data_dir = root / self.instance
        self.port = free_port()
        self.http_port = free_port()
        self.https_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def args(self, command: str) -> list[str]:
        flags = [command, "--data-dir", str(self.data_dir), "--instance", self.instance]
        if command != "up":
            return flags
        ports = {
            "--port": self.port,
            "--http-port": self.http_port,
            "--https-port": self.https_port,
        }
        return [*flags, *(str(item) for pair in ports.items() for item in pair)]


@pytest.fixture
def clouds(tmp_path: Path, built_images: docker.DockerClient) -> Iterator[list[Cloud]]:
    """Two clouds' settings; whatever they started (routers too) is removed afterwards."""
    made = [Cloud(tmp_path, built_images), Cloud(tmp_path, built_images)]
    yield made
    for cloud in made:
        remove_instance(built_images, cloud.instance)


def test_up_serves_down_keeps_data_and_clouds_live_side_by_side(
    cloudos: Runner, clouds: list[Cloud], built_images: docker.DockerClient
) -> None:
    first, second = clouds
    result = cloudos(*first.args("up"), timeout=600)
    assert result.returncode == 0, result.stderr
    assert first.url in result.stdout
    assert f"https://cloud.localhost:{first.https_port}/" in result.stdout
    assert "warning" not in result.stderr
    assert str(first.data_dir / "initial-admin-password") in result.stdout
    assert wait_for_http(f"{first.url}/healthz").status_code == 200
    assert find_stack(built_images, first.instance) is not None
    # Its plain-HTTP port is this machine's only: other machines use the router.
    assert listening_addresses(first.port) == {"127.0.0.1"}

    token = cloudos("admin", "create-token", "--data-dir", str(first.data_dir)).stdout.strip()
    me = httpx.get(f"{first.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["username"] == "admin"
    # Its container carries the node's name: the dashboard says whose CPU it plots.
    service = f"{first.instance}_control"
    control = built_images.containers.list(
        filters={"label": f"com.docker.swarm.service.name={service}"}
    )
    assert [c.attrs["Config"]["Hostname"] for c in control] == [built_images.info()["Name"]]
    # Swarm holds it to its memory limit (the setting control_memory, 1G by default).
    spec = built_images.services.get(service).attrs["Spec"]["TaskTemplate"]  # type: ignore[no-untyped-call]
    assert spec["Resources"]["Limits"]["MemoryBytes"] == 1024**3
    assert [c.attrs["HostConfig"]["Memory"] for c in control] == [1024**3]

    # The router reaches the control plane in its container at the platform host, over
    # HTTPS only; the default space's domain sends visitors to its portal there.
    wait_until(lambda: router_root(first) is not None, timeout=180, what="the router's internal CA")
    wait_until(
        lambda: (
            (answer := via_router(first, "cloud.localhost")) is not None
            and answer.status_code != 502
        ),
        timeout=60,
        what="the control plane through the router",
    )
    signin = via_router(first, "cloud.localhost")
    assert signin is not None
    assert (signin.status_code, signin.headers["location"]) == (303, "/signin?next=/")
    plain = via_router(first, "cloud.localhost", https=False)
    assert plain is not None
    assert plain.status_code == 308
    portal = via_router(first, "default.localhost")
    assert portal is not None
    assert portal.headers["location"] == (
        f"https://cloud.localhost:{first.https_port}/portal/default"
    )

    # Running it again is harmless.
    again = cloudos(*first.args("up"), timeout=600)
    assert again.returncode == 0, again.stderr

    # A second cloud on the same engine, with its own data and port.
    assert cloudos(*second.args("up"), timeout=600).returncode == 0
    assert wait_for_http(f"{second.url}/api/v1/version").json()["instance"] == second.instance

    down = cloudos(*first.args("down"))
    assert down.returncode == 0, down.stderr
    assert find_stack(built_images, first.instance) is None
    assert find_stack(built_images, second.instance) is not None
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{first.url}/healthz", timeout=2)
    assert wait_for_http(f"{second.url}/healthz").status_code == 200

    # Up again: same data, the token made before still works.
    assert cloudos(*first.args("up"), timeout=600).returncode == 0
    wait_for_http(f"{first.url}/healthz")
    me = httpx.get(f"{first.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200


def test_up_refuses_a_port_taken_by_another_program(
    cloudos: Runner, tmp_path: Path, built_images: docker.DockerClient
) -> None:
    import socket

    cloud = Cloud(tmp_path, built_images)
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", cloud.port))
        busy.listen()
        result = cloudos(*cloud.args("up"))
    assert result.returncode == 2
    assert f"port {cloud.port}" in result.stderr
    assert "Traceback" not in result.stderr
    assert find_stack(built_images, cloud.instance) is None
