"""Apps with addons on the real servers: their own database, reached through the
router, isolated from each other, dropped with --purge and kept without."""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import pytest

from cloudos.addons import server_status, space_server
from tests.e2e.conftest import ControlPlane
from tests.e2e.test_app_router import text, via_router
from tests.helpers import wait_until

pytestmark = [pytest.mark.docker, pytest.mark.slow]

APPS = Path(__file__).parent / "apps"


def install(plane: ControlPlane, name: str, template: str) -> None:
    response = plane.api.post(
        "/spaces/default/apps",
        json={
            "name": name,
            "template_text": (APPS / template).read_text(),
            "template_source": template,
        },
    )
    assert response.status_code == 201, response.text


def hits(plane: ControlPlane, name: str) -> str | None:
    return text(via_router(plane, f"{name}.default.localhost"))


def test_php_apps_get_their_own_databases(routed_plane: ControlPlane) -> None:
    plane = routed_plane
    install(plane, "shop", "php-mysql.yaml")
    install(plane, "blog", "php-mysql.yaml")
    events = []
    for name in ("shop", "blog"):
        plane.wait_status(name, {"running"}, timeout=240)
        events += [
            e["message"] for e in plane.api.get(f"/spaces/default/apps/{name}/events").json()
        ]
    assert any("waiting for the mysql server" in message for message in events)

    # A page that writes a row and reads the count back, through the router.
    wait_until(
        lambda: (hits(plane, "shop") or "").startswith("hits="), timeout=120, what="shop page"
    )
    first = hits(plane, "shop")
    assert first is not None
    second = hits(plane, "shop")
    assert second is not None
    assert int(second.split()[0].split("=")[1]) == int(first.split()[0].split("=")[1]) + 1
    shop_db = first.split("db=")[1]
    blog = hits(plane, "blog")
    assert blog is not None
    assert blog.startswith("hits=1 ")
    assert blog.split("db=")[1] != shop_db

    # From inside blog's container, blog's credentials do not open shop's database.
    label: dict[str, str | list[str] | bool] = {
        "label": f"com.docker.stack.namespace={plane.instance}-default-blog"
    }
    container = plane.docker.containers.list(filters=label)[0]
    probe = container.exec_run(
        [
            "php",
            "-r",
            f'new PDO("mysql:host=" . getenv("MYSQL_HOST") . ";dbname={shop_db}", '
            'getenv("MYSQL_USER"), trim(file_get_contents(getenv("MYSQL_PASSWORD_FILE")))); '
            'echo "connected";',
        ]
    )
    assert probe.exit_code != 0
    assert b"denied" in probe.output
    assert b"connected" not in probe.output

    # Rotation: a new password, set on the server, and the app restarted with it.
    before = int(second.split()[0].split("=")[1])
    rotated = plane.api.post("/spaces/default/apps/shop/addons/mysql/rotate")
    assert rotated.status_code == 200, rotated.text
    plane.wait_status("shop", {"running"}, revision=2, timeout=180)
    wait_until(
        lambda: (
            (page := hits(plane, "shop")) is not None
            and int(page.split()[0].split("=")[1]) > before
        ),
        timeout=120,
        what="shop working with its new password",
    )
    revision = plane.api.get("/spaces/default/apps/shop/revisions/2").json()
    assert revision["note"] == "rotated mysql credentials"
    assert plane.api.post("/spaces/default/apps/shop/addons/redis/rotate").status_code == 404

    # PostgreSQL and Redis the same way.
    install(plane, "notes", "php-postgres.yaml")
    install(plane, "counter", "php-redis.yaml")
    for name in ("notes", "counter"):
        plane.wait_status(name, {"running"}, timeout=240)
    wait_until(lambda: hits(plane, "notes") == "hits=1", timeout=120, what="notes page")
    assert hits(plane, "notes") == "hits=2"
    wait_until(lambda: hits(plane, "counter") is not None, timeout=120, what="counter page")
    assert hits(plane, "counter") == "hits=2"

    # The servers are visible with their health and size.
    listed = {(s["kind"], s["dedicated_to"]): s for s in plane.api.get("/addons").json()}
    mysql = listed[("mysql", None)]
    assert mysql["healthy"]
    assert mysql["apps"] == 2
    assert mysql["size_bytes"] > 0
    assert listed[("postgresql", None)]["healthy"]

    # Remove with --purge drops the database and user; without, they stay.
    server = space_server(instance=plane.instance, space="default", kind="mysql")
    blog_db = blog.split("db=")[1]
    assert {shop_db, blog_db} <= set(server_status(plane.docker, server).databases)
    assert (
        plane.api.delete("/spaces/default/apps/shop", params={"purge": "true"}).status_code == 202
    )
    assert plane.api.delete("/spaces/default/apps/blog").status_code == 202
    for name in ("shop", "blog"):

        def removed(n: str = name) -> bool:
            return plane.api.get(f"/spaces/default/apps/{n}").status_code == 404

        wait_until(removed, timeout=120, what=f"{name} removed")
    databases = set(server_status(plane.docker, server).databases)
    assert shop_db not in databases
    assert blog_db in databases


