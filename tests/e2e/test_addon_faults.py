"""Addon faults on the real swarm with the real MariaDB: a server that never gets
healthy, and the control plane killed (SIGKILL) while apps get their databases."""

from __future__ import annotations

import random
import time
from typing import cast

import pytest

from cloudos.addons import space_server
from cloudos.engine import deploy_stack, exec_in_service, remove_stack
from cloudos.engine.images import image_ref
from tests.e2e.conftest import ControlPlane
from tests.e2e.test_app_addons import install
from tests.helpers import wait_until

pytestmark = [pytest.mark.docker, pytest.mark.slow]

TIMEOUT = 15  # CLOUDOS_ADDON_TIMEOUT for the not-healthy test, seconds

# Stands in for a MariaDB server that started but never passes its health check.
NEVER_HEALTHY = f"""
version: "3.8"
services:
  server:
    image: {image_ref("mariadb")}
    entrypoint: ["sleep", "infinity"]
    healthcheck: {{test: ["CMD", "false"], interval: 2s, timeout: 2s, retries: 1}}
    deploy: {{endpoint_mode: dnsrr}}
"""


def test_an_app_waits_for_a_server_that_is_not_healthy_then_fails_then_recovers(
    control_plane: ControlPlane,
) -> None:
    plane = control_plane
    plane.settings["CLOUDOS_ADDON_TIMEOUT"] = str(TIMEOUT)
    plane.stop()
    plane.start()
    server = space_server(instance=plane.instance, space="default", kind="mysql")
    deploy_stack(
        plane.docker, name=server.stack, compose_yaml=NEVER_HEALTHY, instance=plane.instance
    )
    install(plane, "shop", "php-mysql.yaml")

    waiting = plane.wait_status("shop", {"waiting"}, timeout=60)
    assert waiting["status_reason"] == (
        f"waiting for the mysql server ({server.stack}) to be ready"
    )
    since = time.monotonic()
    failed = plane.wait_status("shop", {"failed"}, timeout=TIMEOUT + 60)
    assert time.monotonic() - since >= TIMEOUT - 2
    assert failed["status_reason"] == (
        f"waiting for the mysql server ({server.stack}) to be ready: not ready after {TIMEOUT} s"
    )
    assert failed["services"] == [], "no app is deployed without its database"
    messages = [e["message"] for e in plane.api.get("/spaces/default/apps/shop/events").json()]
    assert any(m.startswith("waiting -> failed: waiting for the mysql server") for m in messages)

    # Once the broken server is gone, the reconciler deploys a real one and the app runs.
    remove_stack(plane.docker, name=server.stack, instance=plane.instance)
    plane.wait_status("shop", {"running"}, timeout=300)
    database = plane.app("shop")["addons"][0]["database"]
    assert database in server_databases(plane)


def server_databases(plane: ControlPlane) -> set[str]:
    return set(root_query(plane, "SELECT schema_name FROM information_schema.schemata"))


def root_query(plane: ControlPlane, sql: str) -> list[str]:
    """Rows of ``sql`` run as root in the space's MariaDB server (through the engine)."""
    server = space_server(instance=plane.instance, space="default", kind="mysql")
    result = exec_in_service(
        plane.docker,
        service=server.service,
        argv=[
            "sh",
            "-c",
            'MYSQL_PWD="$(cat /run/secrets/root_password)" exec mariadb --user=root -N -B',
        ],
        stdin=sql.encode() + b";\n",
    )
    assert result.exit_code == 0, result.errors
    return result.output.decode().split()


def used_database(plane: ControlPlane, name: str) -> str:
    """The database the app's own container reaches with its credentials."""
    label: dict[str, str | list[str] | bool] = {
        "label": f"com.docker.stack.namespace={plane.instance}-default-{name}"
    }
    container = plane.docker.containers.list(filters=label)[0]
    probe = container.exec_run(
        [
            "php",
            "-r",
            '$db = new PDO("mysql:host=" . getenv("MYSQL_HOST") . ";dbname=" . '
            'getenv("MYSQL_DATABASE"), getenv("MYSQL_USER"), '
            'trim(file_get_contents(getenv("MYSQL_PASSWORD_FILE")))); '
            'echo $db->query("SELECT DATABASE()")->fetchColumn();',
        ]
    )
    assert probe.exit_code == 0, probe.output
    return str(cast(bytes, probe.output).decode().strip())


def test_kill_9_while_apps_get_their_databases(control_plane: ControlPlane) -> None:
    plane = control_plane
    rng = random.Random(6)
    kills = 0

    def crash() -> None:
        nonlocal kills
        plane.kill()
        kills += 1
        plane.start()

    # Killed while alpha waits for its server, then again and again while the server
    # comes up and alpha's database is provisioned.
    install(plane, "alpha", "php-mysql.yaml")
    plane.wait_status("alpha", {"waiting"}, timeout=60)
    crash()
    while plane.app("alpha")["status"] != "running" and kills < 12:
        time.sleep(rng.uniform(0.5, 3.0))
        crash()
    # The server is up: killed a moment after each install, as its database is created.
    for name, delay in (("beta", 0.1), ("gamma", 0.5), ("delta", 1.0)):
        install(plane, name, "php-mysql.yaml")
        time.sleep(delay)
        crash()
    plane.wait_status("gamma", {"running"}, timeout=240)
    removed = plane.api.delete("/spaces/default/apps/gamma", params={"purge": "true"})
    assert removed.status_code == 202
    time.sleep(0.3)
    crash()
    assert kills >= 6

    apps = ("alpha", "beta", "delta")
    for name in apps:
        plane.wait_status(name, {"running"}, timeout=240)
    wait_until(
        lambda: plane.api.get("/spaces/default/apps/gamma").status_code == 404,
        timeout=120,
        what="gamma removed",
    )

    # Exactly one database and one user per app on the real server: none orphaned
    # (gamma's purged), none missing, and each app's container uses its own.
    expected = {}
    for name in apps:
        [addon] = plane.app(name)["addons"]
        assert addon["kind"] == "mysql"
        assert addon["database"] == addon["user"]
        expected[name] = addon["database"]
    prefix = f"{plane.instance}_default_"
    assert all(database.startswith(prefix) for database in expected.values())
    databases = {d for d in server_databases(plane) if d.startswith(prefix)}
    assert databases == set(expected.values())
    users = root_query(plane, f"SELECT user FROM mysql.user WHERE user LIKE '{prefix}%'")
    assert sorted(users) == sorted(expected.values())
    for name, database in expected.items():
        assert used_database(plane, name) == database
