"""Databases and users for apps, and their dumps: run inside the server's container.

Every operation is idempotent, so a reconciler may repeat it after a crash:
provisioning an existing database only sets the password (which is also how a
password is rotated), deprovisioning a missing one does nothing.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator

from cloudos.addons._commands import (
    Command,
    deprovision_command,
    dump_command,
    parse_redis_dump_batch,
    provision_command,
    redis_dump_batch_command,
    restore_command,
)
from cloudos.addons._model import AddonNames, AddonServer
from cloudos.engine import EngineClient, exec_in_service, exec_stream
from cloudos.errors import CloudOSError

log = logging.getLogger(__name__)


class AddonCommandFailed(CloudOSError):
    """A command run in an addon server failed; the message has its last error line."""


def provision(
    client: EngineClient,
    server: AddonServer,
    names: AddonNames,
    *,
    password: str,
    timeout: float = 60.0,
) -> None:
    """Create the app's database and user with ``password`` (or set a new password)."""
    command = provision_command(server, names, password)
    _run(client, server, command, timeout, "provision", hide=password)
    log.info("provisioned %s on %s", names.database, server.stack)


def deprovision(
    client: EngineClient, server: AddonServer, names: AddonNames, *, timeout: float = 120.0
) -> None:
    """Drop the app's database (Redis: its keys) and user."""
    _run(client, server, deprovision_command(server, names), timeout, "deprovision")
    log.info("deprovisioned %s on %s", names.database, server.stack)


def dump(client: EngineClient, server: AddonServer, names: AddonNames) -> Iterator[bytes]:
    """Stream a dump of the app's database (SQL; Redis: RESTORE commands)."""
    if server.kind != "redis":
        yield from exec_stream(
            client, service=server.service, argv=list(dump_command(server, names).argv)
        )
        return
    cursor = "0"
    while True:
        command = redis_dump_batch_command(server, names, cursor)
        output = _run(client, server, command, 300.0, "dump")
        cursor, commands = parse_redis_dump_batch(output)
        if commands:
            yield commands
        if cursor == "0":
            return


def restore(
    client: EngineClient,
    server: AddonServer,
    names: AddonNames,
    stream: Iterable[bytes],
    *,
    timeout: float = 3600.0,
) -> None:
    """Load a dump made by :func:`dump` into the app's (provisioned) database."""
    command = restore_command(server, names)
    chunks = itertools.chain([command.stdin or b""], stream)
    result = exec_in_service(
        client, service=server.service, argv=list(command.argv), stdin=chunks, timeout=timeout
    )
    if result.exit_code != 0:
        raise AddonCommandFailed(
            f"restore into {names.database} on {server.stack} failed: "
            f"{_last_line(result.errors or result.output)}"
        )
    log.info("restored %s on %s", names.database, server.stack)


def _run(
    client: EngineClient,
    server: AddonServer,
    command: Command,
    timeout: float,
    what: str,
    *,
    hide: str = "",
) -> bytes:
    result = exec_in_service(
        client,
        service=server.service,
        argv=list(command.argv),
        stdin=command.stdin,
        timeout=timeout,
    )
    # redis-cli reports a failed command on stdout and still exits 0.
    failed = result.exit_code != 0 or (
        server.kind == "redis" and what != "dump" and b"(error)" in result.output
    )
    if failed:
        reason = _last_line(result.errors or result.output)
        if hide:
            reason = reason.replace(hide, "********")  # servers quote statements in errors
        raise AddonCommandFailed(f"{what} on {server.stack} failed: {reason}")
    return result.output


def _last_line(data: bytes) -> str:
    lines = data.decode(errors="replace").strip().splitlines()
    return lines[-1][:300] if lines else "no error output"


__all__ = ["AddonCommandFailed", "deprovision", "dump", "provision", "restore"]
