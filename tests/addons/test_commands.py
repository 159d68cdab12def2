"""The commands run inside addon servers: right statements, quoting, no injection."""

from __future__ import annotations

import pytest

from cloudos.addons import AddonNames, AddonServer, app_server, space_server
from cloudos.addons._commands import (
    deprovision_command,
    dump_command,
    list_databases_command,
    mysql_grant_database,
    parse_databases,
    parse_redis_dump_batch,
    parse_size,
    provision_command,
    redis_argument,
    redis_dump_batch_command,
    restore_command,
    sql_string,
)
from cloudos.errors import InvalidInput

MYSQL = space_server(instance="cloudos", space="default", kind="mysql")
POSTGRES = space_server(instance="cloudos", space="default", kind="postgresql")
REDIS = space_server(instance="cloudos", space="default", kind="redis")
REDIS_APP = app_server(instance="cloudos", app_id=3, app_name="cache", kind="redis")
SERVERS = [MYSQL, POSTGRES, REDIS, REDIS_APP]
NAMES = AddonNames(
    database="cloudos_default_blog_0123456789ab", user="cloudos_default_blog_0123456789ab"
)
PASSWORD = "S3cretS3cretS3cretS3cret"


def stdin(server: AddonServer, password: str = PASSWORD) -> str:
    command = provision_command(server, NAMES, password)
    assert command.stdin is not None
    return command.stdin.decode()


def test_mariadb_provisioning_is_idempotent_and_rotates() -> None:
    sql = stdin(MYSQL)
    db = "`cloudos_default_blog_0123456789ab`"
    user = "'cloudos_default_blog_0123456789ab'@'%'"
    assert f"CREATE DATABASE IF NOT EXISTS {db}" in sql
    assert f"CREATE USER IF NOT EXISTS {user} IDENTIFIED BY '{PASSWORD}';" in sql
    assert f"ALTER USER {user} IDENTIFIED BY '{PASSWORD}';" in sql
    # '_' is a wildcard in a grant's database name: escaped, the grant is exact.
    assert "GRANT ALL PRIVILEGES ON `cloudos\\_default\\_blog\\_0123456789ab`.* TO " in sql


def test_postgresql_provisioning_keeps_other_roles_out() -> None:
    sql = stdin(POSTGRES)
    role = '"cloudos_default_blog_0123456789ab"'
    assert "CREATE ROLE %I LOGIN" in sql
    assert f"ALTER ROLE {role} WITH LOGIN PASSWORD '{PASSWORD}';" in sql
    assert "CREATE DATABASE %I OWNER %I" in sql
    assert f"REVOKE CONNECT, TEMPORARY ON DATABASE {role} FROM PUBLIC;" in sql
    argv = provision_command(POSTGRES, NAMES, PASSWORD).argv
    assert "--set=ON_ERROR_STOP=1" in argv


def test_redis_users_on_a_shared_server_are_confined_to_their_prefix() -> None:
    commands = stdin(REDIS)
    rule = commands.splitlines()[0]
    assert rule.startswith('ACL SETUSER "cloudos_default_blog_0123456789ab" reset on ')
    assert f'">{PASSWORD}"' in rule
    assert "~cloudos_default_blog_0123456789ab:* &cloudos_default_blog_0123456789ab:*" in rule
    for denied in ("-@dangerous", "-scan", "-randomkey", "-pubsub"):
        assert denied in rule
    assert commands.splitlines()[1] == "ACL SAVE"  # survives a restart


def test_redis_users_on_a_dedicated_server_have_every_key() -> None:
    rule = stdin(REDIS_APP).splitlines()[0]
    assert rule.endswith("~* &* +@all -@admin")


@pytest.mark.parametrize("server", SERVERS, ids=lambda server: server.stack)
def test_passwords_never_reach_the_command_line(server: AddonServer) -> None:
    for command in (
        provision_command(server, NAMES, PASSWORD),
        deprovision_command(server, NAMES),
        restore_command(server, NAMES),
        list_databases_command(server),
    ):
        assert not any(PASSWORD in arg for arg in command.argv)
    assert PASSWORD in stdin(server)


