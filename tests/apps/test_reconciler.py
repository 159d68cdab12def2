"""Reconciler.run_once around a fake swarm: commits, crashes and failures of one app.

The fake only stands in for the engine calls so the code around them can be tested in
milliseconds; tests/e2e/test_apps.py proves the real thing on the real swarm.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from cloudos.apps import AppManager, Deploy, PassReport, ReconcileLoop, Reconciler, Remove
from cloudos.apps import _reconciler as reconciler_module
from cloudos.apps._reconciler import SETTLE_INTERVAL
from cloudos.engine import ObservedService, ObservedStack
from cloudos.errors import EnvironmentProblem
from cloudos.statuses import DesiredState
from cloudos.store.models import App, AppEvent
from tests.apps.conftest import hello
from tests.helpers import TEST_PORTS


class Crash(BaseException):
    """The process dies here (like kill -9): nothing after it runs, nothing catches it."""


class FakeSwarm:
    """Stacks deployed from YAML; every task runs at once unless told otherwise."""

    def __init__(self) -> None:
        self.stacks: dict[str, dict[str, Any]] = {}
        self.secrets: dict[str, str] = {}
        self.networks: set[str] = set()
        self.deploys: list[str] = []
        self.fail_deploy: set[str] = set()
        self.crash_after_deploy = False

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in (
            "observe_stacks",
            "deploy_stack",
            "ensure_network",
            "ensure_secret",
            "prune_secrets",
            "remove_stack",
            "remove_network",
        ):
            monkeypatch.setattr(reconciler_module, name, getattr(self, name))

    def observe_stacks(self, client: object, *, instance: str) -> dict[str, ObservedStack]:
        return {
            name: ObservedStack(
                name,
                tuple(
                    ObservedService(
                        f"{name}_{service}",
                        replicas=spec["deploy"].get("replicas", 1),
                        running=spec["deploy"].get("replicas", 1),
                        starting=0,
                        labels=dict(spec["deploy"]["labels"]),
                    )
                    for service, spec in sorted(stack["services"].items())
                ),
            )
            for name, stack in sorted(self.stacks.items())
        }

    def deploy_stack(self, client: object, *, name: str, compose_yaml: str, **_: object) -> None:
        if name in self.fail_deploy:
            raise EnvironmentProblem(f"deploying stack {name!r} failed: image not found")
        self.stacks[name] = yaml.safe_load(compose_yaml)
        self.deploys.append(name)
        if self.crash_after_deploy:
            self.crash_after_deploy = False
            raise Crash

    def ensure_network(self, client: object, *, name: str, **_: object) -> None:
        self.networks.add(name)

    def ensure_secret(self, client: object, *, name: str, data: str, **_: object) -> None:
        self.secrets[name] = data

    def prune_secrets(self, client: object, *, keep: object, **_: object) -> None:
        return None

    def remove_stack(self, client: object, *, name: str, **_: object) -> bool:
        return self.stacks.pop(name, None) is not None

    def remove_network(self, client: object, *, name: str, **_: object) -> None:
        self.networks.discard(name)


@pytest.fixture
def swarm(monkeypatch: pytest.MonkeyPatch) -> FakeSwarm:
    fake = FakeSwarm()
    fake.install(monkeypatch)
    return fake


class Clock:
    """The reconciler's clock (monotonic seconds), moved by the test instead of sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def reconciler(manager: AppManager, clock: Clock) -> Reconciler:
    return Reconciler(manager=manager, connect_engine=lambda: object(), clock=clock)  # type: ignore[arg-type,return-value]


def install(manager: AppManager, name: str, port: int = 8080) -> int:
    return manager.install(space="default", name=name, template=hello(), values={"http_port": port})


def row(manager: AppManager, name: str) -> App:
    with manager.database.session() as session:
        return manager.get(session, "default", name)


