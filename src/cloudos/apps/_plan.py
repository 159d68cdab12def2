"""The reconciler's decisions: desired state + observed state -> actions (pure).

Level-triggered: the plan depends only on what is wanted and what is seen now,
never on what happened before, except for one remembered fact per app — the spec
last *attempted*. Swarm may roll an update back by itself; the stack then shows the
old spec again, and without that memory the reconciler would redeploy the failing
spec forever. With it, a rolled-back spec is left alone until the user asks for a
new revision (or a rollback), which changes the desired spec.

Running a plan twice, or after a crash at any point, gives the same result: every
action is idempotent (deploying an unchanged stack changes nothing; removing a
removed stack is a no-op).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cloudos.apps._stack import APP_LABEL, SPEC_LABEL, STATE_LABEL
from cloudos.engine import ObservedStack
from cloudos.statuses import AppStatus, DesiredState

# How long tasks may take to come up before "starting" becomes "failed".
START_TIMEOUT = timedelta(seconds=60)
# Task errors that no retry will fix: report them at once.
PERMANENT_ERRORS = (
    "No such image",
    "not found",
    "no suitable node",
    "port is already allocated",
    "address already in use",
    "host-mode port already in use",
    "invalid mount config",
    "invalid reference format",
)


@dataclass(frozen=True)
class DesiredApp:
    """What the database says one app should be."""

    app_id: int
    stack: str
    state: DesiredState
    spec_hash: str
    attempted: str | None  # "<spec>:<state>" last deployed
    purge: bool = False

    @property
    def target(self) -> str:
        """The spec and state the stack should carry."""
        return f"{self.spec_hash}:{self.state}"


@dataclass(frozen=True)
class Deploy:
    """Deploy (create or update) the app's stack to the desired spec."""

    app_id: int
    stack: str
    stopped: bool


@dataclass(frozen=True)
class Remove:
    """Remove the app's stack (and volumes with ``purge``); then forget the app."""

    app_id: int
    stack: str
    purge: bool


@dataclass(frozen=True)
class RemoveOrphan:
    """Remove a stack of ours whose app no longer exists (e.g. after a crash)."""

    stack: str


Action = Deploy | Remove | RemoveOrphan


def plan(desired: list[DesiredApp], observed: dict[str, ObservedStack]) -> list[Action]:
    """The actions that bring ``observed`` to ``desired``; [] when they agree."""
    actions: list[Action] = []
    wanted = {app.stack for app in desired}
    for app in desired:
        stack = observed.get(app.stack)
        if app.state == DesiredState.REMOVED:
            actions.append(Remove(app.app_id, app.stack, app.purge))
            continue
        if stack is None:
            actions.append(Deploy(app.app_id, app.stack, app.state == DesiredState.STOPPED))
            continue
        seen = f"{stack.label(SPEC_LABEL)}:{stack.label(STATE_LABEL)}"
        if seen != app.target and app.attempted != app.target:
            actions.append(Deploy(app.app_id, app.stack, app.state == DesiredState.STOPPED))
    for name, stack in observed.items():
        if name not in wanted and stack.label(APP_LABEL) is not None:
            actions.append(RemoveOrphan(name))
    return actions


@dataclass(frozen=True)
class Status:
    """What an app's status line says."""

    status: AppStatus
    reason: str | None = None


def derive_status(
    app: DesiredApp, stack: ObservedStack | None, *, deployed_at: datetime | None, now: datetime
) -> Status:
    """The app's status from what is seen, in words a user understands."""
    if app.state == DesiredState.REMOVED:
        return Status(AppStatus.REMOVING)
    if stack is None:
        return Status(AppStatus.DEPLOYING)
    seen_spec = stack.label(SPEC_LABEL)
    rolled_back = [s for s in stack.services if s.update_state == "rollback_completed"]
    if app.attempted == app.target and seen_spec != app.spec_hash and rolled_back:
        message = rolled_back[0].update_message or "the new tasks failed"
        return Status(AppStatus.ROLLED_BACK, f"update failed and was rolled back: {message}")
    if any(s.update_state in ("rollback_started", "rollback_paused") for s in stack.services):
        return Status(AppStatus.ROLLING_BACK, _first_error(stack))
    errors = [s for s in stack.services if s.error and _counts_short(s)]
    if errors:
        service = errors[0]
        assert service.error is not None
        reason = f"{service.name}: {service.error}"
        late = deployed_at is None or now - deployed_at > START_TIMEOUT
        if late or _permanent(service):
            return Status(AppStatus.FAILED, reason)
    if app.state == DesiredState.STOPPED:
        if all(s.running == 0 for s in stack.services):
            return Status(AppStatus.STOPPED)
        return Status(AppStatus.STOPPING)
    if any(s.update_state == "updating" for s in stack.services):
        return Status(AppStatus.UPDATING)
    if all(not _counts_short(s) for s in stack.services):
        return Status(AppStatus.RUNNING)
    if deployed_at is not None and now - deployed_at > START_TIMEOUT:
        return Status(AppStatus.FAILED, _first_error(stack) or "tasks did not start within 60 s")
    return Status(AppStatus.STARTING, _first_error(stack))


# During a rolling update the old task may still hold a host-mode port for a moment
# after the swarm tries to place the new one: not a failure unless it lasts.
PORT_BUSY_ERRORS = ("port is already allocated", "address already in use", "host-mode port")


def _permanent(service: Any) -> bool:
    error: str = service.error or ""
    if service.update_state == "updating" and any(m in error for m in PORT_BUSY_ERRORS):
        return False
    return any(marker in error for marker in PERMANENT_ERRORS)


def _counts_short(service: object) -> bool:
    replicas = getattr(service, "replicas", None)
    running = getattr(service, "running", 0)
    return replicas is not None and running < replicas


def _first_error(stack: ObservedStack) -> str | None:
    for service in stack.services:
        if service.error:
            return f"{service.name}: {service.error}"
    return None


__all__ = [
    "START_TIMEOUT",
    "Action",
    "Deploy",
    "DesiredApp",
    "Remove",
    "RemoveOrphan",
    "Status",
    "derive_status",
    "plan",
]