def test_a_dedicated_server_asked_at_install_and_a_dump_restored_through_the_cli(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    plane = control_plane

    cloudos = plane.cli

    template = str(APPS / "php-postgres.yaml")
    installed = cloudos("app", "install", template, "--name", "notes", "--dedicated",
                        "postgresql", "--wait", "--timeout", "300", "--json")  # fmt: skip
    assert installed.returncode == 0, installed.stderr.decode()
    [addon] = json.loads(installed.stdout)["addons"]
    assert addon["dedicated"] is True
    assert addon["server"].endswith("-notes--postgresql-app")
    listed = json.loads(cloudos("addon", "ls", "--json").stdout)
    assert [(s["stack"], s["dedicated_to"], s["apps"], s["healthy"]) for s in listed] == [
        (addon["server"], "notes", 1, True)
    ]
    # On the swarm: the app talks to its own server; the space has none of that kind.
    label: dict[str, str | list[str] | bool] = {
        "label": f"com.docker.stack.namespace={plane.instance}-default-notes"
    }
    container = plane.docker.containers.list(filters=label)[0]
    env = dict(item.split("=", 1) for item in container.attrs["Config"]["Env"])
    assert env["POSTGRES_HOST"] == f"{addon['server']}_server"
    shared = space_server(instance=plane.instance, space="default", kind="postgresql")
    assert not plane.docker.services.list(filters={"name": shared.service})

    def sql(statement: str) -> list[str]:
        """Rows of ``statement`` run by the app itself, with its own credentials."""
        run = container.exec_run(
            ["php", "-r", 'foreach ((new PDO("pgsql:host=" . getenv("POSTGRES_HOST") . '
             '";dbname=" . getenv("POSTGRES_DB"), getenv("POSTGRES_USER"), '
             'getenv("POSTGRES_PASSWORD")))->query(getenv("SQL")) as $row) echo $row[0], "\\n";'],
            environment={"SQL": statement},
        )  # fmt: skip
        assert run.exit_code == 0, run.output
        return cast(bytes, run.output).decode().split()

    sql("CREATE TABLE notes (body text)")
    sql("INSERT INTO notes VALUES ('first')")
    dump_file = tmp_path / "notes.sql"
    dumped = cloudos("addon", "dump", "notes", "--kind", "postgresql", "-o", str(dump_file))
    assert dumped.returncode == 0, dumped.stderr.decode()
    data = dump_file.read_bytes()
    assert b"CREATE TABLE public.notes" in data
    assert b"first" in data

    sql("DELETE FROM notes")
    sql("INSERT INTO notes VALUES ('second')")
    restored = cloudos("addon", "restore", "notes", "--kind", "postgresql", stdin=data)
    assert restored.returncode == 0, restored.stderr.decode()
    assert restored.stdout.decode() == (
        f"restored {len(data)} bytes into postgresql database {addon['database']} of notes\n"
    )
    assert sql("SELECT body FROM notes") == ["first"]
    # Restored as the app's own role: the app still owns (and can change) its tables.
    assert sql("SELECT tableowner FROM pg_tables WHERE tablename = 'notes'") == [addon["user"]]

    # Bad input: one line, non-zero, nothing changed.
    garbage = cloudos("addon", "restore", "notes", "--kind", "postgresql", stdin=b"DROP nonsense;")
    assert garbage.returncode == 1
    assert b"Traceback" not in garbage.stderr
    assert b"is it a postgresql dump made by `cloudos addon dump`?" in garbage.stderr
    assert sql("SELECT body FROM notes") == ["first"]
    missing = cloudos("addon", "dump", "notes", "--kind", "mysql", "-o", str(tmp_path / "x"))
    assert missing.returncode == 1
    assert b"app 'notes' has no 'mysql' addon (its addons: postgresql)" in missing.stderr
    assert not (tmp_path / "x").exists()


def test_a_files_mode_app_connects_with_no_password_in_what_docker_inspect_shows(
    control_plane: ControlPlane,
) -> None:
    """php-mysql.yaml says nothing of `credentials`: files, the default."""
    plane = control_plane
    install(plane, "guest", "php-mysql.yaml")
    plane.wait_status("guest", {"running"}, timeout=240)
    stack = f"{plane.instance}-default-guest"
    container = plane.docker.containers.list(
        filters={"label": f"com.docker.stack.namespace={stack}"}
    )[0]
    secret = container.exec_run(["cat", "/run/secrets/MYSQL_PASSWORD"])
    assert secret.exit_code == 0, secret.output
    password = cast(bytes, secret.output).decode()
    assert len(password) == 32

    # The app itself (its page, run in its container) reaches its database.
    page = container.exec_run(["php", "/srv/www/index.php"])
    assert page.exit_code == 0, page.output
    assert cast(bytes, page.output).decode().startswith("hits=1 db=")

    service = plane.docker.services.get(f"{stack}_web")  # type: ignore[no-untyped-call]
    env = service.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"]
    assert "MYSQL_PASSWORD_FILE=/run/secrets/MYSQL_PASSWORD" in env
    assert "MYSQL_URL_FILE=/run/secrets/MYSQL_URL" in env
    assert not [item for item in env if item.startswith(("MYSQL_PASSWORD=", "MYSQL_URL="))]
    # Nowhere in `docker inspect` of the service or its container, nor in the revision.
    assert password not in json.dumps(service.attrs)
    assert password not in json.dumps(container.attrs)
    revision = plane.api.get("/spaces/default/apps/guest/revisions/1").json()
    assert password not in revision["stack_yaml"]