@pytest.mark.parametrize("server", SERVERS, ids=lambda server: server.stack)
@pytest.mark.parametrize(
    "name",
    ["x`; DROP DATABASE mysql; --", "x'; DROP ROLE postgres; --", 'x" OR 1', "x\nFLUSHALL", "X"],
)
def test_names_that_could_inject_are_refused(server: AddonServer, name: str) -> None:
    names = AddonNames(database=name, user=name)
    with pytest.raises(InvalidInput):
        provision_command(server, names, PASSWORD)
    with pytest.raises(InvalidInput):
        deprovision_command(server, names)
    with pytest.raises(InvalidInput):
        restore_command(server, names)


@pytest.mark.parametrize("server", SERVERS, ids=lambda server: server.stack)
@pytest.mark.parametrize("password", ["x' OR '1'='1xxxxxxx", "pass word pass word", "a" * 8])
def test_passwords_that_could_inject_are_refused(server: AddonServer, password: str) -> None:
    with pytest.raises(InvalidInput):
        provision_command(server, NAMES, password)


def test_quoting_would_hold_even_past_the_checks() -> None:
    assert sql_string("it's \\") == "'it''s \\\\'"
    assert redis_argument('a "b"\n\\') == '"a \\"b\\"\\n\\\\"'
    assert mysql_grant_database("a_b") == "`a\\_b`"


def test_deprovisioning_drops_database_and_user() -> None:
    mysql = deprovision_command(MYSQL, NAMES).stdin or b""
    assert b"DROP DATABASE IF EXISTS `cloudos_default_blog_0123456789ab`;" in mysql
    assert b"DROP USER IF EXISTS 'cloudos_default_blog_0123456789ab'@'%';" in mysql
    postgres = deprovision_command(POSTGRES, NAMES).stdin or b""
    assert b'DROP DATABASE IF EXISTS "cloudos_default_blog_0123456789ab" WITH (FORCE);' in postgres
    assert b'DROP ROLE IF EXISTS "cloudos_default_blog_0123456789ab";' in postgres
    redis = (deprovision_command(REDIS, NAMES).stdin or b"").decode()
    assert 'ACL DELUSER "cloudos_default_blog_0123456789ab"' in redis
    assert redis.rstrip().endswith('0 "cloudos_default_blog_0123456789ab:*"')  # its keys only


def test_dumps_read_the_app_database_only() -> None:
    assert dump_command(MYSQL, NAMES).argv[-1] == NAMES.database
    assert "--single-transaction" in dump_command(MYSQL, NAMES).argv
    assert f"--dbname={NAMES.database}" in dump_command(POSTGRES, NAMES).argv
    batch = redis_dump_batch_command(REDIS, NAMES, "0").argv
    assert batch[-2:] == ("0", f"{NAMES.database}:*")
    assert redis_dump_batch_command(REDIS_APP, NAMES, "17").argv[-2:] == ("17", "*")
    with pytest.raises(ValueError, match="cursor"):
        redis_dump_batch_command(REDIS, NAMES, "0 FLUSHALL")


def test_a_postgresql_restore_runs_as_the_app_role() -> None:
    command = restore_command(POSTGRES, NAMES)
    assert command.stdin == b'SET ROLE "cloudos_default_blog_0123456789ab";\n'
    assert "--single-transaction" in command.argv


def test_parsers() -> None:
    assert parse_databases(b"default\nb_app\na_app\n\n") == ("a_app", "b_app")
    assert parse_size(b"123456\t/var/lib/mysql\n") == 123456
    assert parse_size(b"") is None
    assert parse_redis_dump_batch(b"42\n*5\r\nRESTORE...\r\n\n") == ("42", b"*5\r\nRESTORE...\r\n")
    assert parse_redis_dump_batch(b"0\n\n") == ("0", b"")
    with pytest.raises(ValueError, match="unexpected output"):
        parse_redis_dump_batch(b"ERR no script\n")
