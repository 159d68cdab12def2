"""Addon servers on the swarm: deploy, remove, status (the engine does the work)."""

from __future__ import annotations

import hashlib
import logging

from cloudos.addons._commands import (
    list_databases_command,
    parse_databases,
    parse_size,
    size_command,
)
from cloudos.addons._model import ADDON_LABEL, SERVER_LABEL, TRAITS, AddonServer, ServerStatus
from cloudos.addons._names import check_password
from cloudos.addons._stack import ServerStackSpec, render_server_stack, root_secret_name
from cloudos.engine import (
    EndpointMode,
    EngineClient,
    deploy_stack,
    ensure_network,
    ensure_secret,
    exec_in_service,
    prune_secrets,
    remove_network,
    remove_stack,
    service_health,
)
from cloudos.engine.images import image_ref
from cloudos.errors import CloudOSError

log = logging.getLogger(__name__)


def server_stack_spec(
    server: AddonServer,
    *,
    root_password: str,
    endpoint_mode: EndpointMode,
    node_id: str | None = None,
) -> ServerStackSpec:
    """The stack spec of ``server`` with the platform image of its kind."""
    digest = hashlib.sha256(check_password(root_password).encode()).hexdigest()
    return ServerStackSpec(
        server=server,
        image=image_ref(TRAITS[server.kind].image),
        root_secret=root_secret_name(server, digest),
        endpoint_mode=endpoint_mode,
        node_id=node_id,
    )


def deploy_server(
    client: EngineClient,
    server: AddonServer,
    *,
    root_password: str,
    instance: str,
    endpoint_mode: EndpointMode,
    node_id: str | None = None,
    docker_host: str | None = None,
) -> None:
    """Create or update ``server``: its network, root password secret and stack.

    Idempotent. The root password only takes effect when the data volume is new: the
    caller generates it once and keeps it (encrypted).
    """
    spec = server_stack_spec(
        server, root_password=root_password, endpoint_mode=endpoint_mode, node_id=node_id
    )
    labels = {ADDON_LABEL: server.kind, SERVER_LABEL: server.stack}
    ensure_network(client, name=server.network, instance=instance, labels=labels)
    ensure_secret(
        client, name=spec.root_secret, data=root_password, instance=instance, labels=labels
    )
    deploy_stack(
        client,
        name=server.stack,
        compose_yaml=render_server_stack(spec),
        instance=instance,
        docker_host=docker_host,
    )
    log.info("deployed addon server %s", server.stack)


def remove_server(
    client: EngineClient, server: AddonServer, *, instance: str, purge: bool = False
) -> None:
    """Remove ``server``'s stack, network and secret; its data volume too with ``purge``."""
    remove_stack(client, name=server.stack, instance=instance, volumes=purge)
    prune_secrets(client, label=(SERVER_LABEL, server.stack), keep=(), instance=instance, wait=30.0)
    remove_network(client, name=server.network, instance=instance)
    log.info("removed addon server %s%s", server.stack, " with its data" if purge else "")


def server_status(client: EngineClient, server: AddonServer) -> ServerStatus:
    """Whether ``server`` runs and is healthy, its data size and its databases."""
    health = service_health(client, service=server.service)
    if health is None:
        return ServerStatus(running=False, healthy=False, size_bytes=None, databases=())
    size: int | None = None
    databases: tuple[str, ...] = ()
    try:
        result = exec_in_service(
            client, service=server.service, argv=list(size_command(server).argv), timeout=30
        )
        size = parse_size(result.output) if result.exit_code == 0 else None
        if health == "healthy":
            command = list_databases_command(server)
            result = exec_in_service(
                client,
                service=server.service,
                argv=list(command.argv),
                stdin=command.stdin,
                timeout=30,
            )
            if result.exit_code == 0:
                databases = parse_databases(result.output)
    except CloudOSError as err:  # a task that just went away: report what is known
        log.info("status of %s incomplete: %s", server.stack, err)
    return ServerStatus(
        running=True, healthy=health == "healthy", size_bytes=size, databases=databases
    )


__all__ = ["deploy_server", "remove_server", "server_stack_spec", "server_status"]
