"""The stack of an addon server (pure): same spec, byte-identical YAML.

One service, ``server``, on the server's own attachable overlay network (created
before the stack, so apps can join it whatever the server's state), with its data
on a named volume and its root password as a Docker secret. It is pinned to one
node: a local volume does not follow a task to another node, and the control plane
runs its commands (``docker exec``) on the node it talks to.

Redis keeps its ACL users in a file on the data volume. Redis ignores ``requirepass``
once an ACL file is configured, so the file is started with the default user's
password (as its SHA-256) before the server's own entrypoint runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from cloudos.addons._commands import ACL_FILE
from cloudos.addons._model import (
    ADDON_LABEL,
    ROOT_SECRET_PATH,
    ROOT_SECRET_TARGET,
    SERVER_LABEL,
    SERVICE,
    TRAITS,
    AddonServer,
    EndpointMode,
)

_REDIS_START = (
    "set -eu; "
    f"acl={ACL_FILE}; "
    'if [ ! -s "$acl" ]; then '
    f'hash=$(tr -d "\\n" <"{ROOT_SECRET_PATH}" | sha256sum | cut -d" " -f1); '
    'printf "user default on #%s ~* &* +@all\\n" "$hash" >"$acl"; '
    'chown redis:redis "$acl"; chmod 0600 "$acl"; '
    "fi; "
    'exec /usr/local/bin/cloudos-redis --aclfile "$acl"'
)


@dataclass(frozen=True)
class ServerStackSpec:
    """Everything an addon server's stack depends on."""

    server: AddonServer
    image: str  # cloudos/<image>:<tag>
    root_secret: str  # the Docker secret holding the root password
    endpoint_mode: EndpointMode
    node_id: str | None = None  # pin to this node (the control plane's)


def root_secret_name(server: AddonServer, digest: str) -> str:
    """The Docker secret of the server's root password (``digest``: of the password)."""
    return f"{server.stack}_root_{digest[:12]}"


def render_server_stack(spec: ServerStackSpec) -> str:
    """Stack YAML of an addon server."""
    server = spec.server
    traits = TRAITS[server.kind]
    labels = {ADDON_LABEL: server.kind, SERVER_LABEL: server.stack}
    service: dict[str, object] = {
        "image": spec.image,
        "environment": {traits.password_file_env: ROOT_SECRET_PATH},
        "secrets": [{"source": ROOT_SECRET_TARGET, "target": ROOT_SECRET_TARGET}],
        "volumes": [f"data:{traits.data_dir}"],
        "networks": ["addon"],
        "labels": dict(labels),
        "stop_grace_period": "60s",
        "deploy": {
            "mode": "replicated",
            "replicas": 1,
            "endpoint_mode": spec.endpoint_mode,
            "restart_policy": {"condition": "any", "delay": "5s"},
            # One process may own a data folder: stop the old task before the new starts.
            "update_config": {"order": "stop-first", "failure_action": "rollback"},
            "labels": dict(labels),
        },
    }
    if server.kind == "redis":
        # $$: a literal $ for docker stack deploy's variable interpolation.
        service["entrypoint"] = ["/bin/sh", "-c", _REDIS_START.replace("$", "$$")]
    if spec.node_id:
        deploy = service["deploy"]
        assert isinstance(deploy, dict)
        deploy["placement"] = {"constraints": [f"node.id == {spec.node_id}"]}
    document = {
        "version": "3.8",
        "services": {SERVICE: service},
        "networks": {"addon": {"external": True, "name": server.network}},
        "volumes": {"data": {"labels": dict(labels)}},
        "secrets": {ROOT_SECRET_TARGET: {"external": True, "name": spec.root_secret}},
    }
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False, width=1000)


__all__ = ["ServerStackSpec", "render_server_stack", "root_secret_name"]
