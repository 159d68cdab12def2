"""The platform images, built for real and each one seen doing its job in a container."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import docker
import httpx
import pytest
from docker.models.containers import Container
from docker.models.images import Image

import cloudos
from cloudos.engine.images import IMAGE_NAMES, build_images, image_ref, image_status
from tests.helpers import free_port, wait_for_http

pytestmark = pytest.mark.docker

RunContainer = Callable[..., Container]


@pytest.fixture
def run_container(built_images: docker.DockerClient) -> Iterator[RunContainer]:
    """Start detached containers of platform images; remove them all afterwards."""
    started: list[Container] = []

    def run(name: str, **kwargs: Any) -> Container:
        container = built_images.containers.run(
            image_ref(name), detach=True, labels={"io.cloudos.test": "images"}, **kwargs
        )
        started.append(container)
        return container

    yield run
    for container in started:
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True, v=True)


def wait_healthy(container: Container, *, timeout: float = 90) -> None:
    """Wait until the image's own HEALTHCHECK says healthy."""
    deadline = time.monotonic() + timeout
    status = "?"
    while time.monotonic() < deadline:
        container.reload()
        state = container.attrs["State"]
        status = (state.get("Health") or {}).get("Status", "none")
        if status == "healthy":
            return
        if not state["Running"]:
            break
        time.sleep(1)
    logs = container.logs(tail=30).decode(errors="replace")
    image = cast(Image, container.image)  # a started container has its image
    pytest.fail(f"{image.tags} is {status!r}, not healthy; logs:\n{logs}")


def run_in(container: Container, command: list[str], **kwargs: Any) -> tuple[int, str]:
    """Run a command inside the container; its exit code and output."""
    code, output = container.exec_run(command, **kwargs)
    # Not detached, not streamed: an exit code and the whole output.
    return cast(int, code), cast(bytes, output).decode(errors="replace")


def process_users(container: Container) -> set[str]:
    """The users that the container's processes run as (``docker top``)."""
    top = container.top()
    column = top["Titles"].index("UID")
    return {row[column] for row in top["Processes"]}


def test_every_image_is_present_and_a_second_build_does_nothing(
    built_images: docker.DockerClient,
) -> None:
    statuses = image_status(built_images)
    assert [s.name for s in statuses] == list(IMAGE_NAMES)
    assert all(s.present for s in statuses)
    tag = ".".join(cloudos.__version__.split(".")[:2])
    assert all(s.ref.endswith(f":{tag}") for s in statuses)

    # control hashes src/, which may change while a developer runs the suite.
    stable = [name for name in IMAGE_NAMES if name != "control"]
    results = build_images(built_images, names=stable)
    assert {r.outcome for r in results} == {"up-to-date"}
    labels = built_images.images.get(image_ref("router")).labels
    assert labels["io.cloudos.image"] == "router"
    assert labels["org.opencontainers.image.version"] == cloudos.__version__


def test_static_serves_its_default_page(run_container: RunContainer) -> None:
    port = free_port()
    container = run_container("static", ports={"8080/tcp": ("127.0.0.1", port)})
    page = wait_for_http(f"http://127.0.0.1:{port}/", timeout=30)
    assert page.status_code == 200
    assert "Cloud OS static site" in page.text
    assert httpx.get(f"http://127.0.0.1:{port}/missing").status_code == 404
    wait_healthy(container)
    assert process_users(container) <= {"www-data", "33"}


def test_php_runs_php_with_the_extensions_apps_need(run_container: RunContainer) -> None:
    port = free_port()
    container = run_container("php", ports={"8080/tcp": ("127.0.0.1", port)})
    page = wait_for_http(f"http://127.0.0.1:{port}/", timeout=30, ok=lambda r: r.status_code == 200)
    assert "PHP 8.2" in page.text
    assert "Extensions: all loaded" in page.text
    # Unknown paths go to the front controller; the health page is for the container only.
    assert "Cloud OS PHP runtime" in httpx.get(f"http://127.0.0.1:{port}/some/route").text
    assert httpx.get(f"http://127.0.0.1:{port}/.cloudos/health").status_code == 403
    wait_healthy(container)
    assert process_users(container) <= {"www-data", "33"}

    container.stop(timeout=10)
    container.reload()
    assert container.attrs["State"]["ExitCode"] == 0, "SIGTERM stops both servers cleanly"