def test_a_pass_deploys_records_the_attempt_and_the_status(
    manager: AppManager, reconciler: Reconciler, swarm: FakeSwarm
) -> None:
    install(manager, "web")
    report = reconciler.run_once()
    assert report.actions == [Deploy(1, "t-default-web", stopped=False)]
    assert report.errors == []
    app = row(manager, "web")
    with manager.database.session() as session:
        spec = manager.revision(session, app, 1).spec_hash
    assert app.attempted_spec == f"{spec}:running"
    assert app.deployed_at is not None
    assert (app.status, app.status_reason) == ("running", None)
    assert swarm.networks == {"t-default"}
    assert list(swarm.secrets) == [
        s["name"] for s in swarm.stacks["t-default-web"]["secrets"].values()
    ]
    # Level-triggered: a second pass has nothing to do and records nothing new.
    with manager.database.session() as session:
        events = session.scalars(select(AppEvent.id)).all()
    assert reconciler.run_once().actions == []
    with manager.database.session() as session:
        assert session.scalars(select(AppEvent.id)).all() == events
    assert swarm.deploys == ["t-default-web"]


def test_a_crash_right_after_deploying_is_finished_by_the_next_pass(
    manager: AppManager, reconciler: Reconciler, swarm: FakeSwarm
) -> None:
    install(manager, "web")
    swarm.crash_after_deploy = True
    with pytest.raises(Crash):
        reconciler.run_once()
    assert row(manager, "web").attempted_spec is None  # the crash came before the record
    report = reconciler.run_once()
    assert report.actions == [], "the stack already carries the target: no second deploy"
    app = row(manager, "web")
    assert app.status == "running"
    assert app.attempted_spec is not None
    assert app.attempted_spec.endswith(":running")
    assert app.deployed_at is not None
    assert swarm.deploys == ["t-default-web"]


def test_a_crash_mid_update_converges_and_keeps_one_stack(
    manager: AppManager, reconciler: Reconciler, swarm: FakeSwarm
) -> None:
    install(manager, "web")
    reconciler.run_once()
    manager.update(space="default", name="web", values={"message": "two"})
    swarm.crash_after_deploy = True
    with pytest.raises(Crash):
        reconciler.run_once()
    reconciler.run_once()
    app = row(manager, "web")
    with manager.database.session() as session:
        spec = manager.revision(session, app, 2).spec_hash
    assert (app.revision, app.status, app.attempted_spec) == (2, "running", f"{spec}:running")
    assert swarm.stacks["t-default-web"]["services"]["web"]["environment"]["MESSAGE"] == "two"
    assert list(swarm.stacks) == ["t-default-web"]


def test_one_failing_app_does_not_stop_the_others(
    manager: AppManager, reconciler: Reconciler, swarm: FakeSwarm, clock: Clock
) -> None:
    for number, name in enumerate(["alpha", "broken", "gamma"]):
        install(manager, name, port=8080 + number)
    swarm.fail_deploy = {"t-default-broken"}
    report = reconciler.run_once()
    assert len(report.actions) == 3
    assert report.errors == ["deploying stack 't-default-broken' failed: image not found"]
    assert sorted(swarm.stacks) == ["t-default-alpha", "t-default-gamma"]
    assert row(manager, "alpha").status == "running"
    assert row(manager, "gamma").status == "running"
    broken = row(manager, "broken")
    assert broken.status == "failed"
    assert broken.status_reason == "deploying stack 't-default-broken' failed: image not found"
    # It is retried once its backoff has passed, and converges once the cause is gone.
    swarm.fail_deploy.clear()
    assert reconciler.run_once().deferred == [Deploy(2, "t-default-broken", stopped=False)]
    clock.advance(1)
    assert reconciler.run_once().actions == [Deploy(2, "t-default-broken", stopped=False)]
    assert row(manager, "broken").status == "running"


def test_a_failed_update_keeps_failed_instead_of_flapping_to_running(
    manager: AppManager, reconciler: Reconciler, swarm: FakeSwarm
) -> None:
    install(manager, "web")
    reconciler.run_once()
    manager.update(space="default", name="web", values={"message": "two"})
    swarm.fail_deploy = {"t-default-web"}
    for _ in range(3):
        reconciler.run_once()
        app = row(manager, "web")
        assert (app.status, app.status_reason) == (
            "failed",
            "deploying stack 't-default-web' failed: image not found",
        )
    with manager.database.session() as session:
        kinds = session.scalars(select(AppEvent.message).where(AppEvent.kind == "status")).all()
    assert kinds.count("running -> failed") <= 1
    assert not any(message.startswith("failed -> ") for message in kinds)


