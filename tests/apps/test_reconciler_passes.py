"""What an operator sees of each reconcile pass: one log line and the pass metrics.

Around the fake swarm of test_reconciler.py and an injected clock, so durations are
exact; tests/web/test_app.py checks that /metrics serves these metrics.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import pytest
from prometheus_client import CollectorRegistry

from cloudos.apps import AppManager, Reconciler
from cloudos.apps import _reconciler as reconciler_module
from cloudos.engine import ObservedStack
from cloudos.errors import EnvironmentProblem
from cloudos.spaces import create_space, remove_space
from cloudos.statuses import DesiredState
from tests.apps.conftest import hello
from tests.apps.test_reconciler import Clock, FakeSwarm

LOGGER = "cloudos"


class SlowSwarm(FakeSwarm):
    """Every deploy takes a quarter of a second on the reconciler's clock."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock

    def deploy_stack(self, client: object, *, name: str, compose_yaml: str, **_: object) -> None:
        self.clock.advance(0.25)
        super().deploy_stack(client, name=name, compose_yaml=compose_yaml)


class LoadingRouter:
    """Stands in for RouterSync: loads a configuration on each sync, or fails."""

    def __init__(self) -> None:
        self.deploys = self.loads = 0
        self.error: Exception | None = None

    def sync(self, client: object, observed: Mapping[str, ObservedStack]) -> bool:
        if self.error is not None:
            raise self.error
        self.loads += 1
        return False


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def swarm(monkeypatch: pytest.MonkeyPatch, clock: Clock) -> SlowSwarm:
    fake = SlowSwarm(clock)
    fake.install(monkeypatch)
    return fake


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def reconciler_of(
    manager: AppManager,
    clock: Clock,
    registry: CollectorRegistry,
    router: LoadingRouter | None = None,
) -> Reconciler:
    return Reconciler(
        manager=manager,
        connect_engine=lambda: object(),  # type: ignore[arg-type,return-value]
        router=router,  # type: ignore[arg-type]
        clock=clock,
        registry=registry,
    )


@pytest.fixture
def reconciler(manager: AppManager, clock: Clock, registry: CollectorRegistry) -> Reconciler:
    return reconciler_of(manager, clock, registry)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    return caplog


def install(manager: AppManager, name: str, port: int = 8080) -> int:
    return manager.install(space="default", name=name, template=hello(), values={"http_port": port})


def lines(logs: pytest.LogCaptureFixture, level: int = logging.INFO) -> list[str]:
    """The messages the control plane logged at ``level`` or above."""
    return [
        record.getMessage()
        for record in logs.records
        if record.name.startswith(LOGGER) and record.levelno >= level
    ]


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_a_pass_that_deploys_logs_one_line_with_its_actions_and_duration(
    manager: AppManager,
    reconciler: Reconciler,
    swarm: SlowSwarm,
    logs: pytest.LogCaptureFixture,
    registry: CollectorRegistry,
) -> None:
    install(manager, "web")
    install(manager, "blog", port=8081)
    reconciler.run_once()
    assert lines(logs) == [
        "reconcile pass 1: result=ok duration_ms=500 actions=2 deploy=2 errors=0 settling=true"
    ]
    assert sample(registry, "cloudos_reconcile_passes_total", result="ok") == 1
    assert sample(registry, "cloudos_reconcile_passes_total", result="idle") == 0
    assert sample(registry, "cloudos_reconcile_actions_total", kind="deploy") == 2
    assert sample(registry, "cloudos_reconcile_actions_total", kind="remove") == 0
    assert sample(registry, "cloudos_reconcile_pass_seconds_count") == 1
    assert sample(registry, "cloudos_reconcile_pass_seconds_sum") == 0.5
    assert sample(registry, "cloudos_reconcile_pass_seconds_bucket", le="0.5") == 1
    assert sample(registry, "cloudos_reconcile_pass_seconds_bucket", le="0.25") == 0

    manager.set_state(space="default", name="web", state=DesiredState.STOPPED)
    manager.remove(space="default", name="blog", purge=False)
    logs.clear()
    reconciler.run_once()
    # Beside the line of the objects it removed (which the pass line does not name).
    assert lines(logs) == [
        "removed app stack t-default-blog",
        "reconcile pass 2: result=ok duration_ms=250 actions=2 remove=1 stop=1 errors=0"
        " settling=true",
    ]


