"""What runs: one read of services and tasks, turned into plain data for planning.

The reconciler compares this with the desired state. Everything here is read with
two API calls (all services, all tasks) whatever the number of stacks, so a pass
over a thousand apps costs the same handful of requests as a pass over one.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import docker

from cloudos.engine._stacks import INSTANCE_LABEL, NAMESPACE_LABEL, _call

_FAILED_STATES = frozenset({"failed", "rejected"})


@dataclass(frozen=True)
class ObservedService:
    """One service of a stack, as the swarm reports it."""

    name: str
    replicas: int | None  # None for global services
    running: int
    starting: int
    labels: dict[str, str] = field(default_factory=dict)
    update_state: str | None = None
    update_message: str | None = None
    error: str | None = None  # of the newest task, when it failed or cannot be placed
    error_state: str | None = None
    force_update: int = 0


@dataclass(frozen=True)
class ObservedStack:
    """A stack this cloud owns, with its services."""

    name: str
    services: tuple[ObservedService, ...]

    def label(self, key: str) -> str | None:
        """The value every service agrees on for ``key``, else None."""
        values = {service.labels.get(key) for service in self.services}
        return values.pop() if len(values) == 1 else None


def observe_stacks(client: docker.DockerClient, *, instance: str) -> dict[str, ObservedStack]:
    """Every stack of this cloud, by name."""
    services = _call(client.api.services, filters={"label": f"{INSTANCE_LABEL}={instance}"})
    by_id: dict[str, dict[str, Any]] = {service["ID"]: service for service in services}
    tasks_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if by_id:
        for task in _call(client.api.tasks):
            if task.get("ServiceID") in by_id:
                tasks_of[task["ServiceID"]].append(task)
    stacks: dict[str, list[ObservedService]] = defaultdict(list)
    for service_id, service in by_id.items():
        spec = service["Spec"]
        labels = spec.get("Labels") or {}
        stack = labels.get(NAMESPACE_LABEL)
        if stack is None:
            continue
        stacks[stack].append(_service(service, tasks_of[service_id]))
    return {
        name: ObservedStack(name, tuple(sorted(found, key=lambda s: s.name)))
        for name, found in sorted(stacks.items())
    }


def _service(service: dict[str, Any], tasks: list[dict[str, Any]]) -> ObservedService:
    spec = service["Spec"]
    mode = spec.get("Mode") or {}
    replicas = int(mode["Replicated"].get("Replicas", 1)) if "Replicated" in mode else None
    current = [task for task in tasks if task.get("DesiredState") == "running"]
    running = sum(1 for task in current if task["Status"]["State"] == "running")
    starting = sum(
        1 for task in current if task["Status"]["State"] in ("starting", "preparing", "assigned")
    )
    newest = max(tasks, key=lambda task: task["Status"].get("Timestamp", ""), default=None)
    error = error_state = None
    if newest is not None:
        state = newest["Status"]["State"]
        message = newest["Status"].get("Err")
        if state in _FAILED_STATES or (state == "pending" and message):
            error, error_state = message or state, state
    update = service.get("UpdateStatus") or {}
    return ObservedService(
        name=spec["Name"],
        replicas=replicas,
        running=running,
        starting=starting,
        labels=dict((spec.get("TaskTemplate") or {}).get("ContainerSpec", {}).get("Labels") or {})
        | dict(spec.get("Labels") or {}),
        update_state=update.get("State"),
        update_message=update.get("Message"),
        error=error,
        error_state=error_state,
        force_update=int((spec.get("TaskTemplate") or {}).get("ForceUpdate") or 0),
    )


__all__ = ["ObservedService", "ObservedStack", "observe_stacks"]