def test_stop_start_and_remove_with_purge(
    manager: AppManager, reconciler: Reconciler, swarm: FakeSwarm
) -> None:
    install(manager, "web")
    reconciler.run_once()
    manager.set_state(space="default", name="web", state=DesiredState.STOPPED)
    assert reconciler.run_once().actions == [Deploy(1, "t-default-web", stopped=True)]
    assert swarm.stacks["t-default-web"]["services"]["web"]["deploy"]["replicas"] == 0
    assert row(manager, "web").status == "stopped"
    manager.set_state(space="default", name="web", state=DesiredState.RUNNING)
    reconciler.run_once()
    assert row(manager, "web").status == "running"
    manager.remove(space="default", name="web", purge=True)
    assert reconciler.run_once().actions == [Remove(1, "t-default-web", purge=True)]
    assert swarm.stacks == {}
    with manager.database.session() as session:
        assert session.scalars(select(App)).all() == []
    assert reconciler.run_once().actions == []


def test_orphans_go_and_removed_spaces_are_finished(
    manager: AppManager, reconciler: Reconciler, swarm: FakeSwarm
) -> None:
    from cloudos.spaces import create_space, remove_space, set_ports

    with manager.database.session() as session:
        create_space(session, name="shop")
        set_ports(session, name="shop", ports=TEST_PORTS)
    manager.install(space="shop", name="web", template=hello(), values={"http_port": 1})
    reconciler.run_once()
    assert swarm.networks == {"t-shop"}
    swarm.stacks["t-default-lost"] = dict(swarm.stacks["t-shop-web"])  # a crash's leftover
    with manager.database.session() as session:
        remove_space(session, name="shop", force=True)
    reconciler.run_once()
    assert swarm.stacks == {}
    assert swarm.networks == set()
    with manager.database.session() as session:
        assert session.scalar(select(App)) is None


def test_a_pass_says_when_apps_are_still_settling(
    manager: AppManager, reconciler: Reconciler, swarm: FakeSwarm, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(manager, "web")
    assert reconciler.run_once().settling, "it deployed: look again soon"
    assert not reconciler.run_once().settling, "running: nothing to watch"
    starting = swarm.observe_stacks
    monkeypatch.setattr(
        reconciler_module,
        "observe_stacks",
        lambda client, *, instance: {
            name: ObservedStack(name, tuple(replace(s, running=0) for s in stack.services))
            for name, stack in starting(client, instance=instance).items()
        },
    )
    assert reconciler.run_once().settling
    assert row(manager, "web").status == "starting"


class ScriptedReconciler:
    """Reports ``settling`` for the first passes, then idles; counts passes."""

    def __init__(self, settling_passes: int) -> None:
        self.left = settling_passes
        self.times: list[float] = []

    def run_once(self) -> PassReport:
        self.times.append(time.monotonic())
        self.left -= 1
        return PassReport(settling=self.left >= 0)


def test_the_loop_looks_again_quickly_while_apps_settle_then_waits_the_interval() -> None:
    scripted = ScriptedReconciler(settling_passes=3)
    loop = ReconcileLoop(scripted, interval=60)  # type: ignore[arg-type]
    loop.start()
    try:
        deadline = time.monotonic() + 5
        while len(scripted.times) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(SETTLE_INTERVAL * 2)
        passes = len(scripted.times)
    finally:
        loop.stop()
    # 3 settling passes, 1 idle one, then nothing until the interval (or a wake-up).
    assert passes == 4
    gaps = [b - a for a, b in zip(scripted.times, scripted.times[1:4], strict=False)]
    assert all(gap < SETTLE_INTERVAL + 0.2 for gap in gaps), gaps
