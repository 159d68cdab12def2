"""The Docker engine restarted under a running cloud: apps come back, status is
right again. Marked ``disruptive``: it restarts the engine every other test uses, so
it runs after all of them (``make test`` runs it as its own step)."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import time
from pathlib import Path

import docker
import pytest

from tests.e2e.conftest import ControlPlane
from tests.e2e.test_apps import HELLO, page
from tests.helpers import free_port, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.disruptive]

PIDFILE = Path("/var/run/docker.pid")


def restart_engine() -> None:
    """Restart dockerd the way it was started: systemd when it runs, else by hand."""
    if Path("/run/systemd/system").is_dir():
        subprocess.run(["systemctl", "restart", "docker"], check=True)
    else:
        pid = int(PIDFILE.read_text().strip())
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not Path(f"/proc/{pid}").exists(), timeout=60, what="dockerd stopped")
        # As scripts/ensure-engine.sh starts it: detached, outliving this test.
        subprocess.run(
            ["sh", "-c", "nohup dockerd >>/var/log/dockerd.log 2>&1 &"],
            check=True,
            start_new_session=True,
        )

    def answers() -> bool:
        try:
            client = docker.from_env(timeout=5)
        except docker.errors.DockerException:
            return False
        try:
            return bool(client.ping())
        except docker.errors.DockerException:
            return False
        finally:
            client.close()

    wait_until(answers, timeout=90, what="the engine answering again")


# Restarting the engine closes connections that clients in this process keep pooled;
# their sockets are then collected unclosed, which is the point of this test, not a leak.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_apps_come_back_after_an_engine_restart(control_plane: ControlPlane) -> None:
    plane = control_plane
    port = free_port()
    response = plane.api.post(
        "/spaces/default/apps",
        json={
            "name": "survivor",
            "template_text": HELLO,
            "values": {"http_port": port, "message": "alive"},
        },
    )
    assert response.status_code == 201, response.text
    plane.wait_status("survivor", {"running"})
    wait_until(lambda: page(port) == "alive", what="app answering before the restart")

    restart_engine()
    started = time.monotonic()
    # The restart killed the connections pooled by this process's client: drop them now,
    # so no dead socket is left for a later test to trip over.
    plane.docker.api.close()
    gc.collect()

    # The swarm restarts the task; the reconciler notices and reports it running again.
    wait_until(lambda: page(port) == "alive", timeout=180, what="app answering after the restart")
    app = plane.wait_status("survivor", {"running"}, timeout=120)
    assert app["revision"] == 1
    events = plane.api.get("/spaces/default/apps/survivor/events").json()
    assert any(e["kind"] == "status" for e in events)
    assert time.monotonic() - started < 300
