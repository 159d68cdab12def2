"""End-to-end fixtures: the real engine, the real swarm, locally built images."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import docker
import httpx
import pytest

from cloudos.engine.images import build_images
from tests.helpers import TEST_PORTS, free_port, wait_for_http, wait_until


@pytest.fixture(scope="session")
def built_images(docker_client: docker.DockerClient) -> docker.DockerClient:
    """Every platform image, built (or found up to date) once per test run."""
    build_images(docker_client)
    return docker_client


UNREACHABLE_ACME = "https://127.0.0.1:1/directory"


class ControlPlane:
    """A ``cloudos serve`` of its own (data, port, instance) and an API client for it."""

    api: httpx.Client  # from the first start on
    log: TextIO

    def __init__(self, root: Path, client: docker.DockerClient, *, router: bool = False) -> None:
        self.instance = f"e2e{uuid.uuid4().hex[:6]}"
        self.data_dir = root / self.instance
        self.port = free_port()
        self.router = router
        self.http_port = free_port()
        self.https_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.docker = client
        self.process: subprocess.Popen[str] | None = None
        self.token = ""
        self.settings: dict[str, str] = {}  # more CLOUDOS_* for `serve`, applied at start

    def env(self) -> dict[str, str]:
        """Environment for ``cloudos`` commands talking to this control plane."""
        clean = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDOS_")}
        return clean | {
            "CLOUDOS_INSTANCE": self.instance,
            "CLOUDOS_RECONCILE_INTERVAL": "1",
            "CLOUDOS_URL": self.url,
            "CLOUDOS_TOKEN": self.token,
            "CLOUDOS_ROUTER": str(self.router).lower(),
            "CLOUDOS_HTTP_PORT": str(self.http_port),
            "CLOUDOS_HTTPS_PORT": str(self.https_port),
            # Nothing listens there (in the router's container): tests never ask Let's
            # Encrypt, and a public name's failed ACME attempt is what tests can see.
            "CLOUDOS_ACME_DIRECTORY": UNREACHABLE_ACME,
        }

    def start(self) -> None:
        """Start serving and wait until it answers."""
        if hasattr(self, "api"):
            self.api.close()
            self.log.close()
        self.log = (self.data_dir.parent / f"{self.instance}.log").open("a")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cloudos",
                "serve",
                "--data-dir",
                str(self.data_dir),
                "--port",
                str(self.port),
            ],
            env=self.env() | self.settings,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            wait_for_http(f"{self.url}/healthz", timeout=60)
        except BaseException:
            self.process.kill()
            self.process.wait(timeout=30)
            raise
        fresh = not self.token
        if fresh:
            token = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "cloudos",
                    "admin",
                    "create-token",
                    "--data-dir",
                    str(self.data_dir),
                ],
                env=self.env(),
                capture_output=True,
                text=True,
                check=True,
            )
            self.token = token.stdout.strip()
        self.api = httpx.Client(
            base_url=f"{self.url}/api/v1",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )
        if fresh:  # the test apps publish host ports: the space default may (see helpers)
            allowed = self.api.put(
                "/spaces/default/policy", json={"allow": [], "ports": TEST_PORTS}
            )
            assert allowed.status_code == 200, allowed.text

    def kill(self) -> None:
        """``kill -9`` the control plane, as a crash would."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """Stop it gracefully."""
        if hasattr(self, "api"):
            self.api.close()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        self.log.close()

    def cli(
        self, *args: str, stdin: bytes | None = None, timeout: float = 400
    ) -> subprocess.CompletedProcess[bytes]:
        """Run ``cloudos ARGS`` against this control plane (output as bytes)."""
        return subprocess.run(
            [sys.executable, "-m", "cloudos", *args],
            env=self.env(),
            input=stdin,
            capture_output=True,
            timeout=timeout,
            check=False,
        )

    def new_space(self, name: str) -> None:
        """Create the space ``name``, its apps allowed host ports TEST_PORTS as those of
        ``default`` are (the test apps publish one)."""
        created = self.api.post("/spaces", json={"name": name})
        assert created.status_code == 201, created.text
        allowed = self.api.put(f"/spaces/{name}/policy", json={"allow": [], "ports": TEST_PORTS})
        assert allowed.status_code == 200, allowed.text

    def app(self, name: str, space: str = "default") -> dict[str, Any]:
        """GET the app (asserting it exists)."""
        response = self.api.get(f"/spaces/{space}/apps/{name}")
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def wait_status(
        self,
        name: str,
        statuses: set[str],
        *,
        space: str = "default",
        timeout: float = 120,
        revision: int | None = None,
    ) -> dict[str, Any]:
        """Wait until the app shows one of ``statuses`` (at ``revision``, if given)."""
        deadline = time.monotonic() + timeout
        app: dict[str, Any] = {}
        while time.monotonic() < deadline:
            app = self.app(name, space)
            if app["status"] in statuses and (revision is None or app["revision"] == revision):
                return app
            time.sleep(0.5)
        pytest.fail(f"app {name} did not reach {statuses} in {timeout} s; last: {app}")

    def cleanup(self) -> None:
        """Remove every stack, network, secret and volume this cloud left behind."""
        remove_instance(self.docker, self.instance)


def remove_instance(client: docker.DockerClient, instance: str) -> None:
    """Remove every service, network, secret and volume labelled with a cloud's instance."""
    label = f"io.cloudos.instance={instance}"

    def gone() -> bool:
        # Removed again on each pass: a control plane still stopping may have put its
        # router back. The low-level container list: the high-level one inspects each
        # container and fails with NotFound when one goes away in between.
        for service in client.api.services(filters={"label": label}):  # type: ignore[no-untyped-call]
            with contextlib.suppress(docker.errors.NotFound):
                client.api.remove_service(service["ID"])  # type: ignore[no-untyped-call]
        return not client.api.containers(all=True, filters={"label": label})

    wait_until(gone, timeout=90, what="services and containers gone")
    for kind in (client.secrets, client.networks):
        for item in kind.list(filters={"label": label}):
            item.remove()
    # A stack's own default network carries only the stack's namespace label.
    for network in client.networks.list(filters={"label": "com.docker.stack.namespace"}):
        namespace = network.attrs.get("Labels", {}).get("com.docker.stack.namespace", "")
        if namespace == instance or namespace.startswith(f"{instance}-"):
            network.remove()
    for volume in client.volumes.list(filters={"label": label}):
        volume.remove(force=True)


@pytest.fixture
def control_plane(tmp_path: Path, built_images: docker.DockerClient) -> Iterator[ControlPlane]:
    """A running control plane with its own instance; everything it made is removed after.

    Its router is off: these tests reach apps on host ports (see routed_plane).
    """
    plane = ControlPlane(tmp_path, built_images)
    plane.start()
    yield plane
    plane.stop()
    plane.cleanup()


@pytest.fixture
def routed_plane(tmp_path: Path, built_images: docker.DockerClient) -> Iterator[ControlPlane]:
    """A running control plane with its router on free ports."""
    plane = ControlPlane(tmp_path, built_images, router=True)
    plane.start()
    yield plane
    plane.stop()
    plane.cleanup()
