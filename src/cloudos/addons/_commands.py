"""The commands that provision, inspect, dump and restore, per kind of server (pure).

Each builder returns a :class:`Command` run inside the server's container with its
own client. Statements carrying passwords go in on stdin, never on the command line;
the root password is read inside the container from the server's Docker secret.

Identifiers and passwords are checked against strict patterns before any statement
is built (see ``_names``), and are quoted as well: a name that slipped past one
guard still cannot break out of the other.

Isolation, per kind:

- MariaDB: one database and one user ``'<name>'@'%'`` per app, granted all on its
  own database only (``_`` escaped, as it is a wildcard in grants).
- PostgreSQL: one login role owning one database; ``CONNECT`` and ``TEMPORARY`` are
  revoked from ``PUBLIC``, so no other role can even connect to it.
- Redis: one ACL user per app. On a shared server it may only touch keys and
  channels under ``<name>:``, and may not run dangerous commands or enumerate keys
  (``SCAN``, ``KEYS``, ``RANDOMKEY`` would reveal other apps' key names, such as
  session ids). On a dedicated server it may touch every key but not administer
  the server. Users are saved to an ACL file on the data volume, so they survive a
  restart.
"""

from __future__ import annotations

from dataclasses import dataclass

from cloudos.addons._model import ROOT_SECRET_PATH, TRAITS, AddonNames, AddonServer
from cloudos.addons._names import check_identifier, check_password

ACL_FILE = "/data/users.acl"
SYSTEM_SCHEMAS = ("information_schema", "mysql", "performance_schema", "sys")

_MARIADB = (
    "sh",
    "-c",
    f'MYSQL_PWD="$(cat {ROOT_SECRET_PATH})"; export MYSQL_PWD; exec "$@"',
    "sh",
)
_REDIS = (
    "sh",
    "-c",
    f'REDISCLI_AUTH="$(cat {ROOT_SECRET_PATH})"; export REDISCLI_AUTH; exec "$@"',
    "sh",
    "redis-cli",
    "-h",
    "127.0.0.1",
    "-p",
    "6379",
)
_PSQL = ("psql", "--no-psqlrc", "--host=/run/postgresql", "--username=postgres")

# One batch of a Redis dump: the next SCAN cursor, a newline, then RESTORE commands in
# Redis's wire protocol (binary safe), ready for ``redis-cli --pipe``.
REDIS_DUMP_SCRIPT = """\
local res = redis.call('SCAN', ARGV[1], 'MATCH', ARGV[2], 'COUNT', 1000)
local out = {res[1], '\\n'}
for _, key in ipairs(res[2]) do
  local payload = redis.call('DUMP', key)
  if payload then
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then ttl = 0 end
    ttl = tostring(ttl)
    out[#out + 1] = '*5\\r\\n$7\\r\\nRESTORE\\r\\n$' .. #key .. '\\r\\n' .. key .. '\\r\\n$'
      .. #ttl .. '\\r\\n' .. ttl .. '\\r\\n$' .. #payload .. '\\r\\n' .. payload
      .. '\\r\\n$7\\r\\nREPLACE\\r\\n'
  end
end
return table.concat(out)
"""

REDIS_DELETE_SCRIPT = """\
local cursor = '0'
local deleted = 0
repeat
  local res = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000)
  cursor = res[1]
  for _, key in ipairs(res[2]) do
    redis.call('UNLINK', key)
    deleted = deleted + 1
  end
until cursor == '0'
return deleted
"""


@dataclass(frozen=True)
class Command:
    """A command to run in the server's container, with what goes to its stdin."""

    argv: tuple[str, ...]
    stdin: bytes | None = None


def mysql_identifier(name: str) -> str:
    """A MariaDB identifier in backquotes."""
    return "`" + check_identifier(name).replace("`", "``") + "`"


def mysql_grant_database(name: str) -> str:
    """A database name in a GRANT, where ``_`` and ``%`` are wildcards: escaped."""
    escaped = check_identifier(name).replace("_", "\\_").replace("%", "\\%")
    return "`" + escaped + "`"


