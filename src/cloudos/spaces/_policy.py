"""Template policy: what an app's generated stack asks of the host (pure).

The check runs on the stack exactly as it will be deployed, after the template, its
modifiers, the values and the platform's own additions, so no way of phrasing a
request (a template field, a modifier, a parameter value) gets around it. Each
request falls under one of the grants a cluster admin can allow per space; by
default a space allows none. Published host ports are allowed by a port range per
space instead of a grant, and the router's own ports never. Some requests no grant
allows (a platform label, a secret the stack does not declare). Which field falls
under which grant, and why, is in docs/security.md ("Template policy").

The walk reads every field that can reach outside the container's isolation and
reports each as a ``Finding`` naming the service (or top-level object) and the path;
``check_policy`` keeps those the space does not allow.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from cloudos.errors import Forbidden, InvalidInput

GRANTS: dict[str, str] = {
    "privileged": "privileged mode and anything else that lifts the container's isolation "
    "(pid/ipc/userns host, unconfined security options, cgroup_parent)",
    "docker_socket": "the Docker socket (or a directory holding it)",
    "host_paths": "host paths: bind mounts, devices, bind-backed or external volumes, "
    "files read from the control plane's disk (env_file, configs and secrets with file)",
    "host_network": "the host's network, another container's network, or a network "
    "outside the space",
    "capabilities": "added Linux capabilities (cap_add)",
    "foreign_secrets": "secrets and configs that are not the app's own (another app's, "
    "another space's or the platform's, named outside <stack>_...)",
}
# Labels the platform sets and reads (ownership, space, spec hash): a template's own
# would pass for the platform's, so they are refused, not dropped.
RESERVED_LABEL_PREFIXES = ("io.cloudos.", "cloudos.")
NEVER = ""  # the grant of a Finding no grant allows

# /var/run is a symlink to /run on every current distribution: both spellings count.
DOCKER_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")
_SAFE_SECURITY_OPT = re.compile(r"no-new-privileges([:=]true)?", re.IGNORECASE)
_WINDOWS_DRIVE = re.compile(r"[A-Za-z]:[\\/]")


@dataclass(frozen=True)
class Finding:
    """One thing a stack asks for that needs ``grant``."""

    grant: str
    owner: str  # "service web", "volume data", "config site", "network edge"
    path: str  # where in the stack: services.web.privileged
    what: str  # what it asks for, in words

    def message(self, space: str) -> str:
        """The refusal, naming the object, the field and how an admin allows it."""
        if self.grant == NEVER:
            return f"{self.owner}: {self.what} ({self.path}) is refused in every space"
        return (
            f"{self.owner}: {self.what} ({self.path}) is not allowed in space {space!r} "
            f"(a cluster admin can allow it: cloudos space policy {space} "
            f"--allow {self.grant})"
        )


def check_grants(names: Iterable[str]) -> list[str]:
    """The grant names, sorted and unique; InvalidInput names an unknown one."""
    found = sorted(set(names))
    for name in found:
        if name not in GRANTS:
            known = ", ".join(GRANTS)
            raise InvalidInput(f"unknown grant {name!r} (grants: {known})")
    return found


def find_requests(
    stack: Mapping[str, Any], *, name: str = "", platform_networks: Iterable[str] = ()
) -> list[Finding]:
    """Everything ``stack`` asks for that needs a grant, in document order.

    ``name`` is the stack's name: volumes and networks named ``<name>_...`` are the
    app's own. ``platform_networks`` are the external networks the platform attached
    itself (the space's network, its addon servers' networks): joining them needs
    nothing.
    """
    own = _Own(prefix=f"{name}_" if name else None, networks=frozenset(platform_networks))
    services: Mapping[str, Any] = stack.get("services") or {}
    volumes: Mapping[str, Any] = stack.get("volumes") or {}
    findings: list[Finding] = []
    for key, service in services.items():
        if isinstance(service, Mapping):
            findings.extend(_service(str(key), service, stack, own))
    for key, volume in volumes.items():
        findings.extend(_volume(str(key), volume, own))
    for kind in _SHARED_OBJECTS:
        for key, item in (stack.get(kind) or {}).items():
            findings.extend(_shared_object(kind, str(key), item, own))
    return findings


def check_policy(
    stack: Mapping[str, Any],
    *,
    space: str,
    allowed: Iterable[str],
    name: str = "",
    platform_networks: Iterable[str] = (),
    ports: PortRange | None = None,
    router_ports: Collection[int] = (),
    also: Iterable[Finding] = (),
) -> None:
    """Raise Forbidden listing every request of ``stack`` that ``space`` does not allow.

    ``ports`` is the range of host ports the space may publish (None: none);
    ``router_ports`` are never allowed. ``also``: findings made elsewhere (the
    template's reserved labels, read before the platform adds its own).
    """
    allow = set(allowed)
    findings = [*also, *find_requests(stack, name=name, platform_networks=platform_networks)]
    refused = [finding.message(space) for finding in findings if finding.grant not in allow]
    for request in published_ports(stack):
        refused.extend(request.refusals(space, ports, frozenset(router_ports)))
    if refused:
        raise Forbidden("; ".join(refused), code="policy_refused")


@dataclass(frozen=True, order=True)
class PortRange:
    """Host ports ``first`` to ``last``, both included."""

    first: int
    last: int

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"

    def covers(self, other: PortRange) -> bool:
        """Whether every port of ``other`` is in this range."""
        return self.first <= other.first and other.last <= self.last


def parse_port_range(text: str, *, what: str = "ports") -> PortRange:
    """``8080`` or ``20000-20100`` as a PortRange; InvalidInput names ``what`` and why."""
    first, dash, last = str(text).strip().partition("-")
    try:
        found = PortRange(int(first), int(last) if dash else int(first))
    except ValueError:
        raise InvalidInput(
            f"{what} {text!r}: give a port or a range of ports like 20000-20100"
        ) from None
    if not 1 <= found.first <= found.last <= 65535:
        raise InvalidInput(
            f"{what} {text!r}: ports go from 1 to 65535, the first no higher than the last"
        )
    return found


@dataclass(frozen=True)
class PortRequest:
    """A port a service publishes on the hosts: ``ports`` None when the engine picks it
    (or the entry cannot be read), ``mode`` ingress or host."""

    service: str
    path: str
    ports: PortRange | None
    mode: str
    text: str  # the entry as written

    def refusals(self, space: str, allowed: PortRange | None, router: frozenset[int]) -> list[str]:
        """Why ``space`` may not publish it ([] when it may)."""
        where = f"service {self.service}: host port {self.text} ({self.path})"
        if self.ports is None:
            within = f"within {allowed}" if allowed else "in a range a cluster admin allows"
            return [f"{where} lets the engine pick the port: publish a fixed port {within}"]
        clash = sorted(port for port in router if self.ports.first <= port <= self.ports.last)
        if clash:
            return [f"{where} is the router's own port {clash[0]}: no app may publish it"]
        if allowed is None:
            return [
                f"{where}: space {space!r} may publish no host ports (a cluster admin can "
                f"allow a range: cloudos space policy {space} --ports FROM-TO)"
            ]
        if not allowed.covers(self.ports):
            return [
                f"{where} is outside the ports space {space!r} may publish ({allowed}; a "
                f"cluster admin can change it: cloudos space policy {space} --ports FROM-TO)"
            ]
        return []


def published_ports(stack: Mapping[str, Any]) -> list[PortRequest]:
    """Every port the stack's services publish on the hosts, in document order."""
    found: list[PortRequest] = []
    for service, spec in (stack.get("services") or {}).items():
        if not isinstance(spec, Mapping):
            continue
        for index, entry in enumerate(spec.get("ports") or []):
            path = f"services.{service}.ports[{index}]"
            found.append(_port_request(str(service), path, entry))
    return found


def _port_request(service: str, path: str, entry: Any) -> PortRequest:
    if isinstance(entry, Mapping):  # long syntax: {target, published, mode, protocol}
        published = entry.get("published")
        mode = str(entry.get("mode") or "ingress")
        text = "(none)" if published is None else str(published)
    else:  # short syntax: [host_ip:][published:]target[/protocol], swarm mode ingress
        parts = str(entry).partition("/")[0].rsplit(":", 2)
        published = parts[-2] if len(parts) > 1 else None
        mode, text = "ingress", str(entry)
    ports = None
    if published is not None and str(published).strip():
        try:
            ports = parse_port_range(str(published))
        except InvalidInput:
            ports = None
    return PortRequest(service, path, ports, mode, text)


def reserved_labels(
    stack: Mapping[str, Any], *, platform: Mapping[str, str] | None = None
) -> list[Finding]:
    """Every label of ``stack`` in the platform's namespaces (``io.cloudos.*``,
    ``cloudos.*``), however spelled (a mapping or a list of ``key=value``), except
    those ``platform`` sets, with the value it sets."""
    mine = platform or {}
    found: list[Finding] = []

    def check(owner: str, path: str, labels: Any) -> None:
        pairs = (
            [(str(key), str(value)) for key, value in labels.items()]
            if isinstance(labels, Mapping)
            else [tuple(str(item).partition("=")[::2]) for item in labels]
            if isinstance(labels, list)
            else []
        )
        for key, value in pairs:
            # A list's "key=value" is a mapping's key once a value fills it in.
            name = key.partition("=")[0].strip()
            if name.lower().startswith(RESERVED_LABEL_PREFIXES) and mine.get(key) != value:
                what = f"the label {name}, which is reserved for the platform"
                found.append(Finding(NEVER, owner, path, what))

    for key, service in (stack.get("services") or {}).items():
        if isinstance(service, Mapping):
            check(f"service {key}", f"services.{key}.labels", service.get("labels"))
            deploy = service.get("deploy")
            if isinstance(deploy, Mapping):
                check(f"service {key}", f"services.{key}.deploy.labels", deploy.get("labels"))
    for kind in ("networks", "volumes", *_SHARED_OBJECTS):
        for key, item in (stack.get(kind) or {}).items():
            if isinstance(item, Mapping):
                check(f"{kind[:-1]} {key}", f"{kind}.{key}.labels", item.get("labels"))
    return found


@dataclass(frozen=True)
class _Own:
    """What belongs to the app (or the platform) and so needs no grant."""

    prefix: str | None
    networks: frozenset[str]

    def owns(self, name: str) -> bool:
        return name in self.networks or (self.prefix is not None and name.startswith(self.prefix))


def _service(
    name: str, service: Mapping[str, Any], stack: Mapping[str, Any], own: _Own
) -> Iterator[Finding]:
    owner = f"service {name}"
    base = f"services.{name}"
    siblings = set(stack.get("services") or {})
    networks: Mapping[str, Any] = stack.get("networks") or {}

    def found(grant: str, field: str, what: str) -> Finding:
        return Finding(grant, owner, f"{base}.{field}", what)

    if _truthy(service.get("privileged")):
        yield found("privileged", "privileged", "privileged mode")
    for field in ("pid", "ipc"):
        value = str(service.get(field) or "")
        if not _inside_app(value, siblings, fine=("private", "shareable", "none")):
            yield found("privileged", field, f"the {_NAMESPACES[field]} of {_shared(value)}")
    if str(service.get("userns_mode") or "") == "host":
        yield found("privileged", "userns_mode", "the host's user namespace")
    if service.get("cgroup_parent"):
        yield found("privileged", "cgroup_parent", "a cgroup chosen outside the platform")
    for index, option in enumerate(service.get("security_opt") or []):
        if not _SAFE_SECURITY_OPT.fullmatch(str(option).strip()):
            yield found("privileged", f"security_opt[{index}]", f"the security option {option!r}")
    caps = [str(cap) for cap in service.get("cap_add") or []]
    if caps:
        yield found("capabilities", "cap_add", f"the capabilities {', '.join(caps)}")
    for index, device in enumerate(service.get("devices") or []):
        yield found("host_paths", f"devices[{index}]", f"the host device {device}")
    env_files = service.get("env_file")
    if env_files:
        files = [env_files] if isinstance(env_files, str) else list(env_files)
        yield found(
            "host_paths",
            "env_file",
            f"variables read from {', '.join(map(str, files))} on the control plane's disk",
        )
    mode = str(service.get("network_mode") or "")
    if not _inside_app(mode, siblings, fine=("none", "bridge", "default")):
        yield found("host_network", "network_mode", f"the network of {_shared(mode)}")
    joined = service.get("networks") or []
    for network in joined if isinstance(joined, Mapping | list) else []:
        finding = _network(str(network), networks, own)
        if finding is not None:
            yield found("host_network", f"networks.{network}", finding)
    for index, volume in enumerate(service.get("volumes") or []):
        source, kind = _mount_source(volume)
        if source is None:
            continue
        field = f"volumes[{index}]"
        if kind == "npipe" or _reaches_socket(source):
            yield found("docker_socket", field, _path_words(source, "mounted"))
        else:
            yield found("host_paths", field, _path_words(source, "mounted"))
    for kind in _SHARED_OBJECTS:
        declared = stack.get(kind) or {}
        for index, entry in enumerate(service.get(kind) or []):
            source = str(entry.get("source") if isinstance(entry, Mapping) else entry)
            if source not in declared:
                what = f"the {kind[:-1]} {source}, which the stack does not declare"
                yield found(NEVER, f"{kind}[{index}]", what)


_SHARED_OBJECTS = ("configs", "secrets")
_NAMESPACES = {"pid": "process namespace", "ipc": "IPC namespace"}


def _inside_app(value: str, siblings: set[str], *, fine: tuple[str, ...]) -> bool:
    """Whether a namespace setting stays within the app: unset, private, or a sibling's."""
    if not value or value in fine:
        return True
    kind, _, target = value.partition(":")
    return kind == "service" and target in siblings


def _shared(value: str) -> str:
    kind, _, target = value.partition(":")
    if value == "host":
        return "the host"
    if kind == "container":
        return f"container {target} (outside the app)"
    if kind == "service":
        return f"service {target}, which is not part of the app"
    return repr(value)


def _named(key: str, spec: Mapping[str, Any]) -> str | None:
    """The name a network or volume has on the engine, when it is not ``<stack>_<key>``."""
    external = spec.get("external")
    name = spec.get("name")
    if isinstance(external, Mapping):  # Compose 3.3 spelling: external: {name: ...}
        name = external.get("name", name)
    if name:
        return str(name)
    return key if external else None


def _network(key: str, networks: Mapping[str, Any], own: _Own) -> str | None:
    """Why joining network ``key`` needs host_network, or None when it needs nothing."""
    spec = networks.get(key)
    if spec is None:
        return "the host's network" if key == "host" else None
    if not isinstance(spec, Mapping):
        return None
    name = _named(key, spec)
    if str(spec.get("driver") or "") == "host" or name == "host":
        return "the host's network"
    if name is not None and not own.owns(name):
        return f"the network {name}, which is outside the space"
    return None


def _shared_object(kind: str, key: str, item: Any, own: _Own) -> Iterator[Finding]:
    """A top-level config or secret: the app's own (``<stack>_...``, the platform's
    attached ones included), unless foreign_secrets; read from a file, host_paths."""
    if not isinstance(item, Mapping):
        return
    owner = f"{kind[:-1]} {key}"
    if item.get("file") is not None:
        what = f"the file {item['file']} read from the control plane's disk"
        yield Finding("host_paths", owner, f"{kind}.{key}.file", what)
    name = _named(key, item)
    if name is not None and not (own.prefix is not None and name.startswith(own.prefix)):
        what = f"the {kind[:-1]} {name}, which is not the app's own"
        yield Finding("foreign_secrets", owner, f"{kind}.{key}", what)


def _volume(key: str, volume: Any, own: _Own) -> Iterator[Finding]:
    if not isinstance(volume, Mapping):
        return
    owner = f"volume {key}"
    name = _named(key, volume)
    if name is not None and not own.owns(name):
        yield Finding(
            "host_paths",
            owner,
            f"volumes.{key}",
            f"the volume {name}, which is not the app's own",
        )
    options = volume.get("driver_opts") or {}
    if not isinstance(options, Mapping):
        return
    paths = [str(v) for v in options.values() if str(v).startswith(("/", ".", "~"))]
    binds = "bind" in str(options.get("o") or "").split(",") or str(options.get("type") or "") in (
        "none",
        "bind",
    )
    for path in paths:
        grant = "docker_socket" if _reaches_socket(path) else "host_paths"
        yield Finding(grant, owner, f"volumes.{key}.driver_opts", _path_words(path, "as a volume"))
    if binds and not paths:
        yield Finding(
            "host_paths", owner, f"volumes.{key}.driver_opts", "a bind-mounted host directory"
        )


def _mount_source(volume: Any) -> tuple[str | None, str]:
    """The host path a service's volume entry mounts (None: a named or anonymous volume)."""
    if isinstance(volume, Mapping):
        kind = str(volume.get("type") or "volume")
        if kind in ("bind", "npipe"):
            return str(volume.get("source") or "(no source)"), kind
        return None, kind
    text = str(volume)
    if _WINDOWS_DRIVE.match(text):
        return text.rsplit(":", 1)[0] if text.count(":") > 1 else text, "bind"
    parts = text.split(":")
    if len(parts) < 2:
        return None, "volume"  # only a container path: an anonymous volume
    source = parts[0]
    if source.startswith(("/", ".", "~", "$")) or "/" in source or "\\" in source:
        return source, "bind"
    return None, "volume"


def _reaches_socket(source: str) -> bool:
    """Whether a host path is the Docker socket or a directory that holds it.

    A path that is not absolute is resolved wherever ``docker stack deploy`` runs (or
    in a home directory): it may lead anywhere, the socket included.
    """
    if not source.startswith("/"):
        return True
    path = "/" + posixpath.normpath(source).lstrip("/")
    return any(
        socket == path or socket.startswith(path.rstrip("/") + "/") for socket in DOCKER_SOCKETS
    )


def _path_words(source: str, how: str) -> str:
    if not source.startswith("/"):
        return (
            f"the relative host path {source} {how} (it may lead anywhere, "
            "the Docker socket included)"
        )
    if _reaches_socket(source):
        path = "/" + posixpath.normpath(source).lstrip("/")
        which = (
            "the Docker socket"
            if path in DOCKER_SOCKETS
            else "a directory holding the Docker socket"
        )
        return f"{which} ({source}) {how}"
    return f"the host path {source} {how}"


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "on", "1")
    return bool(value)


__all__ = [
    "DOCKER_SOCKETS",
    "GRANTS",
    "RESERVED_LABEL_PREFIXES",
    "Finding",
    "PortRange",
    "PortRequest",
    "check_grants",
    "check_policy",
    "find_requests",
    "parse_port_range",
    "published_ports",
    "reserved_labels",
]
