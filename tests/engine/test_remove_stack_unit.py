"""remove_stack against a fake engine: volumes a late task re-creates are removed too."""

from __future__ import annotations

from typing import Any

import pytest
from docker.errors import NotFound

from cloudos.engine import INSTANCE_LABEL, NAMESPACE_LABEL, remove_stack
from cloudos.engine import _stacks as stacks
from cloudos.errors import EnvironmentProblem

STACK = "acme-default-blog"


class _Item:
    def __init__(self, engine: FakeEngine, kind: str, name: str) -> None:
        self.engine, self.kind, self.name = engine, kind, name
        self.attrs = {
            "Spec": {"Labels": {NAMESPACE_LABEL: STACK, INSTANCE_LABEL: "acme"}},
        }

    def remove(self, **_: Any) -> None:
        self.engine.removed.append((self.kind, self.name))
        self.engine.objects[self.kind].discard(self.name)
        if self.kind == "service":
            self.engine.objects["container"].clear()
        if self.kind == "volume" and self.engine.comebacks:
            # The swarm was restarting a task when the service went away: its container
            # starts late and re-creates the volume after it was removed.
            self.engine.comebacks -= 1
            self.engine.objects["container"].add("late-task")
            self.engine.objects["volume"].add(self.name)


class _Collection:
    def __init__(self, engine: FakeEngine, kind: str) -> None:
        self.engine, self.kind = engine, kind

    def list(self, **options: Any) -> list[_Item]:
        items = [
            _Item(self.engine, self.kind, name) for name in sorted(self.engine.objects[self.kind])
        ]
        if self.kind == "container":
            self.engine.objects["container"].clear()  # the late task's container exits
            if items and not options.get("sparse"):
                # As docker-py's full listing does: it inspects each container it
                # listed, and one that exited in between is gone.
                raise NotFound(f"No such container: {items[0].name}")
        return items


class FakeEngine:
    """One stack with a service and a data volume; ``comebacks`` late re-creations."""

    def __init__(self, comebacks: int) -> None:
        self.comebacks = comebacks
        self.removed: list[tuple[str, str]] = []
        self.objects: dict[str, set[str]] = {
            "service": {f"{STACK}_web"},
            "container": set(),
            "network": set(),
            "secret": set(),
            "config": set(),
            "volume": {f"{STACK}_data"},
        }
        self.services = _Collection(self, "service")
        self.containers = _Collection(self, "container")
        self.networks = _Collection(self, "network")
        self.secrets = _Collection(self, "secret")
        self.configs = _Collection(self, "config")
        self.volumes = _Collection(self, "volume")


@pytest.fixture(autouse=True)
def _no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("cloudos.engine._stacks.time.sleep", lambda _seconds: None)


def test_a_volume_recreated_by_a_late_task_is_removed_again() -> None:
    engine = FakeEngine(comebacks=2)
    assert remove_stack(engine, name=STACK, instance="acme", volumes=True)  # type: ignore[arg-type]
    assert engine.objects["volume"] == set()
    assert engine.removed.count(("volume", f"{STACK}_data")) == 3


def test_volumes_are_kept_without_purge_even_when_a_late_task_runs() -> None:
    engine = FakeEngine(comebacks=1)
    remove_stack(engine, name=STACK, instance="acme")  # type: ignore[arg-type]
    assert engine.objects["volume"] == {f"{STACK}_data"}
    assert ("volume", f"{STACK}_data") not in engine.removed


def test_a_volume_that_keeps_coming_back_is_reported_not_looped_on() -> None:
    engine = FakeEngine(comebacks=100)
    with pytest.raises(EnvironmentProblem, match=f"{STACK}_data came back"):
        remove_stack(engine, name=STACK, instance="acme", volumes=True)  # type: ignore[arg-type]
    assert engine.removed.count(("volume", f"{STACK}_data")) == stacks._VOLUME_ROUNDS


def test_containers_exiting_while_they_are_listed_are_waited_for_not_an_error() -> None:
    engine = FakeEngine(comebacks=0)
    engine.objects["container"] = {"task-1", "task-2"}
    engine.services.list = lambda **_: []  # type: ignore[method-assign]  # already removed
    assert remove_stack(engine, name=STACK, instance="acme") is False  # type: ignore[arg-type]
    assert engine.objects["container"] == set()
