"""Networks, secrets and service operations the reconciler needs besides stacks."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import docker
import requests
import urllib3
from docker.errors import APIError, NotFound

from cloudos.engine._stacks import INSTANCE_LABEL, _call
from cloudos.errors import EnvironmentProblem

log = logging.getLogger(__name__)


def ensure_network(
    client: docker.DockerClient, *, name: str, instance: str, labels: dict[str, str]
) -> None:
    """Create the overlay network ``name`` unless it exists."""
    if _call(client.networks.list, names=[name]):
        return
    _call(
        client.networks.create,
        name,
        driver="overlay",
        attachable=True,
        labels={**labels, INSTANCE_LABEL: instance},
    )
    log.info("created network %s", name)


def network_names(client: docker.DockerClient, *, instance: str) -> list[str]:
    """Names of this cloud's networks."""
    return sorted(
        network.name
        for network in _call(
            client.networks.list, filters={"label": f"{INSTANCE_LABEL}={instance}"}
        )
    )


class NetworkInUse(EnvironmentProblem):
    """A network cannot go yet: a service or task is still attached to it.

    Usually short-lived: Swarm refuses to remove a network while a service's spec or
    a task still uses it, so a service that has just left it (the router, updated
    without it) holds it until its old task has stopped. Try again later.
    """


_IN_USE_BY = re.compile(r"in use by (service|task|container) (\S+)")


def remove_network(client: docker.DockerClient, *, name: str, instance: str) -> None:
    """Remove this cloud's network ``name`` if it exists (never someone else's).

    Raises :class:`NetworkInUse` while something is still attached to it.
    """
    for network in _call(client.networks.list, names=[name]):
        if (
            network.name != name
            or (network.attrs.get("Labels") or {}).get(INSTANCE_LABEL) != instance
        ):
            continue
        try:
            network.remove()
        except NotFound:
            pass
        except APIError as err:
            explanation = str(err.explanation or err)
            if "in use" not in explanation:
                raise EnvironmentProblem(f"could not remove network {name}: {explanation}") from err
            raise NetworkInUse(
                f"network {name} is still in use by {_user(client, explanation)}"
            ) from err


def _user(client: docker.DockerClient, explanation: str) -> str:
    """Who holds a network, from the engine's refusal: a service by name when it can."""
    found = _IN_USE_BY.search(explanation)
    if found is None:
        return "a service or container"
    kind, ident = found.groups()
    if kind == "service":
        try:
            service: Any = client.services.get(ident)  # type: ignore[no-untyped-call]
            return f"service {service.name}"
        except (NotFound, APIError):
            pass
    return f"{kind} {ident}"


def ensure_secret(
    client: docker.DockerClient, *, name: str, data: str, instance: str, labels: dict[str, str]
) -> None:
    """Create secret ``name`` holding ``data`` unless it exists (secrets are immutable)."""
    existing = _call(client.secrets.list, filters={"name": name})
    if any(secret.name == name for secret in existing):
        return
    try:
        client.secrets.create(
            name=name, data=data.encode(), labels={**labels, INSTANCE_LABEL: instance}
        )
    except APIError as err:
        if err.status_code == 409:  # created meanwhile: same name, same content
            return
        raise EnvironmentProblem(
            f"could not create secret {name}: {err.explanation or err}"
        ) from err


def prune_secrets(
    client: docker.DockerClient,
    *,
    label: tuple[str, str],
    keep: Iterable[str],
    instance: str,
    wait: float = 0.0,
) -> None:
    """Remove this cloud's secrets carrying ``label`` that are not in ``keep``.

    A secret still used by a task stays (for a later pass) unless ``wait`` seconds
    are given for its tasks to go.
    """
    wanted = set(keep)
    key, value = label
    selector = {"label": [f"{key}={value}", f"{INSTANCE_LABEL}={instance}"]}
    deadline = time.monotonic() + wait
    for secret in _call(client.secrets.list, filters=selector):
        if secret.name in wanted:
            continue
        while True:
            try:
                secret.remove()
                break
            except NotFound:
                break
            except APIError as err:
                if "in use" not in str(err):
                    raise EnvironmentProblem(
                        f"could not remove secret {secret.name}: {err}"
                    ) from err
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.5)


@dataclass(frozen=True)
class ServiceSummary:
    """What the host-side commands read of one service's spec."""

    name: str
    published_ports: tuple[int, ...]  # in the service's endpoint (ingress or host mode)
    environment: dict[str, str]  # the container's variables


def service_summary(client: docker.DockerClient, *, service: str) -> ServiceSummary | None:
    """The service named exactly ``service`` (None when there is none)."""
    found = [
        entry
        for entry in _call(client.services.list, filters={"name": service})
        if entry.attrs.get("Spec", {}).get("Name") == service
    ]
    if not found:
        return None
    spec = found[0].attrs.get("Spec", {})
    ports = spec.get("EndpointSpec", {}).get("Ports") or []
    variables = spec.get("TaskTemplate", {}).get("ContainerSpec", {}).get("Env") or []
    return ServiceSummary(
        name=service,
        published_ports=tuple(int(p["PublishedPort"]) for p in ports if p.get("PublishedPort")),
        environment=dict(entry.partition("=")[::2] for entry in variables),
    )


def volume_mountpoint(client: docker.DockerClient, *, volume: str) -> str | None:
    """Where on this node the local volume ``volume`` keeps its files (None: no volume)."""
    try:
        found: Any = client.volumes.get(volume)
    except NotFound:
        return None
    except APIError as err:
        raise EnvironmentProblem(
            f"could not inspect volume {volume}: {err.explanation or err}"
        ) from err
    mountpoint = found.attrs.get("Mountpoint")
    return str(mountpoint) if mountpoint else None