def sql_string(value: str) -> str:
    """A SQL string literal (quotes doubled; MariaDB also needs backslashes doubled)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def pg_identifier(name: str) -> str:
    """A PostgreSQL identifier in double quotes."""
    return '"' + check_identifier(name).replace('"', '""') + '"'


def pg_string(value: str) -> str:
    """A PostgreSQL string literal (standard_conforming_strings: only quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def redis_argument(value: str) -> str:
    """A redis-cli argument in double quotes (its own escaping rules, one line)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n").replace("\r", "\\r") + '"'


def key_prefix(server: AddonServer, names: AddonNames) -> str:
    """The Redis key prefix of an app: ``<name>:`` on a shared server, none otherwise."""
    return f"{check_identifier(names.database)}:" if server.shared else ""


# -- provisioning --------------------------------------------------------------------


def provision_command(server: AddonServer, names: AddonNames, password: str) -> Command:
    """Create the app's database and user, or set the password if they exist."""
    check_password(password)
    if server.kind == "mysql":
        user = f"{sql_string(check_identifier(names.user))}@'%'"
        sql = (
            f"CREATE DATABASE IF NOT EXISTS {mysql_identifier(names.database)} "
            "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;\n"
            f"CREATE USER IF NOT EXISTS {user} IDENTIFIED BY {sql_string(password)};\n"
            f"ALTER USER {user} IDENTIFIED BY {sql_string(password)};\n"
            f"GRANT ALL PRIVILEGES ON {mysql_grant_database(names.database)}.* TO {user};\n"
        )
        return Command((*_MARIADB, "mariadb", "--user=root", "--batch"), sql.encode())
    if server.kind == "postgresql":
        role, database = pg_identifier(names.user), pg_identifier(names.database)
        sql = (
            "SELECT format('CREATE ROLE %I LOGIN', "
            f"{pg_string(names.user)}) WHERE NOT EXISTS "
            f"(SELECT FROM pg_roles WHERE rolname = {pg_string(names.user)})\\gexec\n"
            f"ALTER ROLE {role} WITH LOGIN PASSWORD {pg_string(password)};\n"
            f"SELECT format('CREATE DATABASE %I OWNER %I', {pg_string(names.database)}, "
            f"{pg_string(names.user)}) WHERE NOT EXISTS "
            f"(SELECT FROM pg_database WHERE datname = {pg_string(names.database)})\\gexec\n"
            f"ALTER DATABASE {database} OWNER TO {role};\n"
            f"REVOKE CONNECT, TEMPORARY ON DATABASE {database} FROM PUBLIC;\n"
            f"GRANT CONNECT, TEMPORARY ON DATABASE {database} TO {role};\n"
        )
        return Command((*_PSQL, "--set=ON_ERROR_STOP=1", "--quiet"), sql.encode())
    prefix = key_prefix(server, names)
    if server.shared:
        rights = f"~{prefix}* &{prefix}* +@all -@dangerous -scan -randomkey -pubsub"
    else:
        rights = "~* &* +@all -@admin"
    commands = (
        f"ACL SETUSER {redis_argument(check_identifier(names.user))} reset on "
        f"{redis_argument('>' + password)} {rights}\n"
        "ACL SAVE\n"
    )
    return Command((*_REDIS, "--no-raw"), commands.encode())


def deprovision_command(server: AddonServer, names: AddonNames) -> Command:
    """Drop the app's database (Redis: its keys) and user; nothing left is no error."""
    if server.kind == "mysql":
        user = f"{sql_string(check_identifier(names.user))}@'%'"
        sql = (
            f"DROP DATABASE IF EXISTS {mysql_identifier(names.database)};\n"
            f"DROP USER IF EXISTS {user};\n"
        )
        return Command((*_MARIADB, "mariadb", "--user=root", "--batch"), sql.encode())
    if server.kind == "postgresql":
        sql = (
            f"DROP DATABASE IF EXISTS {pg_identifier(names.database)} WITH (FORCE);\n"
            f"DROP ROLE IF EXISTS {pg_identifier(names.user)};\n"
        )
        return Command((*_PSQL, "--set=ON_ERROR_STOP=1", "--quiet"), sql.encode())
    commands = (
        f"ACL DELUSER {redis_argument(check_identifier(names.user))}\n"
        "ACL SAVE\n"
        f"EVAL {redis_argument(REDIS_DELETE_SCRIPT)} 0 "
        f"{redis_argument(key_prefix(server, names) + '*')}\n"
    )
    return Command((*_REDIS, "--no-raw"), commands.encode())


# -- inspection ----------------------------------------------------------------------


def list_databases_command(server: AddonServer) -> Command:
    """List the apps' databases (Redis: the apps' users), one a line."""
    if server.kind == "mysql":
        excluded = ", ".join(sql_string(name) for name in SYSTEM_SCHEMAS)
        sql = (
            "SELECT schema_name FROM information_schema.schemata "
            f"WHERE schema_name NOT IN ({excluded}) ORDER BY schema_name;\n"
        )
        return Command(
            (*_MARIADB, "mariadb", "--user=root", "--batch", "--skip-column-names"), sql.encode()
        )
    if server.kind == "postgresql":
        sql = (
            "SELECT datname FROM pg_database WHERE NOT datistemplate "
            "AND datname <> 'postgres' ORDER BY datname;\n"
        )
        return Command((*_PSQL, "--tuples-only", "--no-align"), sql.encode())
    return Command((*_REDIS, "--raw", "ACL", "USERS"))


def parse_databases(output: bytes) -> tuple[str, ...]:
    """The names listed by :func:`list_databases_command` (Redis's default user left out)."""
    names = [line.strip() for line in output.decode(errors="replace").splitlines()]
    return tuple(sorted(name for name in names if name and name != "default"))


def size_command(server: AddonServer) -> Command:
    """Bytes used by the data folder."""
    return Command(("du", "-s", "-B1", TRAITS[server.kind].data_dir))


def parse_size(output: bytes) -> int | None:
    """The byte count printed by :func:`size_command`."""
    first = output.decode(errors="replace").split()
    return int(first[0]) if first and first[0].isdigit() else None


# -- dump and restore ----------------------------------------------------------------


def dump_command(server: AddonServer, names: AddonNames) -> Command:
    """Write the app's database to stdout (MariaDB and PostgreSQL: plain SQL)."""
    if server.kind == "mysql":
        return Command(
            (
                *_MARIADB,
                "mariadb-dump",
                "--user=root",
                "--single-transaction",
                "--routines",
                "--triggers",
                "--events",
                "--hex-blob",
                "--default-character-set=utf8mb4",
                check_identifier(names.database),
            )
        )
    if server.kind == "postgresql":
        return Command(
            (
                "pg_dump",
                "--host=/run/postgresql",
                "--username=postgres",
                "--no-owner",
                "--no-privileges",
                "--clean",
                "--if-exists",
                f"--dbname={check_identifier(names.database)}",
            )
        )
    raise ValueError("a Redis dump is a series of batches: use redis_dump_batch_command")


def redis_dump_batch_command(server: AddonServer, names: AddonNames, cursor: str) -> Command:
    """One batch of the app's keys as RESTORE commands, after the next cursor and a newline."""
    if not cursor.isdigit():
        raise ValueError(f"not a SCAN cursor: {cursor!r}")
    pattern = key_prefix(server, names) + "*"
    return Command((*_REDIS, "--raw", "EVAL", REDIS_DUMP_SCRIPT, "0", cursor, pattern))


def parse_redis_dump_batch(output: bytes) -> tuple[str, bytes]:
    """The next cursor and the RESTORE commands of one batch."""
    cursor, _, commands = output.partition(b"\n")
    if not cursor.strip().isdigit():
        raise ValueError(f"unexpected output from the dump script: {output[:80]!r}")
    return cursor.strip().decode(), commands[:-1] if commands.endswith(b"\n") else commands


def restore_command(server: AddonServer, names: AddonNames) -> Command:
    """Read a dump on stdin into the app's database; ``stdin`` is a preamble to send first."""
    check_identifier(names.database)
    if server.kind == "mysql":
        return Command(
            (
                *_MARIADB,
                "mariadb",
                "--user=root",
                "--default-character-set=utf8mb4",
                check_identifier(names.database),
            )
        )
    if server.kind == "postgresql":
        # Objects come back owned by the app's role, as it created them itself.
        return Command(
            (
                *_PSQL,
                "--set=ON_ERROR_STOP=1",
                "--quiet",
                "--single-transaction",
                f"--dbname={check_identifier(names.database)}",
            ),
            f"SET ROLE {pg_identifier(names.user)};\n".encode(),
        )
    return Command((*_REDIS, "--pipe"))


__all__ = [
    "ACL_FILE",
    "Command",
    "deprovision_command",
    "dump_command",
    "key_prefix",
    "list_databases_command",
    "mysql_grant_database",
    "mysql_identifier",
    "parse_databases",
    "parse_redis_dump_batch",
    "parse_size",
    "pg_identifier",
    "provision_command",
    "redis_argument",
    "redis_dump_batch_command",
    "restore_command",
    "size_command",
]
