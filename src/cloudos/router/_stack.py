"""The router's own stack: Caddy as a swarm service (pure rendering).

Ports are published in host mode (the ingress mesh needs IPVS, which some kernels
lack, and host mode keeps the client's address). The admin socket lives in a
folder bind-mounted from the control plane's data directory, never on a port, so
the admin API is unreachable from any network. Certificates live on a named
volume: a replaced router task finds them again and requests nothing anew.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import yaml

from cloudos.router._caddy import DEFAULT_ADMIN_SOCKET, ROUTER_SYSCTLS

ADMIN_DIR = DEFAULT_ADMIN_SOCKET.rsplit("/", 1)[0]


@dataclass(frozen=True)
class RouterStackSpec:
    """Everything the router stack depends on."""

    image: str
    admin_dir: str  # host folder holding the admin socket
    http_port: int
    https_port: int
    networks: Sequence[str]  # the space networks it joins
    endpoint_mode: str
    node_id: str | None = None
    trust_dir: str | None = None  # host folder with extra CA roots (e.g. a test ACME server)


def render_router_stack(spec: RouterStackSpec) -> str:
    """Stack YAML of the router; the same spec gives byte-identical output."""
    volumes = [f"{spec.admin_dir}:{ADMIN_DIR}", "data:/data"]
    if spec.trust_dir:
        volumes.append(f"{spec.trust_dir}:/etc/cloudos-router/trust:ro")
    networks = sorted(set(spec.networks))
    deploy: dict[str, object] = {
        "replicas": 1,
        "endpoint_mode": spec.endpoint_mode,
        "restart_policy": {"condition": "any", "delay": "2s"},
        # Two routers cannot bind the same host ports: replace stop-first.
        "update_config": {"order": "stop-first", "failure_action": "rollback"},
        "labels": {"io.cloudos.role": "router"},
    }
    if spec.node_id:
        # The admin socket folder is on this node.
        deploy["placement"] = {"constraints": [f"node.id == {spec.node_id}"]}
    service: dict[str, object] = {
        "image": spec.image,
        "environment": {"CADDY_ADMIN_SOCKET": DEFAULT_ADMIN_SOCKET},
        "ports": [
            {
                "target": spec.http_port,
                "published": spec.http_port,
                "protocol": "tcp",
                "mode": "host",
            },
            {
                "target": spec.https_port,
                "published": spec.https_port,
                "protocol": "tcp",
                "mode": "host",
            },
        ],
        "sysctls": dict(ROUTER_SYSCTLS),
        "volumes": volumes,
        "deploy": deploy,
    }
    if networks:
        service["networks"] = networks
    document: dict[str, object] = {
        "version": "3.8",
        "services": {"caddy": service},
        "volumes": {"data": {}},
    }
    if networks:
        document["networks"] = {name: {"external": True, "name": name} for name in networks}
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False)


__all__ = ["ADMIN_DIR", "RouterStackSpec", "render_router_stack"]
