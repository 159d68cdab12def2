"""Fault isolation in the reconciler: one object that fails (an app, a space's network,
the router) is retried with backoff and reported on itself, never stopping the others.

Around the fake swarm of test_reconciler.py and an injected clock (no sleeps);
tests/e2e/test_space_removal.py proves the real case on the real swarm and router.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from sqlalchemy import select

from cloudos.apps import AppManager, Deploy, Reconciler
from cloudos.apps._faults import BACKOFF_CAP, TRANSIENT_GRACE
from cloudos.engine import NetworkInUse, ObservedStack
from cloudos.errors import EnvironmentProblem
from cloudos.spaces import create_space, remove_space, set_ports
from cloudos.store.models import AppEvent, Space
from tests.apps.conftest import hello
from tests.apps.test_reconciler import Clock, FakeSwarm, row
from tests.helpers import TEST_PORTS


class StickySwarm(FakeSwarm):
    """A swarm whose networks may be held (in use) by a service."""

    def __init__(self) -> None:
        super().__init__()
        self.held: dict[str, str] = {}
        self.calls: list[str] = []

    def remove_network(self, client: object, *, name: str, **_: object) -> None:
        self.calls.append(f"remove network {name}")
        if name in self.held:
            raise NetworkInUse(f"network {name} is still in use by service {self.held[name]}")
        super().remove_network(client, name=name)


class FakeRouter:
    """Stands in for RouterSync: records each sync, fails while told to."""

    def __init__(self, swarm: StickySwarm) -> None:
        self.swarm = swarm
        self.syncs = 0
        self.error: Exception | None = None
        self.deploys = self.loads = 0  # what RouterSync counts: it never acts here

    def sync(self, client: object, observed: Mapping[str, ObservedStack]) -> None:
        self.syncs += 1
        self.swarm.calls.append("router sync")
        if self.error is not None:
            raise self.error


@pytest.fixture
def swarm(monkeypatch: pytest.MonkeyPatch) -> StickySwarm:
    fake = StickySwarm()
    fake.install(monkeypatch)
    return fake


@pytest.fixture
def router(swarm: StickySwarm) -> FakeRouter:
    return FakeRouter(swarm)


@pytest.fixture
def reconciler(manager: AppManager, clock: Clock, router: FakeRouter) -> Reconciler:
    return Reconciler(
        manager=manager,
        connect_engine=lambda: object(),  # type: ignore[arg-type,return-value]
        router=router,  # type: ignore[arg-type]
        clock=clock,
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


def install(manager: AppManager, name: str, *, space: str = "default", port: int = 8080) -> int:
    return manager.install(space=space, name=name, template=hello(), values={"http_port": port})


def test_a_failing_app_is_retried_with_growing_capped_backoff_then_cleared(
    manager: AppManager, reconciler: Reconciler, swarm: StickySwarm, clock: Clock
) -> None:
    install(manager, "web")
    swarm.fail_deploy = {"t-default-web"}
    reconciler.run_once()
    [fault] = reconciler.faults.problems()
    assert (fault.kind, fault.name, fault.space, fault.attempts) == (
        "app",
        "default/web",
        "default",
        1,
    )
    assert fault.error == "deploying stack 't-default-web' failed: image not found"
    # Not tried again before its backoff; tried at each step after it, waiting longer.
    waits = []
    for _ in range(9):
        attempts, start = fault.attempts, clock.now
        while reconciler.faults.current()[0].attempts == attempts:
            clock.advance(0.5)
            reconciler.run_once()
            assert clock.now - start <= BACKOFF_CAP + 1, "retried within the cap"
        fault = reconciler.faults.current()[0]
        waits.append(clock.now - start)
    assert waits[:5] == [1, 2, 4, 8, 16]
    assert waits[-1] == BACKOFF_CAP
    app = row(manager, "web")
    assert (app.status, app.status_reason) == ("failed", fault.error)
    with manager.database.session() as session:
        failures = session.scalars(select(AppEvent.id).where(AppEvent.kind == "failed")).all()
    assert len(failures) == 1, "the same error is one event, not one per attempt"
    # The cause goes: the next attempt succeeds and the fault is forgotten.
    swarm.fail_deploy.clear()
    clock.advance(BACKOFF_CAP)
    assert reconciler.run_once().actions == [Deploy(1, "t-default-web", stopped=False)]
    assert row(manager, "web").status == "running"
    assert reconciler.faults.current() == []


def test_a_change_to_a_failing_app_is_tried_at_once(
    manager: AppManager, reconciler: Reconciler, swarm: StickySwarm
) -> None:
    install(manager, "web")
    swarm.fail_deploy = {"t-default-web"}
    reconciler.run_once()
    assert reconciler.run_once().deferred == [Deploy(1, "t-default-web", stopped=False)]
    swarm.fail_deploy.clear()
    manager.update(space="default", name="web", values={"message": "fixed"})
    assert reconciler.run_once().actions == [Deploy(1, "t-default-web", stopped=False)]
    assert row(manager, "web").status == "running"
    assert reconciler.faults.current() == []


def test_an_unexpected_error_in_one_app_is_reported_on_it_and_the_others_go_on(
    manager: AppManager,
    reconciler: Reconciler,
    swarm: StickySwarm,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    install(manager, "alpha", port=8080)
    install(manager, "broken", port=8081)
    deploy = swarm.deploy_stack

    def buggy(client: object, *, name: str, compose_yaml: str, **rest: object) -> None:
        if name == "t-default-broken":
            raise KeyError("Spec")  # a bug, not one of the project's errors
        deploy(client, name=name, compose_yaml=compose_yaml, **rest)

    monkeypatch.setattr("cloudos.apps._reconciler.deploy_stack", buggy)
    report = reconciler.run_once()
    assert row(manager, "alpha").status == "running"
    broken = row(manager, "broken")
    assert broken.status == "failed"
    assert broken.status_reason is not None
    assert broken.status_reason.startswith("internal error (KeyError")
    assert report.errors == [broken.status_reason]
    assert [f.name for f in reconciler.faults.problems()] == ["default/broken"]


def test_a_space_whose_network_stays_in_use_blocks_nobody_and_is_reported_on_itself(
    manager: AppManager,
    reconciler: Reconciler,
    swarm: StickySwarm,
    router: FakeRouter,
    clock: Clock,
) -> None:
    with manager.database.session() as session:
        create_space(session, name="shop")
        set_ports(session, name="shop", ports=TEST_PORTS)
    install(manager, "web", space="shop")
    reconciler.run_once()
    swarm.held["t-shop"] = "t-router_caddy"
    with manager.database.session() as session:
        remove_space(session, name="shop", force=True)
    swarm.calls.clear()
    report = reconciler.run_once()
    # The router leaves the network before its removal is tried.
    assert swarm.calls == ["router sync", "remove network t-shop"]
    assert report.errors == [], "a network the router is leaving is a short wait"
    [fault] = reconciler.faults.current()
    assert (fault.kind, fault.space, fault.transient) == ("space", "shop", True)
    assert "in use by service t-router_caddy" in fault.error
    assert reconciler.faults.problems() == []

    # Meanwhile another space's new app is deployed and the router follows every pass.
    install(manager, "blog", port=8081)
    syncs = router.syncs
    reconciler.run_once()
    assert row(manager, "blog").status == "running"
    assert router.syncs == syncs + 1

    # Still held after the grace period: now it is a problem, named on the space.
    for _ in range(int(TRANSIENT_GRACE) + 1):
        clock.advance(1)
        reconciler.run_once()
    [problem] = reconciler.faults.problems()
    assert problem.key == "space:shop"
    assert problem.error.startswith("removing space 'shop': network t-shop is still in use")

    # Released: the space goes, its fault with it, and its name is free again.
    del swarm.held["t-shop"]
    clock.advance(BACKOFF_CAP)
    reconciler.run_once()
    assert "t-shop" not in swarm.networks
    assert reconciler.faults.current() == []
    with manager.database.session() as session:
        assert session.scalar(select(Space).where(Space.name == "shop")) is None
        create_space(session, name="shop")


def test_a_failing_router_is_retried_with_backoff_and_blocks_no_app_or_space(
    manager: AppManager,
    reconciler: Reconciler,
    swarm: StickySwarm,
    router: FakeRouter,
    clock: Clock,
) -> None:
    with manager.database.session() as session:
        create_space(session, name="shop")
        remove_space(session, name="shop")
    router.error = EnvironmentProblem("the router's admin socket does not answer")
    install(manager, "web")
    report = reconciler.run_once()
    assert report.errors == ["router: the router's admin socket does not answer"]
    assert row(manager, "web").status == "running"
    with manager.database.session() as session:
        assert session.scalar(select(Space).where(Space.name == "shop")) is None
    [fault] = reconciler.faults.problems()
    assert (fault.key, fault.space) == ("router", None)
    reconciler.run_once()
    assert router.syncs == 1, "not again before its backoff"
    router.error = None
    clock.advance(1)
    reconciler.run_once()
    assert router.syncs == 2
    assert reconciler.faults.current() == []


def test_an_unreachable_engine_is_a_fault_until_it_answers(
    manager: AppManager,
    reconciler: Reconciler,
    swarm: StickySwarm,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    observe = swarm.observe_stacks

    def down(client: object, *, instance: str) -> dict[str, ObservedStack]:
        raise EnvironmentProblem("cannot reach the Docker engine")

    monkeypatch.setattr("cloudos.apps._reconciler.observe_stacks", down)
    reconciler.run_once()
    assert [(f.key, f.error) for f in reconciler.faults.problems()] == [
        ("engine", "cannot reach the Docker engine")
    ]
    monkeypatch.setattr("cloudos.apps._reconciler.observe_stacks", observe)
    reconciler.run_once()
    assert reconciler.faults.problems() == []
