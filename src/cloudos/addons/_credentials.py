"""What an app is told about its addon: environment, template values, secret files (pure).

The names are documented in docs/addons.md and stable: apps and templates rely on
them. URLs carry user and password percent-encoded, so any value stays one URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from cloudos.addons._commands import key_prefix
from cloudos.addons._model import AddonNames, AddonServer, ServerKind


@dataclass(frozen=True)
class Credentials:
    """Where and as whom an app connects to its addon."""

    kind: ServerKind
    host: str
    port: int
    database: str  # Redis: the database number, "0"
    user: str
    password: str
    key_prefix: str = ""  # Redis on a shared server: every key must start with it

    @property
    def url(self) -> str:
        """The connection URL (``mysql://``, ``postgresql://`` or ``redis://``)."""
        scheme = {"mysql": "mysql", "postgresql": "postgresql", "redis": "redis"}[self.kind]
        auth = f"{quote(self.user, safe='')}:{quote(self.password, safe='')}"
        return f"{scheme}://{auth}@{self.host}:{self.port}/{quote(self.database, safe='')}"


def credentials_for(server: AddonServer, names: AddonNames, password: str) -> Credentials:
    """The credentials of an app's database ``names`` on ``server``."""
    redis = server.kind == "redis"
    return Credentials(
        kind=server.kind,
        host=server.host,
        port=server.port,
        database="0" if redis else names.database,
        user=names.user,
        password=password,
        key_prefix=key_prefix(server, names) if redis else "",
    )


# host, port, database, user, password, url: the documented variable names per kind.
ENV_NAMES: dict[ServerKind, tuple[str, str, str | None, str, str, str]] = {
    "mysql": (
        "MYSQL_HOST",
        "MYSQL_PORT",
        "MYSQL_DATABASE",
        "MYSQL_USER",
        "MYSQL_PASSWORD",
        "MYSQL_URL",
    ),
    "postgresql": (
        "POSTGRES_HOST",
        "POSTGRES_PORT",
        "POSTGRES_DB",
        "POSTGRES_USER",
        "POSTGRES_PASSWORD",
        "DATABASE_URL",
    ),
    "redis": ("REDIS_HOST", "REDIS_PORT", None, "REDIS_USER", "REDIS_PASSWORD", "REDIS_URL"),
}


def credentials_env(credentials: Credentials) -> dict[str, str]:
    """The environment variables an app's services get, with their documented names."""
    c = credentials
    values = (c.host, str(c.port), c.database, c.user, c.password, c.url)
    env = {
        name: value
        for name, value in zip(ENV_NAMES[c.kind], values, strict=True)
        if name is not None
    }
    if c.key_prefix:
        env["REDIS_KEY_PREFIX"] = c.key_prefix
    return env


SECRET_VARIABLES = frozenset(name for names in ENV_NAMES.values() for name in names[4:] if name)


def credential_files(credentials: Credentials) -> dict[str, str]:
    """Secret file name -> content: the variables that hold the password, as files.

    Mounted as ``/run/secrets/<NAME>`` and announced as ``<NAME>_FILE``, the
    convention of the official database and application images.
    """
    return {
        name: value
        for name, value in credentials_env(credentials).items()
        if name in SECRET_VARIABLES
    }


def secret_spellings(credentials: Credentials) -> tuple[str, ...]:
    """Every spelling of the password a stack may hold: as is, and percent-encoded
    as in the URL (what must be masked wherever a stack is shown)."""
    password = credentials.password
    return (password, quote(password, safe="")) if password else ()


def context_values(credentials: Credentials) -> dict[str, object]:
    """``addons.<kind>.<key>`` values for templates (``${addons.mysql.password}``)."""
    c = credentials
    values: dict[str, object] = {
        "host": c.host,
        "port": c.port,
        "database": c.database,
        "user": c.user,
        "password": c.password,
        "url": c.url,
    }
    if c.kind == "redis":
        values["prefix"] = c.key_prefix
    return {f"addons.{c.kind}.{key}": value for key, value in values.items()}


__all__ = [
    "ENV_NAMES",
    "SECRET_VARIABLES",
    "Credentials",
    "context_values",
    "credential_files",
    "credentials_env",
    "credentials_for",
    "secret_spellings",
]