def test_mariadb_initializes_with_a_secret_file(
    run_container: RunContainer, tmp_path: Path
) -> None:
    secret = tmp_path / "root_password"
    secret.write_text('it\'s "complicated"\n')
    container = run_container(
        "mariadb",
        environment={"MARIADB_ROOT_PASSWORD_FILE": "/run/secrets/root_password"},
        volumes={str(secret): {"bind": "/run/secrets/root_password", "mode": "ro"}},
    )
    wait_healthy(container)
    password = 'it\'s "complicated"'
    sql = (
        "CREATE DATABASE shop; CREATE TABLE shop.items (id INT); INSERT INTO shop.items VALUES (7);"
    )
    code, output = run_in(
        container, ["mariadb", "-h", "127.0.0.1", "-uroot", f"-p{password}", "-e", sql]
    )
    assert code == 0, output
    code, output = run_in(
        container,
        [
            "mariadb",
            "-h",
            "127.0.0.1",
            "-uroot",
            f"-p{password}",
            "-N",
            "-e",
            "SELECT id FROM shop.items",
        ],
    )
    assert (code, output.strip()) == (0, "7")
    code, output = run_in(container, ["mariadb", "-h", "127.0.0.1", "-uroot", "-e", "SELECT 1"])
    assert code != 0
    assert "Access denied" in output
    assert not process_users(container) & {"0", "root"}


def test_postgresql_requires_the_password_over_the_network(run_container: RunContainer) -> None:
    container = run_container("postgresql", environment={"POSTGRES_PASSWORD": "pg-secret"})
    wait_healthy(container)
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-tAc"]
    code, output = run_in(
        container,
        [*psql, "CREATE TABLE notes (body text); INSERT INTO notes VALUES ('hi'); TABLE notes"],
        environment={"PGPASSWORD": "pg-secret"},
    )
    assert code == 0, output
    assert output.strip().splitlines()[-1] == "hi"
    code, output = run_in(container, [*psql, "SELECT 1"], environment={"PGPASSWORD": "wrong"})
    assert code != 0
    assert "password authentication failed" in output
    assert not process_users(container) & {"0", "root"}


def test_redis_requires_its_password(run_container: RunContainer, tmp_path: Path) -> None:
    secret = tmp_path / "redis_password"
    secret.write_text('with space and "quotes"')
    container = run_container(
        "redis",
        environment={"REDIS_PASSWORD_FILE": "/run/secrets/redis_password"},
        volumes={str(secret): {"bind": "/run/secrets/redis_password", "mode": "ro"}},
    )
    wait_healthy(container)
    auth = {"REDISCLI_AUTH": 'with space and "quotes"'}
    assert run_in(container, ["redis-cli", "set", "greeting", "hello"], environment=auth) == (
        0,
        "OK\n",
    )
    assert run_in(container, ["redis-cli", "get", "greeting"], environment=auth)[1] == "hello\n"
    assert "NOAUTH" in run_in(container, ["redis-cli", "get", "greeting"])[1]
    assert not process_users(container) & {"0", "root"}


def test_router_admin_socket_answers_from_the_host(
    run_container: RunContainer, tmp_path: Path
) -> None:
    socket_dir = tmp_path / "router"
    socket_dir.mkdir()
    port = free_port()
    container = run_container(
        "router",
        volumes={str(socket_dir): {"bind": "/run/cloudos-router", "mode": "rw"}},
        ports={"80/tcp": ("127.0.0.1", port)},
    )
    socket = socket_dir / "admin.sock"
    deadline = time.monotonic() + 30
    while not socket.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert socket.exists(), container.logs().decode(errors="replace")

    # Caddy's admin API rejects any Host but an empty one on a unix socket.
    transport = httpx.HTTPTransport(uds=str(socket))
    with httpx.Client(transport=transport, base_url="http://localhost", timeout=5) as admin:
        config = admin.get("/config/", headers={"Host": ""})
        assert config.status_code == 200
        assert config.json() == {"admin": {"listen": "unix//run/cloudos-router/admin.sock"}}

        # A whole config must keep the admin listener, or the socket goes away.
        site = {
            "admin": {"listen": "unix//run/cloudos-router/admin.sock"},
            "apps": {
                "http": {
                    "servers": {
                        "web": {
                            "listen": [":80"],
                            "routes": [
                                {"handle": [{"handler": "static_response", "body": "routed"}]}
                            ],
                        }
                    }
                }
            },
        }
        loaded = admin.post("/load", json=site, headers={"Host": ""})
        assert loaded.status_code == 200, loaded.text

    answer = wait_for_http(f"http://127.0.0.1:{port}/", timeout=30)
    assert answer.text == "routed"
    wait_healthy(container)
    assert not process_users(container) & {"0", "root"}


def test_control_image_runs_the_cli(built_images: docker.DockerClient) -> None:
    output = built_images.containers.run(
        image_ref("control"), ["cloudos", "version"], remove=True, stderr=True
    )
    assert cloudos.__version__ in output.decode()
    output = built_images.containers.run(image_ref("control"), ["docker", "--version"], remove=True)
    assert output.decode().startswith("Docker version")