def test_an_idle_pass_logs_nothing_at_info_only_a_debug_line(
    manager: AppManager,
    reconciler: Reconciler,
    swarm: SlowSwarm,
    logs: pytest.LogCaptureFixture,
    registry: CollectorRegistry,
) -> None:
    install(manager, "web")
    reconciler.run_once()
    logs.clear()
    for _ in range(3):
        reconciler.run_once()
    assert lines(logs) == [], "an idle cloud's log stays quiet"
    assert lines(logs, logging.DEBUG)[-1] == (
        "reconcile pass 4: result=idle duration_ms=0 actions=0 errors=0 settling=false"
    )
    assert sample(registry, "cloudos_reconcile_passes_total", result="idle") == 3
    assert sample(registry, "cloudos_reconcile_passes_total", result="ok") == 1


def test_a_failing_object_is_named_in_the_line_and_counted_by_the_gauge(
    manager: AppManager,
    reconciler: Reconciler,
    swarm: SlowSwarm,
    clock: Clock,
    logs: pytest.LogCaptureFixture,
    registry: CollectorRegistry,
) -> None:
    install(manager, "alpha")
    install(manager, "broken", port=8081)
    swarm.fail_deploy = {"t-default-broken"}
    reconciler.run_once()
    [line] = [line for line in lines(logs) if line.startswith("reconcile pass")]
    assert line == (
        "reconcile pass 1: result=error duration_ms=500 actions=2 deploy=2 errors=1"
        " failed=app:default/broken settling=true"
    )
    assert sample(registry, "cloudos_reconcile_passes_total", result="error") == 1
    assert sample(registry, "cloudos_reconcile_failing_objects", kind="app") == 1
    assert sample(registry, "cloudos_reconcile_failing_objects", kind="router") == 0

    # Waiting for its backoff, it is still failing; the pass tried nothing.
    logs.clear()
    reconciler.run_once()
    assert lines(logs) == []
    assert lines(logs, logging.DEBUG)[-1].endswith("errors=0 deferred=1 settling=false")
    assert sample(registry, "cloudos_reconcile_failing_objects", kind="app") == 1

    swarm.fail_deploy.clear()
    clock.advance(1)
    reconciler.run_once()
    assert sample(registry, "cloudos_reconcile_failing_objects", kind="app") == 0
    assert sample(registry, "cloudos_reconcile_passes_total", result="ok") == 1


def test_the_router_and_removed_spaces_count_as_actions_and_failures(
    manager: AppManager,
    clock: Clock,
    swarm: SlowSwarm,
    logs: pytest.LogCaptureFixture,
    registry: CollectorRegistry,
) -> None:
    router = LoadingRouter()
    reconciler = reconciler_of(manager, clock, registry, router)
    with manager.database.session() as session:
        create_space(session, name="shop")
        remove_space(session, name="shop")
    reconciler.run_once()
    assert lines(logs)[-1] == (
        "reconcile pass 1: result=ok duration_ms=0 actions=2 remove_space=1 router_load=1"
        " errors=0 settling=false"
    )
    assert sample(registry, "cloudos_reconcile_actions_total", kind="router_load") == 1

    router.error = EnvironmentProblem("the router's admin socket does not answer")
    reconciler.run_once()
    assert lines(logs)[-1] == (
        "reconcile pass 2: result=error duration_ms=0 actions=0 errors=1 failed=router"
        " settling=false"
    )
    assert sample(registry, "cloudos_reconcile_failing_objects", kind="router") == 1


def test_an_unreachable_engine_fails_the_pass_by_name(
    reconciler: Reconciler,
    swarm: SlowSwarm,
    logs: pytest.LogCaptureFixture,
    registry: CollectorRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def down(client: object, *, instance: str) -> dict[str, ObservedStack]:
        raise EnvironmentProblem("cannot reach the Docker engine")

    monkeypatch.setattr(reconciler_module, "observe_stacks", down)
    reconciler.run_once()
    assert lines(logs) == [
        "cannot observe the swarm: cannot reach the Docker engine",
        "reconcile pass 1: result=error duration_ms=0 actions=0 errors=1 failed=engine"
        " settling=false",
    ]
    assert sample(registry, "cloudos_reconcile_failing_objects", kind="engine") == 1


def test_a_pass_that_breaks_logs_its_line_with_the_traceback_and_counts_as_an_error(
    manager: AppManager,
    reconciler: Reconciler,
    swarm: SlowSwarm,
    logs: pytest.LogCaptureFixture,
    registry: CollectorRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken_plan(*_: object) -> list[object]:
        raise RuntimeError("a bug in the planner")

    monkeypatch.setattr(reconciler_module, "plan", broken_plan)
    with pytest.raises(RuntimeError):
        reconciler.run_once()
    [record] = [r for r in logs.records if r.levelno >= logging.INFO]
    assert record.levelno == logging.ERROR
    assert record.getMessage().startswith("reconcile pass 1: result=error")
    assert record.exc_info is not None
    assert "a bug in the planner" in logs.text
    assert sample(registry, "cloudos_reconcile_passes_total", result="error") == 1
