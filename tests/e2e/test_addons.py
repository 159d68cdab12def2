"""Addons on the real swarm with the real MariaDB, PostgreSQL and Redis servers.

One server of each kind (and a dedicated Redis) per module, deployed in parallel.
Apps are played by one-off client containers on the addon network, running the
server image's own client with an app's credentials, as an app's container would.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import docker
import pytest

from cloudos import addons
from cloudos.addons import AddonNames, AddonServer, Credentials, ServerKind
from cloudos.engine import exec_in_service, force_update
from cloudos.engine.images import build_images, image_ref
from cloudos.errors import EnvironmentProblem
from tests.helpers import wait_until

pytestmark = [pytest.mark.docker, pytest.mark.slow]

INSTANCE = f"e2eaddons{uuid.uuid4().hex[:6]}"
IMAGES = {"mysql": "mariadb", "postgresql": "postgresql", "redis": "redis"}
CLIENT_LABEL = "io.cloudos.test-client"  # not the instance label: that the servers carry


@dataclass(frozen=True)
class Setup:
    """The servers of this module and the engine client."""

    client: docker.DockerClient
    servers: dict[str, AddonServer]  # "mysql", "postgresql", "redis", "redis-app"


@pytest.fixture(scope="module")
def setup(docker_client: docker.DockerClient) -> Iterator[Setup]:
    """Every kind of server, deployed, healthy, and removed with its data afterwards."""
    build_images(docker_client, names=sorted(set(IMAGES.values())))
    servers: dict[str, AddonServer] = {
        kind: addons.space_server(instance=INSTANCE, space="default", kind=kind)
        for kind in addons.SERVER_KINDS
    }
    servers["redis-app"] = addons.app_server(
        instance=INSTANCE, app_id=7, app_name="cache", kind="redis"
    )
    try:
        for server in servers.values():
            addons.deploy_server(
                docker_client,
                server,
                root_password=addons.generate_password(),
                instance=INSTANCE,
                endpoint_mode="dnsrr",
            )
        for server in servers.values():

            def healthy(server: AddonServer = server) -> bool:
                return addons.server_status(docker_client, server).healthy

            wait_until(healthy, timeout=120, what=f"{server.stack} healthy")
        yield Setup(docker_client, servers)
    finally:
        for container in docker_client.containers.list(
            all=True, filters={"label": f"{CLIENT_LABEL}={INSTANCE}"}
        ):
            container.remove(force=True, v=True)
        with ThreadPoolExecutor(len(servers)) as pool:
            list(
                pool.map(
                    lambda server: addons.remove_server(
                        docker_client, server, instance=INSTANCE, purge=True
                    ),
                    servers.values(),
                )
            )


@dataclass(frozen=True)
class App:
    """An app's view of its addon: its names and credentials."""

    names: AddonNames
    credentials: Credentials


def install(setup: Setup, key: str, owner: str) -> App:
    """Provision a database for ``owner`` on server ``key``."""
    server = setup.servers[key]
    names = addons.addon_names(f"{INSTANCE}-default-{owner}", server.kind)
    password = addons.generate_password()
    addons.provision(setup.client, server, names, password=password)
    return App(names, addons.credentials_for(server, names, password))


def as_app(setup: Setup, key: str, credentials: Credentials, script: str) -> tuple[int, str]:
    """Run ``script`` with the server's client as an app with ``credentials`` would."""
    server = setup.servers[key]
    env = addons.credentials_env(credentials)
    if server.kind == "mysql":
        command = (
            'MYSQL_PWD="$MYSQL_PASSWORD" mariadb --batch --skip-column-names -h "$MYSQL_HOST" '
            f'-P "$MYSQL_PORT" -u "$MYSQL_USER" "$MYSQL_DATABASE" -e "{script}"'
        )
    elif server.kind == "postgresql":
        command = f'psql "$DATABASE_URL" --no-psqlrc -tA -v ON_ERROR_STOP=1 -c "{script}"'
    else:
        command = f'redis-cli -u "$REDIS_URL" --no-auth-warning {script}'
    container = setup.client.containers.run(
        image_ref(IMAGES[server.kind]),
        entrypoint=["/bin/sh", "-c", command],
        environment=env,
        network=server.network,
        labels={CLIENT_LABEL: INSTANCE},
        detach=True,
    )
    try:
        code = int(container.wait(timeout=60)["StatusCode"])
        return code, container.logs().decode().strip()
    finally:
        container.remove(force=True, v=True)  # v: the image's anonymous data volume


