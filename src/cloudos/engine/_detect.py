"""What the engine here can do: version, swarm membership, nodes, service VIPs.

Service VIPs and the ingress routing mesh need the kernel's IPVS module. Some kernels
lack it (our CI's does), so the platform must detect it and fall back to
``endpoint_mode: dnsrr`` with host-mode ports, never assume either way.
"""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, cast

import docker
from docker.errors import APIError, DockerException

from cloudos.errors import EnvironmentProblem

SwarmState = Literal["inactive", "pending", "active", "error", "locked"]
EndpointMode = Literal["vip", "dnsrr"]


@dataclass(frozen=True)
class IpvsSupport:
    """Whether service VIPs can work on this kernel, and how we know."""

    available: bool
    reason: str


@dataclass(frozen=True)
class EngineInfo:
    """A snapshot of the engine's abilities."""

    version: str
    api_version: str
    os: str
    architecture: str
    swarm_state: SwarmState
    is_manager: bool
    node_id: str | None
    node_count: int
    ipvs: IpvsSupport

    @property
    def endpoint_mode(self) -> EndpointMode:
        """The endpoint mode services should use here."""
        return "vip" if self.ipvs.available else "dnsrr"

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        data = asdict(self)
        data["endpoint_mode"] = self.endpoint_mode
        return data


@dataclass(frozen=True)
class NodeInfo:
    """One machine of the swarm: what it is, how it is, what it has."""

    hostname: str
    role: str
    state: str
    availability: str
    address: str | None
    cpus: float
    memory_bytes: int
    engine_version: str | None


def list_nodes(client: docker.DockerClient) -> list[NodeInfo]:
    """The swarm's nodes, by host name (empty when this engine is in no swarm)."""
    try:
        raw: list[dict[str, Any]] = client.api.nodes()
    except APIError as err:
        if err.status_code == 503:  # not a swarm manager
            return []
        raise EnvironmentProblem(f"could not list the swarm's nodes: {err.explanation}") from err
    except DockerException as err:
        raise EnvironmentProblem(f"could not list the swarm's nodes: {err}") from err
    return sorted((_node(item) for item in raw), key=lambda node: node.hostname)


def _node(item: dict[str, Any]) -> NodeInfo:
    description = item.get("Description") or {}
    resources = description.get("Resources") or {}
    status = item.get("Status") or {}
    spec = item.get("Spec") or {}
    return NodeInfo(
        hostname=str(description.get("Hostname") or item.get("ID", "?")),
        role=str(spec.get("Role") or "?"),
        state=str(status.get("State") or "unknown"),
        availability=str(spec.get("Availability") or "unknown"),
        address=status.get("Addr") or None,
        cpus=int(resources.get("NanoCPUs") or 0) / 1e9,
        memory_bytes=int(resources.get("MemoryBytes") or 0),
        engine_version=(description.get("Engine") or {}).get("EngineVersion"),
    )


def detect_ipvs(
    *, sys_root: Path = Path("/sys"), modules_root: Path = Path("/lib/modules")
) -> IpvsSupport:
    """Whether the kernel has IPVS loaded, built in, or loadable on demand."""
    if (sys_root / "module" / "ip_vs").exists():
        return IpvsSupport(True, "kernel module ip_vs is loaded")
    release_dir = modules_root / platform.release()
    for listing in ("modules.builtin", "modules.dep"):
        path = release_dir / listing
        try:
            if "/ip_vs.ko" in path.read_text(encoding="utf-8", errors="replace"):
                kind = "built in" if listing == "modules.builtin" else "loadable"
                return IpvsSupport(True, f"kernel module ip_vs is {kind}")
        except OSError:
            continue
    return IpvsSupport(False, "kernel module ip_vs is not loaded nor available: services use dnsrr")


def detect_engine(client: docker.DockerClient, *, ipvs: IpvsSupport | None = None) -> EngineInfo:
    """Ask the engine what it is and what it can do."""
    try:
        version = client.version()
        info = client.info()
    except (APIError, DockerException) as err:
        raise EnvironmentProblem(f"the Docker engine did not answer: {err}") from err
    swarm = info.get("Swarm") or {}
    state = cast(SwarmState, swarm.get("LocalNodeState") or "inactive")
    is_manager = bool(swarm.get("ControlAvailable"))
    node_count = int(swarm.get("Nodes") or 0)
    return EngineInfo(
        version=str(version.get("Version", "unknown")),
        api_version=str(version.get("ApiVersion", "unknown")),
        os=str(info.get("OperatingSystem", "unknown")),
        architecture=str(info.get("Architecture", "unknown")),
        swarm_state=state,
        is_manager=is_manager,
        node_id=swarm.get("NodeID") or None,
        node_count=node_count,
        ipvs=ipvs if ipvs is not None else detect_ipvs(),
    )


def ensure_swarm_manager(
    client: docker.DockerClient, *, advertise_addr: str | None = None
) -> EngineInfo:
    """Make this engine a swarm manager: initialize a swarm when it is in none.

    An engine that is a worker of another swarm is refused: Cloud OS must run on a
    manager, and leaving someone's swarm is not ours to decide.
    """
    info = detect_engine(client)
    if info.swarm_state == "inactive":
        try:
            client.swarm.init(advertise_addr=advertise_addr or None)
        except APIError as err:
            hint = ""
            if "advertise" in str(err):
                hint = " (set CLOUDOS_ADVERTISE_ADDR to this server's address)"
            raise EnvironmentProblem(
                f"could not initialize a swarm: {err.explanation or err}{hint}"
            ) from err
        info = detect_engine(client, ipvs=info.ipvs)
    if info.swarm_state != "active":
        raise EnvironmentProblem(
            f"the engine's swarm is {info.swarm_state}: fix it (`docker info`) and try again"
        )
    if not info.is_manager:
        raise EnvironmentProblem(
            "this engine is a swarm worker, not a manager: run Cloud OS on a manager node "
            "(`docker node promote` from a manager) or point DOCKER_HOST at one"
        )
    return info


__all__ = [
    "EndpointMode",
    "EngineInfo",
    "IpvsSupport",
    "SwarmState",
    "detect_engine",
    "detect_ipvs",
    "ensure_swarm_manager",
]
