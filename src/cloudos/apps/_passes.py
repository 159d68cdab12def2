"""What one reconcile pass did, as a report, one log line and Prometheus metrics.

The report is plain data the pass fills in; turning it into the log line is a pure
function (:func:`pass_line`), so its format is tested without a logger. The line is
logfmt after a stable prefix (``reconcile pass N:``), one line whatever the pass did
(values that hold spaces or quotes are quoted, so no name can break it), which is what
``docker service logs`` and a grep need. A pass that did nothing is ``idle``: the
reconciler logs it at DEBUG only, so an idle cloud's log stays quiet.

:class:`PassMetrics` holds the pass metrics in the registry it is given (the one the
control plane's ``/metrics`` serves); the reconciler takes the registry, never the web
layer. The failing-objects gauge is counted per kind only: which objects fail names
spaces and apps, which ``/metrics`` (answering anyone) must not tell.
"""

from __future__ import annotations

import json
from collections import Counter as Tally
from dataclasses import dataclass, field
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from cloudos.apps._faults import Fault
from cloudos.apps._plan import Action, Deploy, Remove

PassResult = Literal["ok", "error", "idle"]
RESULTS: tuple[PassResult, ...] = ("ok", "error", "idle")
# Every kind of action a pass may take, so each counter exists (at 0) before the first.
ACTION_KINDS = (
    "deploy",
    "stop",
    "remove",
    "remove_orphan",
    "router_deploy",
    "router_load",
    "remove_space",
)
FAULT_KINDS = ("app", "stack", "space", "router", "engine")
# Passes take milliseconds when idle, and as long as `docker stack deploy` when not.
PASS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass
class PassReport:
    """What one pass did."""

    actions: list[Action] = field(default_factory=list)  # tried in this pass
    deferred: list[Action] = field(default_factory=list)  # failed before, waiting to retry
    errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # the objects behind ``errors``
    other: Tally[str] = field(default_factory=Tally)  # steps not in the plan: router, spaces
    settling: bool = False  # an app is on its way somewhere: look again soon

    def fault(self, fault: Fault, message: str) -> None:
        """Count ``fault``'s object as failed in this pass, with ``message``."""
        self.errors.append(message)
        self.failed.append(fault_label(fault))

    def counts(self) -> dict[str, int]:
        """How many actions of each kind the pass took, by kind's name."""
        counts = Tally(action_kind(action) for action in self.actions) + self.other
        return dict(sorted(counts.items()))

    @property
    def result(self) -> PassResult:
        """``error`` when an object failed, ``ok`` when something was done, else ``idle``."""
        if self.errors:
            return "error"
        return "ok" if self.counts() else "idle"


def action_kind(action: Action) -> str:
    """The metric and log name of an action of the plan."""
    if isinstance(action, Deploy):
        return "stop" if action.stopped else "deploy"
    return "remove" if isinstance(action, Remove) else "remove_orphan"


def fault_label(fault: Fault) -> str:
    """How the pass line names a failed object: ``app:shop/blog``, ``space:shop``, ``router``."""
    return fault.kind if fault.kind in ("router", "engine") else f"{fault.kind}:{fault.name}"


def pass_line(number: int, report: PassReport, *, seconds: float) -> str:
    """The pass's one log line: ``reconcile pass 7: result=ok duration_ms=12 ...``."""
    counts = report.counts()
    fields: list[tuple[str, object]] = [
        ("result", report.result),
        ("duration_ms", round(seconds * 1000)),
        ("actions", sum(counts.values())),
        *counts.items(),
        ("errors", len(report.errors)),
    ]
    if report.failed:
        fields.append(("failed", ",".join(report.failed)))
    if report.deferred:
        fields.append(("deferred", len(report.deferred)))
    fields.append(("settling", str(report.settling).lower()))
    return f"reconcile pass {number}: " + " ".join(f"{k}={_value(v)}" for k, v in fields)


def _value(value: object) -> str:
    text = str(value)
    if not text or any(c.isspace() or c in '"=\\' for c in text):
        return json.dumps(text)
    return text


class PassMetrics:
    """The reconciler's Prometheus metrics, registered in ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.passes = Counter(
            "cloudos_reconcile_passes",
            "Reconcile passes, by result (ok: acted, error: an object failed, idle).",
            ["result"],
            registry=registry,
        )
        self.seconds = Histogram(
            "cloudos_reconcile_pass_seconds",
            "Time one reconcile pass took.",
            buckets=PASS_BUCKETS,
            registry=registry,
        )
        self.actions = Counter(
            "cloudos_reconcile_actions",
            "Actions reconcile passes took (tried), by kind.",
            ["kind"],
            registry=registry,
        )
        self.failing = Gauge(
            "cloudos_reconcile_failing_objects",
            "Objects the reconciler cannot converge now, by kind.",
            ["kind"],
            registry=registry,
        )
        for result in RESULTS:
            self.passes.labels(result)
        for kind in ACTION_KINDS:
            self.actions.labels(kind)
        for kind in FAULT_KINDS:
            self.failing.labels(kind).set(0)

    def observe(
        self, *, result: PassResult, seconds: float, counts: dict[str, int], failing: list[Fault]
    ) -> None:
        """Count one pass: its result, duration, actions and the objects failing after it."""
        self.passes.labels(result).inc()
        self.seconds.observe(seconds)
        for kind, count in counts.items():
            self.actions.labels(kind).inc(count)
        by_kind = Tally(fault.kind for fault in failing)
        for kind in sorted(set(FAULT_KINDS) | set(by_kind)):
            self.failing.labels(kind).set(by_kind[kind])


__all__ = ["PassMetrics", "PassReport", "action_kind", "pass_line"]