def works(setup: Setup, key: str, credentials: Credentials, script: str) -> str:
    """Output of ``script``, which must succeed (Redis reports failures on stdout)."""
    code, output = as_app(setup, key, credentials, script)
    assert code == 0, output
    for failure in ("ERR", "NOPERM", "WRONGPASS"):
        assert failure not in output, output
    return output


WRITE = {
    "mysql": "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('hello A');",
    "postgresql": "CREATE TABLE notes (body text); INSERT INTO notes VALUES ('hello A');",
    "redis": "SET {prefix}note 'hello A'",
}
READ = {
    "mysql": "SELECT body FROM notes;",
    "postgresql": "SELECT body FROM notes;",
    "redis": "GET {prefix}note",
}
KEYS = ["mysql", "postgresql", "redis", "redis-app"]


def statement(kind: ServerKind, table: dict[str, str], app: App) -> str:
    return table[kind].format(prefix=app.credentials.key_prefix)


@pytest.mark.parametrize("key", KEYS)
def test_an_app_writes_and_reads_its_database(setup: Setup, key: str) -> None:
    kind = setup.servers[key].kind
    a = install(setup, key, f"write-{key}")
    works(setup, key, a.credentials, statement(kind, WRITE, a))
    assert works(setup, key, a.credentials, statement(kind, READ, a)) == "hello A"
    status = addons.server_status(setup.client, setup.servers[key])
    assert status.running
    assert status.healthy
    assert a.names.database in status.databases
    assert status.size_bytes is not None
    assert status.size_bytes > 0


@pytest.mark.parametrize("key", ["mysql", "postgresql", "redis"])
def test_another_app_cannot_read_it(setup: Setup, key: str) -> None:
    kind = setup.servers[key].kind
    a = install(setup, key, f"owner-{key}")
    b = install(setup, key, f"other-{key}")
    works(setup, key, a.credentials, statement(kind, WRITE, a))
    # B with its own credentials, aimed at A's database (Redis: A's key).
    if kind == "redis":
        code, output = as_app(setup, key, b.credentials, statement(kind, READ, a))
        assert "NOPERM" in output
        assert "hello A" not in output
        # Nor can B list keys to learn A's key names, or wipe the server.
        for script in ("SCAN 0", "KEYS '*'", "RANDOMKEY", "FLUSHALL"):
            code, output = as_app(setup, key, b.credentials, script)
            assert "NOPERM" in output, (script, output)
    else:
        code, output = as_app(
            setup, key, replace(b.credentials, database=a.names.database), statement(kind, READ, a)
        )
        assert code != 0
        assert "hello A" not in output
        assert ("denied" in output) if kind == "mysql" else ("permission denied" in output)
    # A's user with B's password does not get in either.
    wrong = replace(a.credentials, password=b.credentials.password)
    code, output = as_app(setup, key, wrong, "PING" if kind == "redis" else "SELECT 1;")
    assert "hello A" not in output
    assert code != 0 or "WRONGPASS" in output or "NOAUTH" in output, output


@pytest.mark.parametrize("key", KEYS)
def test_rotation_replaces_the_password(setup: Setup, key: str) -> None:
    kind = setup.servers[key].kind
    a = install(setup, key, f"rotate-{key}")
    works(setup, key, a.credentials, statement(kind, WRITE, a))
    new_password = addons.generate_password()
    addons.provision(setup.client, setup.servers[key], a.names, password=new_password)
    new = replace(a.credentials, password=new_password)
    assert works(setup, key, new, statement(kind, READ, a)) == "hello A"
    code, output = as_app(setup, key, a.credentials, statement(kind, READ, a))
    assert "hello A" not in output
    assert code != 0 or "WRONGPASS" in output, output


