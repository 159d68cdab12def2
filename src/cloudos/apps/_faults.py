"""What the reconciler could not do, per object, and when it tries again.

A pass reconciles each object (an app, a space being removed, the router) on its
own: one that fails is recorded here with its error and is not tried again until
its backoff has passed (doubling with each failure, capped), while the others go on.
Success forgets the fault. A change to what the object should be (a new target,
e.g. a new revision of an app) is tried at once, whatever its backoff.

The record lives in memory only: after a restart every object is simply tried
again, which is what a level-triggered reconciler does anyway. Some failures are
*transient* (a network still in use while the router leaves it): they are retried
the same way but count as a problem only once they have lasted ``grace`` seconds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from cloudos.store.models import utcnow

BACKOFF_BASE = 1.0  # seconds before the first retry
BACKOFF_CAP = 60.0  # the longest wait between two attempts
TRANSIENT_GRACE = 120.0  # how long a transient failure may last before it is a problem


@dataclass(frozen=True)
class Fault:
    """One object's last failure."""

    key: str  # "app:12", "space:shop", "router"
    kind: str  # "app", "space", "router"
    name: str  # what a person calls it: "shop/blog", "shop", "router"
    space: str | None  # the space it belongs to; None for the platform's own parts
    error: str
    attempts: int
    since: datetime  # first failure of this run of failures (UTC)
    first_at: float  # clock time of the first failure of this run
    retry_at: float  # clock time of the next attempt
    target: str  # what the object should be when it failed
    transient: bool

    def problem(self, now: float) -> bool:
        """Whether this is a problem to report (not a short, expected wait)."""
        return not self.transient or now - self.first_at >= TRANSIENT_GRACE


def backoff(attempts: int) -> float:
    """Seconds to wait after ``attempts`` failures in a row."""
    return min(BACKOFF_BASE * 2.0 ** (attempts - 1), BACKOFF_CAP)


class FaultLog:
    """Every object's current fault; safe to read from request threads."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._faults: dict[str, Fault] = {}
        self._lock = threading.Lock()

    def due(self, key: str, target: str = "") -> bool:
        """Whether ``key`` may be tried now: no fault, its backoff passed, or a new target."""
        with self._lock:
            fault = self._faults.get(key)
        return fault is None or fault.target != target or self.clock() >= fault.retry_at

    def failed(
        self,
        key: str,
        *,
        kind: str,
        name: str,
        space: str | None,
        error: str,
        target: str = "",
        transient: bool = False,
    ) -> Fault:
        """Record a failure of ``key``; its next attempt waits a little longer."""
        now = self.clock()
        with self._lock:
            previous = self._faults.get(key)
            run = previous if previous is not None and previous.target == target else None
            attempts = run.attempts + 1 if run is not None else 1
            fault = Fault(
                key=key,
                kind=kind,
                name=name,
                space=space,
                error=error,
                attempts=attempts,
                since=run.since if run is not None else utcnow(),
                first_at=run.first_at if run is not None else now,
                retry_at=now + backoff(attempts),
                target=target,
                transient=transient,
            )
            self._faults[key] = fault
        return fault

    def succeeded(self, key: str) -> None:
        """``key`` worked: forget its fault."""
        with self._lock:
            self._faults.pop(key, None)

    def forget(self, keep: Callable[[str], bool]) -> None:
        """Drop the faults of objects that no longer exist."""
        with self._lock:
            for key in [key for key in self._faults if not keep(key)]:
                del self._faults[key]

    def current(self) -> list[Fault]:
        """Every fault, in a stable order."""
        with self._lock:
            return sorted(self._faults.values(), key=lambda fault: fault.key)

    def problems(self) -> list[Fault]:
        """The faults worth reporting (transient ones only once they last)."""
        now = self.clock()
        return [fault for fault in self.current() if fault.problem(now)]


__all__ = ["BACKOFF_BASE", "BACKOFF_CAP", "TRANSIENT_GRACE", "Fault", "FaultLog", "backoff"]
