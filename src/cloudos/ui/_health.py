"""The platform's health for the dashboard: engine, router, addon servers, the
reconciler's failing objects, nodes.

Read from the engine in one go (its version and swarm, then every service and task
of this cloud: two list calls), whatever the number of apps; the dashboard loads it
as a fragment after the page is shown, so a slow engine never slows the page.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from cloudos.engine import NodeInfo, ObservedStack, detect_engine, list_nodes, observe_stacks
from cloudos.errors import CloudOSError
from cloudos.store.models import AddonServerRow
from cloudos.web._state import AppState


@dataclass(frozen=True)
class Check:
    """One part of the platform and how it is."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Health:
    """The platform's parts and the swarm's machines."""

    checks: list[Check]
    nodes: list[NodeInfo]


def platform_health(state: AppState) -> Health:
    """Engine, router, addon servers and the reconciler, each with a word on its state,
    and the nodes."""
    instance = state.settings.instance_name
    try:
        client = state.connect_engine()
    except CloudOSError as err:
        return Health([Check("Docker engine", False, str(err)), *_reconciler_checks(state)], [])
    try:
        info = detect_engine(client)
        observed = observe_stacks(client, instance=instance)
        nodes = list_nodes(client)
    except CloudOSError as err:
        return Health([Check("Docker engine", False, str(err)), *_reconciler_checks(state)], [])
    finally:
        client.close()
    checks = [
        Check(
            "Docker engine",
            info.swarm_state == "active" and info.is_manager,
            f"{info.version}, swarm {info.swarm_state}, {info.node_count} node(s), "
            f"{info.endpoint_mode} endpoints",
        )
    ]
    if state.settings.router:
        checks.append(_stack_check("Router", observed.get(f"{instance}-router")))
    with state.database.session() as session:
        servers = list(session.scalars(select(AddonServerRow).order_by(AddonServerRow.stack)))
        checks.extend(
            _stack_check(f"{row.kind} server {row.stack}", observed.get(row.stack))
            for row in servers
        )
    return Health([*checks, *_reconciler_checks(state)], nodes)


def _reconciler_checks(state: AppState) -> list[Check]:
    """One line for the reconciler, then one for each object it cannot converge."""
    faults = state.faults
    if faults is None:
        return []  # this control plane does not reconcile
    problems = faults.problems()
    if not problems:
        return [Check("Reconciler", True, "every object converges")]
    now = faults.clock()
    return [
        Check("Reconciler", False, f"{len(problems)} object(s) failing, retried with backoff"),
        *(
            Check(
                fault.name if fault.kind in ("engine", "router") else f"{fault.kind} {fault.name}",
                False,
                f"{fault.error} (attempt {fault.attempts}, next in "
                f"{max(fault.retry_at - now, 0.0):.0f} s)",
            )
            for fault in problems
        ),
    ]


def _stack_check(name: str, stack: ObservedStack | None) -> Check:
    if stack is None or not stack.services:
        return Check(name, False, "not deployed")
    errors = [service.error for service in stack.services if service.error]
    running = sum(service.running for service in stack.services)
    wanted = sum(
        service.replicas if service.replicas is not None else service.running
        for service in stack.services
    )
    ok = running >= wanted > 0 and not errors
    detail = f"{running}/{wanted} running" + (f": {errors[0]}" if errors else "")
    return Check(name, ok, detail)


__all__ = ["Check", "Health", "platform_health"]