def force_update(client: docker.DockerClient, *, service: str) -> None:
    """Restart every task of ``service`` (like ``docker service update --force``)."""
    try:
        found: Any = client.services.get(service)  # type: ignore[no-untyped-call]
        found.force_update()
    except NotFound:
        return
    except APIError as err:
        raise EnvironmentProblem(f"could not restart {service}: {err.explanation or err}") from err


# How long a log read that does not follow may go without a byte before it is taken as
# complete. The engine sometimes never ends a service's log stream even without follow
# (moby/moby#38640, docker/cli#4678); the SDK turns the socket timeout off for log
# streams, so without this bound the reader (and a request thread) would wait forever.
LOG_IDLE_SECONDS = 10.0
_FRAME_HEADER = 8  # stream type, 3 bytes of padding, payload length (big-endian)


def service_logs(
    client: docker.DockerClient,
    *,
    service: str,
    tail: int | None = None,
    since: datetime | None = None,
    follow: bool = False,
    idle: float = LOG_IDLE_SECONDS,
) -> Iterator[bytes]:
    """The log stream of every task of ``service`` (stdout and stderr, with timestamps).

    Without ``follow`` the stream ends when the engine ends it or after ``idle`` seconds
    without a byte, whichever comes first; with ``follow`` it waits as long as it takes.
    """
    try:
        found: Any = client.services.get(service)  # type: ignore[no-untyped-call]
    except NotFound:
        return iter(())
    except APIError as err:
        raise EnvironmentProblem(
            f"could not read logs of {service}: {err.explanation or err}"
        ) from err
    except requests.exceptions.RequestException as err:
        raise EnvironmentProblem(f"could not read logs of {service}: {err}") from err
    api = client.api
    try:
        response = api.get(
            f"{api.base_url}/v{api.api_version}/services/{found.id}/logs",
            params={
                "stdout": "1",
                "stderr": "1",
                "timestamps": "1",
                "follow": "1" if follow else "0",
                "tail": str(tail) if tail is not None else "all",
                # The endpoint takes a Unix time.
                "since": f"{since.timestamp():.9f}" if since is not None else "0",
            },
            stream=True,
            timeout=(api.timeout, None if follow else idle),
        )
    except requests.exceptions.RequestException as err:
        raise EnvironmentProblem(f"the engine did not send the logs of {service}: {err}") from err
    if response.status_code == 404:
        response.close()
        return iter(())
    if response.status_code >= 400:
        explanation = response.text.strip()
        response.close()
        raise EnvironmentProblem(f"could not read logs of {service}: {explanation}")
    tty = bool(found.attrs["Spec"]["TaskTemplate"]["ContainerSpec"].get("TTY", False))
    return _log_frames(response, tty=tty, service=service)


def _log_frames(response: Any, *, tty: bool, service: str) -> Iterator[bytes]:
    """The payloads of an engine log response (raw chunks for a TTY service)."""
    raw = response.raw
    try:
        while True:
            if tty:
                chunk = raw.read(4096)
                if not chunk:
                    return
                yield chunk
                continue
            header = raw.read(_FRAME_HEADER)
            if len(header) < _FRAME_HEADER:
                return
            length = int.from_bytes(header[4:8], "big")
            if length:
                data = raw.read(length)
                if not data:
                    return
                yield data
    except (OSError, urllib3.exceptions.HTTPError, requests.exceptions.RequestException) as err:
        # Quiet for longer than the read allows (or the engine went away): what was
        # logged has been read.
        log.debug("log stream of %s ended: %s", service, err)
    finally:
        response.close()


def service_stats(client: docker.DockerClient, *, service: str) -> dict[str, float]:
    """CPU (% of one core) and memory of the running containers of ``service`` on this node."""
    cpu = 0.0
    memory = 0.0
    limit = 0.0
    # Sparse: the full listing inspects each container and fails as a whole when one
    # of them exits in between (a task being replaced).
    for container in _call(
        client.containers.list,
        sparse=True,
        filters={"label": f"com.docker.swarm.service.name={service}"},
    ):
        try:
            stats = container.stats(stream=False)
        except (NotFound, APIError):
            continue
        cpu += _cpu_percent(stats)
        memory_stats = stats.get("memory_stats") or {}
        memory += float(memory_stats.get("usage") or 0) - float(
            (memory_stats.get("stats") or {}).get("inactive_file") or 0
        )
        limit = max(limit, float(memory_stats.get("limit") or 0))
    return {
        "cpu_percent": round(cpu, 2),
        "memory_bytes": max(memory, 0.0),
        "memory_limit_bytes": limit,
    }


def _cpu_percent(stats: dict[str, object]) -> float:
    cpu = stats.get("cpu_stats") or {}
    pre = stats.get("precpu_stats") or {}
    assert isinstance(cpu, dict)
    assert isinstance(pre, dict)
    total = float((cpu.get("cpu_usage") or {}).get("total_usage") or 0)
    before = float((pre.get("cpu_usage") or {}).get("total_usage") or 0)
    system = float(cpu.get("system_cpu_usage") or 0)
    system_before = float(pre.get("system_cpu_usage") or 0)
    cores = float(cpu.get("online_cpus") or 1)
    if system - system_before <= 0:
        return 0.0
    return (total - before) / (system - system_before) * cores * 100.0


__all__ = [
    "NetworkInUse",
    "ServiceSummary",
    "ensure_network",
    "ensure_secret",
    "force_update",
    "network_names",
    "prune_secrets",
    "remove_network",
    "service_logs",
    "service_stats",
    "service_summary",
    "volume_mountpoint",
]
