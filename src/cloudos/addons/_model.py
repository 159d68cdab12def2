"""What an addon server is, where it runs, and the names everything about it gets.

Stack and network names are chosen so that no app can ever take them: an app's
stack is ``<instance>-<space>-<app>`` with space and app names that start with a
letter, so anything starting ``<instance>--`` is out of every app's reach. A
space's server is ``<instance>--<space>--<kind>``; a dedicated server is
``<instance>--<app id>-<app name>--<kind>-app`` (a digit after ``--``, which no
space name has, and a suffix no space's server ends with). Services find the
server by its full service name ``<stack>_server``, never by a short alias.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ServerKind = Literal["mysql", "postgresql", "redis"]
EndpointMode = Literal["vip", "dnsrr"]
SERVER_KINDS: tuple[ServerKind, ...] = ("mysql", "postgresql", "redis")

ADDON_LABEL = "io.cloudos.addon"
SERVER_LABEL = "io.cloudos.addon-server"
SERVICE = "server"
ROOT_SECRET_TARGET = "root_password"
ROOT_SECRET_PATH = f"/run/secrets/{ROOT_SECRET_TARGET}"
_MAX_SERVICE_NAME = 63


@dataclass(frozen=True)
class KindTraits:
    """Facts about one kind of server: its image, port and data folder."""

    image: str  # platform image name (images/<image>)
    port: int
    data_dir: str
    password_file_env: str  # the entrypoint reads the root password from this file


TRAITS: dict[ServerKind, KindTraits] = {
    "mysql": KindTraits("mariadb", 3306, "/var/lib/mysql", "MARIADB_ROOT_PASSWORD_FILE"),
    "postgresql": KindTraits(
        "postgresql", 5432, "/var/lib/postgresql/data", "POSTGRES_PASSWORD_FILE"
    ),
    "redis": KindTraits("redis", 6379, "/data", "REDIS_PASSWORD_FILE"),
}


@dataclass(frozen=True)
class AddonServer:
    """One database server: a stack with one service on a network of its own."""

    kind: ServerKind
    stack: str
    network: str
    scope: Literal["space", "app"]

    @property
    def service(self) -> str:
        """The swarm service (and the host name apps connect to)."""
        return f"{self.stack}_{SERVICE}"

    @property
    def host(self) -> str:
        """The host name apps use: the full service name, unique on every network."""
        return self.service

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return TRAITS[self.kind].port

    @property
    def shared(self) -> bool:
        """Whether several apps have databases on this server."""
        return self.scope == "space"


def space_server(*, instance: str, space: str, kind: ServerKind) -> AddonServer:
    """The server of ``kind`` that every app of ``space`` shares."""
    stack = f"{instance}--{space}--{kind}"
    return AddonServer(kind=kind, stack=stack, network=stack, scope="space")


def app_server(*, instance: str, app_id: int, app_name: str, kind: ServerKind) -> AddonServer:
    """The server of ``kind`` dedicated to one app (the id makes it unique)."""
    suffix = f"--{kind}-app"
    head = f"{instance}--{app_id}-"
    room = _MAX_SERVICE_NAME - len(head) - len(suffix) - len(SERVICE) - 1
    stack = f"{head}{app_name[: max(room, 0)]}{suffix}"
    return AddonServer(kind=kind, stack=stack, network=stack, scope="app")


def wants_dedicated(kind: ServerKind, options: dict[str, str | int | bool]) -> bool:
    """Whether an app's addon gets a server of its own (``options: {dedicated: ...}``).

    Redis defaults to a dedicated server: on a shared one an app is confined to keys
    under its prefix and cannot list keys, which most software does not expect.
    """
    given = options.get("dedicated")
    if isinstance(given, bool):
        return given
    if isinstance(given, str):
        return given.lower() in ("true", "yes", "1")
    return kind == "redis"


@dataclass(frozen=True)
class AddonNames:
    """An app's database and user name on a server (the same string for both)."""

    database: str
    user: str


@dataclass(frozen=True)
class ServerStatus:
    """What ``cloudos addon ls`` shows about a server."""

    running: bool
    healthy: bool
    size_bytes: int | None  # the data folder; None when not running
    databases: tuple[str, ...]  # app databases (Redis: app users)


__all__ = [
    "ADDON_LABEL",
    "ROOT_SECRET_PATH",
    "ROOT_SECRET_TARGET",
    "SERVER_KINDS",
    "SERVER_LABEL",
    "TRAITS",
    "AddonNames",
    "AddonServer",
    "EndpointMode",
    "KindTraits",
    "ServerKind",
    "ServerStatus",
    "app_server",
    "space_server",
    "wants_dedicated",
]
