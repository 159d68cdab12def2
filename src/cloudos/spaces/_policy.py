"""Template policy: what an app's generated stack asks of the host (pure).

The check runs on the stack exactly as it will be deployed, after the template, its
modifiers, the values and the platform's own additions, so no way of phrasing a
request (a template field, a modifier, a parameter value) gets around it. Each
request falls under one of five grants a cluster admin can allow per space; by
default a space allows none. Which field falls under which grant, and why, is in
docs/security.md ("Template policy").

The walk reads every field that can reach outside the container's isolation and
reports each as a ``Finding`` naming the service (or top-level object) and the path;
``check_policy`` keeps those the space does not allow.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Iterator, Mapping
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
}

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
    networks: Mapping[str, Any] = stack.get("networks") or {}
    volumes: Mapping[str, Any] = stack.get("volumes") or {}
    findings: list[Finding] = []
    for key, service in services.items():
        if isinstance(service, Mapping):
            findings.extend(_service(str(key), service, set(services), networks, own))
    for key, volume in volumes.items():
        findings.extend(_volume(str(key), volume, own))
    for kind in ("configs", "secrets"):
        for key, item in (stack.get(kind) or {}).items():
            if isinstance(item, Mapping) and item.get("file") is not None:
                findings.append(
                    Finding(
                        "host_paths",
                        f"{kind[:-1]} {key}",
                        f"{kind}.{key}.file",
                        f"the file {item['file']} read from the control plane's disk",
                    )
                )
    return findings


def check_policy(
    stack: Mapping[str, Any],
    *,
    space: str,
    allowed: Iterable[str],
    name: str = "",
    platform_networks: Iterable[str] = (),
) -> None:
    """Raise Forbidden listing every request of ``stack`` that ``space`` does not allow."""
    allow = set(allowed)
    refused = [
        finding
        for finding in find_requests(stack, name=name, platform_networks=platform_networks)
        if finding.grant not in allow
    ]
    if refused:
        raise Forbidden("; ".join(finding.message(space) for finding in refused))


@dataclass(frozen=True)
class _Own:
    """What belongs to the app (or the platform) and so needs no grant."""

    prefix: str | None
    networks: frozenset[str]

    def owns(self, name: str) -> bool:
        return name in self.networks or (self.prefix is not None and name.startswith(self.prefix))


def _service(
    name: str,
    service: Mapping[str, Any],
    siblings: set[str],
    networks: Mapping[str, Any],
    own: _Own,
) -> Iterator[Finding]:
    owner = f"service {name}"
    base = f"services.{name}"

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


__all__ = ["DOCKER_SOCKETS", "GRANTS", "Finding", "check_grants", "check_policy", "find_requests"]
