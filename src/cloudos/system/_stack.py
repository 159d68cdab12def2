"""The system stack: the control plane as a swarm service (pure rendering).

The stack is named after the cloud's instance (``cloudos`` by default), so several
clouds can share one engine. The control plane's state lives on a named volume bound
to the data directory on the manager that runs it, which keeps the state visible to
``cloudos admin ...`` on the host and lets the service move between restarts without
losing it. It mounts the Docker socket: it is the cluster's administrator.

It runs on the host's network and listens on the host's loopback address by default:
its plain-HTTP port is for the CLI and scripts on the machine itself, while every other
client reaches it through the router, over HTTPS, at the platform host (the router
dials its unix socket). A swarm port cannot be published on one address only, and a
published port would also hide the client's address behind the bridge's gateway.
Listening on another address is an explicit choice (``cloudos up --host``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

CONTAINER_DATA_DIR = "/var/lib/cloudos"
CONTAINER_DOCKER_SOCKET = "/var/run/docker.sock"
HOST_NETWORK = "host_network"  # the stack's name for the engine's network "host"


@dataclass(frozen=True)
class SystemStackSpec:
    """Everything the system stack depends on."""

    instance: str
    control_image: str
    data_dir: Path
    port: int
    node_id: str
    docker_host: str  # the engine address as seen from the host
    host: str = "127.0.0.1"  # the host address it listens on (host network)
    database_url: str | None = None  # only non-SQLite URLs are passed into the container
    log_level: str = "INFO"
    http_port: int = 80
    https_port: int = 443
    extra_env: tuple[tuple[str, str], ...] = ()  # more CLOUDOS_* settings to pass on
    memory: str = "1G"  # the control plane's memory limit, as Docker reads it


def render_system_stack(spec: SystemStackSpec) -> str:
    """Stack YAML of the system stack; same spec, byte-identical output."""
    environment = {
        "CLOUDOS_DATA_DIR": CONTAINER_DATA_DIR,
        "CLOUDOS_HOST": spec.host,
        "CLOUDOS_INSTANCE": spec.instance,
        "CLOUDOS_LOG_LEVEL": spec.log_level,
        "CLOUDOS_PORT": str(spec.port),
        "CLOUDOS_HOST_DATA_DIR": str(spec.data_dir),
        "CLOUDOS_HTTP_PORT": str(spec.http_port),
        "CLOUDOS_HTTPS_PORT": str(spec.https_port),
        **dict(spec.extra_env),
    }
    volumes: list[str] = [f"data:{CONTAINER_DATA_DIR}"]
    if spec.docker_host.startswith("unix://"):
        socket_path = spec.docker_host.removeprefix("unix://")
        volumes.append(f"{socket_path}:{CONTAINER_DOCKER_SOCKET}")
        environment["DOCKER_HOST"] = f"unix://{CONTAINER_DOCKER_SOCKET}"
    else:
        environment["DOCKER_HOST"] = spec.docker_host
    if spec.database_url and not spec.database_url.startswith("sqlite"):
        environment["CLOUDOS_DATABASE_URL"] = spec.database_url
    document = {
        "version": "3.8",
        "services": {
            "control": {
                "image": spec.control_image,
                # The node's name, not the container's: the dashboard names the node
                # whose CPU and memory it plots by this.
                "hostname": "{{.Node.Hostname}}",
                "environment": dict(sorted(environment.items())),
                "volumes": volumes,
                "networks": [HOST_NETWORK],
                "deploy": {
                    "replicas": 1,
                    "placement": {"constraints": [f"node.id == {spec.node_id}"]},
                    "restart_policy": {"condition": "any", "delay": "2s"},
                    # One writer of the SQLite database at a time: stop the old task first.
                    "update_config": {"order": "stop-first", "failure_action": "rollback"},
                    "labels": {"io.cloudos.role": "control-plane"},
                    # A runaway request (or leak) ends in this task's restart, not in the
                    # kernel picking a victim among the node's tenants.
                    "resources": {"limits": {"memory": spec.memory}},
                },
            }
        },
        "networks": {HOST_NETWORK: {"external": True, "name": "host"}},
        "volumes": {
            "data": {
                "driver": "local",
                "driver_opts": {"type": "none", "o": "bind", "device": str(spec.data_dir)},
            }
        },
    }
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False)


__all__ = ["CONTAINER_DATA_DIR", "SystemStackSpec", "render_system_stack"]