@pytest.mark.parametrize("key", KEYS)
def test_deprovision_drops_the_database_and_the_user(setup: Setup, key: str) -> None:
    server = setup.servers[key]
    a = install(setup, key, f"drop-{key}")
    works(setup, key, a.credentials, statement(server.kind, WRITE, a))
    addons.deprovision(setup.client, server, a.names)
    addons.deprovision(setup.client, server, a.names)  # again: nothing left is no error
    assert a.names.database not in addons.server_status(setup.client, server).databases
    code, output = as_app(setup, key, a.credentials, statement(server.kind, READ, a))
    assert "hello A" not in output
    assert code != 0 or "WRONGPASS" in output, output
    # Provisioned again, the app starts empty: its data went with it.
    addons.provision(setup.client, server, a.names, password=a.credentials.password)
    code, output = as_app(setup, key, a.credentials, statement(server.kind, READ, a))
    assert "hello A" not in output


BIG_WRITE = {
    "mysql": (
        "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('hello A'); "
        "CREATE TABLE bulk (n INT, pad TEXT); "
        "INSERT INTO bulk SELECT seq, REPEAT('x', 1000) FROM seq_1_to_3000;"
    ),
    "postgresql": (
        "CREATE TABLE notes (body text); INSERT INTO notes VALUES ('hello A'); "
        "CREATE TABLE bulk AS SELECT n, repeat('x', 1000) AS pad "
        "FROM generate_series(1, 3000) AS n;"
    ),
}
DAMAGE = {
    "mysql": "DELETE FROM notes; DROP TABLE bulk;",
    "postgresql": "DELETE FROM notes; DROP TABLE bulk;",
    "redis": "DEL {prefix}note",
}
COUNT = {"mysql": "SELECT COUNT(*) FROM bulk;", "postgresql": "SELECT count(*) FROM bulk;"}


@pytest.mark.parametrize("key", KEYS)
def test_dump_and_restore_round_trip(setup: Setup, key: str) -> None:
    server = setup.servers[key]
    kind = server.kind
    a = install(setup, key, f"dump-{key}")
    works(setup, key, a.credentials, BIG_WRITE.get(kind) or statement(kind, WRITE, a))
    chunks = list(addons.dump(setup.client, server, a.names))
    size = sum(len(chunk) for chunk in chunks)
    if kind != "redis":
        assert size > 3_000_000  # several MB, streamed in many frames
        assert len(chunks) > 1
    works(setup, key, a.credentials, statement(kind, DAMAGE, a))
    assert "hello A" not in works(setup, key, a.credentials, statement(kind, READ, a))

    addons.restore(setup.client, server, a.names, iter(chunks))

    assert works(setup, key, a.credentials, statement(kind, READ, a)) == "hello A"
    if kind in COUNT:
        assert works(setup, key, a.credentials, COUNT[kind]) == "3000"
        # Restored objects belong to the app: it can still change them.
        works(setup, key, a.credentials, "DROP TABLE bulk;")


def test_redis_users_survive_a_restart(setup: Setup) -> None:
    server = setup.servers["redis"]
    a = install(setup, "redis", "restart")
    works(setup, "redis", a.credentials, statement("redis", WRITE, a))
    force_update(setup.client, service=server.service)
    wait_until(
        lambda: (
            addons.server_status(setup.client, server).healthy
            and a.names.user in addons.server_status(setup.client, server).databases
        ),
        timeout=120,
        what="redis back with its users",
    )
    # The new task's name settles in the swarm's DNS a moment after it is healthy (a
    # lookup can still fail now and then on a loaded machine), so read until it
    # answers; lost data would never read back and time out.
    read = statement("redis", READ, a)
    wait_until(
        lambda: as_app(setup, "redis", a.credentials, read) == (0, "hello A"),
        timeout=60,
        what="redis answering with the value written before the restart",
    )


def test_exec_in_a_service_without_a_task_here_says_so(setup: Setup) -> None:
    with pytest.raises(EnvironmentProblem, match="no running task"):
        exec_in_service(setup.client, service=f"{INSTANCE}-nothing_server", argv=["true"])


def test_exec_streams_stdin_and_keeps_stderr_apart(setup: Setup) -> None:
    data = b"x" * 5_000_000
    result = exec_in_service(
        setup.client,
        service=setup.servers["redis"].service,
        argv=["sh", "-c", "wc -c; echo oops >&2; exit 3"],
        stdin=[data[:1_000_000], data[1_000_000:]],
        timeout=60,
    )
    assert result.exit_code == 3
    assert result.output.strip() == b"5000000"
    assert result.errors.strip() == b"oops"
