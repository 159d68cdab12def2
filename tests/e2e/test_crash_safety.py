"""The control plane killed with SIGKILL in the middle of installs, updates and
removals: after each restart every app converges, none lost, none duplicated."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cloudos.engine import observe_stacks
from tests.e2e.conftest import ControlPlane
from tests.e2e.test_apps import HELLO, page
from tests.helpers import free_port, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.slow]


class World:
    """What the test asked for, to compare with what converged."""

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane
        self.apps: dict[str, dict[str, object]] = {}  # name -> {"port", "message", "state"}
        self.purged: list[str] = []

    def install(self, name: str) -> None:
        port = free_port()
        response = self.plane.api.post(
            "/spaces/default/apps",
            json={
                "name": name,
                "template_text": HELLO,
                "template_source": "hello.yaml",
                "values": {"http_port": port, "message": f"{name}-1"},
            },
        )
        assert response.status_code == 201, response.text
        self.apps[name] = {"port": port, "message": f"{name}-1", "state": "running"}

    def update(self, name: str, message: str) -> None:
        response = self.plane.api.patch(
            f"/spaces/default/apps/{name}", json={"values": {"message": message}}
        )
        assert response.status_code == 200, response.text
        self.apps[name]["message"] = message

    def rollback(self, name: str, message: str) -> None:
        response = self.plane.api.post(f"/spaces/default/apps/{name}/rollback", json={})
        assert response.status_code == 200, response.text
        self.apps[name]["message"] = message

    def set_state(self, name: str, state: str) -> None:
        verb = "stop" if state == "stopped" else "start"
        response = self.plane.api.post(f"/spaces/default/apps/{name}/{verb}")
        assert response.status_code == 200, response.text
        self.apps[name]["state"] = state

    def remove(self, name: str, *, purge: bool) -> None:
        if not purge:
            # Data to keep: the engine makes an app's volume when its first task starts,
            # which a kill can put off past the removal; wait for it, so that "kept"
            # below means the removal left it, not that it was never made.
            volume = f"{self.plane.instance}-default-{name}_data"
            wait_until(
                lambda: bool(self.plane.docker.volumes.list(filters={"name": volume})),
                timeout=180,
                what=f"the volume of {name}",
            )
        response = self.plane.api.delete(
            f"/spaces/default/apps/{name}", params={"purge": str(purge).lower()}
        )
        assert response.status_code == 202, response.text
        del self.apps[name]
        if purge:
            self.purged.append(name)


def test_kill_9_during_operations_converges(control_plane: ControlPlane, tmp_path: Path) -> None:
    plane = control_plane
    world = World(plane)
    rng = random.Random(20261122)
    operations: list[Callable[[], None]] = [
        lambda: world.install("a"),
        lambda: world.install("b"),
        lambda: world.install("c"),
        lambda: world.update("a", "a-2"),
        lambda: world.install("d"),
        lambda: world.update("b", "b-2"),
        lambda: world.remove("c", purge=False),
        lambda: world.set_state("b", "stopped"),
        lambda: world.update("d", "d-2"),
        lambda: world.install("e"),
        lambda: world.rollback("d", "d-1"),
        lambda: world.set_state("b", "running"),
        lambda: world.update("e", "e-2"),
        lambda: world.remove("a", purge=True),
        lambda: world.install("f"),
        lambda: world.update("f", "f-2"),
        lambda: world.remove("e", purge=True),
        lambda: world.install("g"),
        lambda: world.update("g", "g-2"),
        lambda: world.update("b", "b-3"),
        lambda: world.remove("f", purge=False),
    ]
    assert len(operations) >= 20
    kills = 0
    for number, operation in enumerate(operations, start=1):
        operation()
        if number % 2 == 0:
            # Kill at a random moment of the reconciler's work on what was just asked.
            time.sleep(rng.uniform(0.0, 1.5))
            plane.kill()
            kills += 1
            plane.start()
    assert kills >= 10

    def converged() -> bool:
        listed = plane.api.get("/spaces/default/apps").json()
        if sorted(app["name"] for app in listed) != sorted(world.apps):
            return False
        for app in listed:
            want = world.apps[app["name"]]
            expected = "running" if want["state"] == "running" else "stopped"
            if app["status"] != expected:
                return False
        return all(
            page(int(str(want["port"]))) == want["message"]
            for want in world.apps.values()
            if want["state"] == "running"
        )

    wait_until(converged, timeout=300, what="every app converged after the crashes")

    # None lost, none duplicated: exactly one stack per app, nothing left of removed ones.
    stacks = {
        name
        for name, stack in observe_stacks(plane.docker, instance=plane.instance).items()
        if stack.label("io.cloudos.app") is not None
    }
    assert stacks == {f"{plane.instance}-default-{name}" for name in world.apps}
    for name in world.purged:
        assert not plane.docker.volumes.list(filters={"name": f"{plane.instance}-default-{name}_"})
    for name in ("c", "f"):  # removed without purge: data kept
        assert plane.docker.volumes.list(filters={"name": f"{plane.instance}-default-{name}_data"})
    revisions = plane.api.get("/spaces/default/apps/d/revisions").json()
    assert [r["number"] for r in revisions] == [1, 2, 3]
