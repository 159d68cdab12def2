"""App lifecycle on the real swarm: install, update, automatic and manual rollback,
stop/start, remove with and without purge."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import ControlPlane
from tests.helpers import TEST_PORTS, free_port, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.slow]

HELLO = (Path(__file__).parent / "apps" / "hello.yaml").read_text()


def page(port: int, path: str = "/") -> str | None:
    """The app's page, or None when nothing answers."""
    try:
        response = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2)
    except httpx.HTTPError:
        return None
    return response.text.strip() if response.status_code == 200 else None


def install(plane: ControlPlane, name: str, **values: object) -> httpx.Response:
    return plane.api.post(
        "/spaces/default/apps",
        json={
            "name": name,
            "template_text": HELLO,
            "template_source": "hello.yaml",
            "values": values,
        },
    )


def test_lifecycle(control_plane: ControlPlane) -> None:
    plane = control_plane
    port = free_port()
    created = install(plane, "hello", http_port=port, message="first: {#} $x")
    assert created.status_code == 201, created.text
    assert created.json()["revision"] == 1

    plane.wait_status("hello", {"running"})
    wait_until(lambda: page(port) == "first: {#} $x", what="page of revision 1")

    # Update one parameter: a rolling update to revision 2, other values kept.
    updated = plane.api.patch("/spaces/default/apps/hello", json={"values": {"message": "second"}})
    assert updated.status_code == 200, updated.text
    assert updated.json()["revision"] == 2
    wait_until(lambda: page(port) == "second", timeout=90, what="page of revision 2")
    plane.wait_status("hello", {"running"}, revision=2)

    # An update whose health check fails is rolled back by the swarm, and said so.
    broken = plane.api.patch(
        "/spaces/default/apps/hello",
        json={"values": {"health_path": "/missing", "message": "third"}},
    )
    assert broken.json()["revision"] == 3
    app = plane.wait_status("hello", {"rolled back"}, timeout=180)
    assert "rolled back" in app["status_reason"]
    wait_until(lambda: page(port) == "second", timeout=60, what="old revision serving again")

    # Manual rollback to revision 1: a new revision 4 with revision 1's configuration.
    back = plane.api.post("/spaces/default/apps/hello/rollback", json={"to": 1})
    assert back.json()["revision"] == 4
    wait_until(lambda: page(port) == "first: {#} $x", timeout=90, what="revision 1 serving again")
    plane.wait_status("hello", {"running"}, revision=4)
    revisions = plane.api.get("/spaces/default/apps/hello/revisions").json()
    assert [r["number"] for r in revisions] == [1, 2, 3, 4]
    assert revisions[-1]["note"] == "rollback to revision 1"
    detail = plane.api.get("/spaces/default/apps/hello/revisions/1").json()
    assert detail["values"]["password"] == "********"
    assert "MESSAGE: 'first: {#} $$x'" in detail["stack_yaml"]

    # Stop scales to zero and start brings the replicas back.
    plane.api.post("/spaces/default/apps/hello/stop")
    plane.wait_status("hello", {"stopped"})
    wait_until(lambda: page(port) is None, what="stopped app stops answering")
    plane.api.post("/spaces/default/apps/hello/start")
    plane.wait_status("hello", {"running"})
    wait_until(lambda: page(port) == "first: {#} $x", what="started app answers")

    events = [e["kind"] for e in plane.api.get("/spaces/default/apps/hello/events").json()]
    assert {"install", "update", "rollback", "deploy", "status"} <= set(events)

    # Remove without purge: the app goes, its volume stays.
    volume = f"{plane.instance}-default-hello_data"
    assert plane.docker.volumes.get(volume)
    assert plane.api.delete("/spaces/default/apps/hello").status_code == 202
    wait_until(
        lambda: plane.api.get("/spaces/default/apps/hello").status_code == 404,
        timeout=90,
        what="app gone",
    )
    wait_until(lambda: page(port) is None, what="removed app stops answering")
    assert plane.docker.volumes.get(volume)
    # Secrets are copies of values that went with the app: they go too.
    assert not plane.docker.secrets.list(filters={"name": f"{plane.instance}-default-hello_"})


def test_remove_with_purge_drops_volumes_and_secrets(control_plane: ControlPlane) -> None:
    plane = control_plane
    port = free_port()
    assert install(plane, "gone", http_port=port).status_code == 201
    plane.wait_status("gone", {"running"})
    volume = f"{plane.instance}-default-gone_data"
    assert plane.docker.volumes.get(volume)
    stack_secrets = plane.docker.secrets.list(filters={"name": f"{plane.instance}-default-gone_"})
    assert stack_secrets, "the password parameter is handed over as a Docker secret"
    assert (
        plane.api.delete("/spaces/default/apps/gone", params={"purge": "true"}).status_code == 202
    )
    wait_until(
        lambda: plane.api.get("/spaces/default/apps/gone").status_code == 404,
        timeout=90,
        what="app gone",
    )
    wait_until(
        lambda: not plane.docker.volumes.list(filters={"name": volume}), what="volume purged"
    )
    assert not plane.docker.secrets.list(filters={"name": f"{plane.instance}-default-gone_"})


def test_missing_image_fails_with_the_reason(control_plane: ControlPlane) -> None:
    plane = control_plane
    created = install(plane, "broken", http_port=free_port(), image="cloudos/does-not-exist:1")
    assert created.status_code == 201
    app = plane.wait_status("broken", {"failed"}, timeout=60)
    assert "cloudos/does-not-exist:1" in app["status_reason"]


def test_invalid_values_deploy_nothing(control_plane: ControlPlane) -> None:
    plane = control_plane
    response = install(plane, "bad", http_port="not-a-port")
    assert response.status_code == 422
    assert "http_port" in response.json()["detail"]
    assert plane.api.get("/spaces/default/apps/bad").status_code == 404
    assert plane.api.get("/spaces/default/apps").json() == []


def test_adopt_an_existing_stack_keeps_its_data(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    plane = control_plane
    port = free_port()
    stack = f"hand{plane.instance[-6:]}"
    compose = tmp_path / "stack.yml"
    compose.write_text(
        f"""
version: "3.8"
services:
  web:
    image: cloudos/static:0.1
    ports: [{{target: 8080, published: {port}, mode: host}}]
    volumes: [site:/srv/www]
    deploy: {{endpoint_mode: dnsrr}}
volumes:
  site: {{}}
"""
    )
    try:
        subprocess.run(
            ["docker", "stack", "deploy", "--resolve-image", "never", "-c", str(compose), stack],
            check=True,
            capture_output=True,
        )
        label: dict[str, str | list[str] | bool] = {
            "label": f"com.docker.swarm.service.name={stack}_web"
        }
        wait_until(lambda: bool(plane.docker.containers.list(filters=label)), what="hand-made task")
        container = plane.docker.containers.list(filters=label)[0]
        container.exec_run(["sh", "-c", "echo kept-data > /srv/www/index.html"], user="0")
        wait_until(lambda: page(port) == "kept-data", what="hand-made stack serving")

        listed = plane.api.get("/stacks/unmanaged").json()
        assert {"name": stack, "services": [f"{stack}_web"]} in listed
        # A few reconcile passes later it is still untouched.
        time.sleep(3)
        spec = plane.docker.services.get(f"{stack}_web").attrs["Spec"]  # type: ignore[no-untyped-call]
        assert "io.cloudos.instance" not in spec["Labels"]

        adopted = plane.api.post("/spaces/default/adopt", json={"stack": stack, "name": "adopted"})
        assert adopted.status_code == 201, adopted.text
        plane.wait_status("adopted", {"running"})
        wait_until(
            lambda: (
                plane.docker.services.get(f"{stack}_web")  # type: ignore[no-untyped-call]
                .attrs["Spec"]["Labels"]
                .get("io.cloudos.instance")
                == plane.instance
            ),
            what="adopted stack labelled as ours",
        )
        wait_until(lambda: page(port) == "kept-data", timeout=60, what="same data after adoption")
        assert stack not in [s["name"] for s in plane.api.get("/stacks/unmanaged").json()]
        revision = plane.api.get("/spaces/default/apps/adopted/revisions/1").json()
        assert "cloudos/static:0.1" in revision["stack_yaml"]
    finally:
        subprocess.run(["docker", "stack", "rm", stack], capture_output=True, check=False)


def reach(plane: ControlPlane, from_stack: str, to_host: str) -> bool:
    """Whether a task of ``from_stack`` gets an HTTP answer from ``to_host:8080``."""
    label: dict[str, str | list[str] | bool] = {"label": f"com.docker.stack.namespace={from_stack}"}
    container = plane.docker.containers.list(filters=label)[0]
    result = container.exec_run(
        ["curl", "-fsS", "-m", "3", "-o", "/dev/null", f"http://{to_host}:8080/"]
    )
    return result.exit_code == 0


def test_spaces_keep_apps_apart(control_plane: ControlPlane) -> None:
    plane = control_plane
    created = plane.api.post("/spaces", json={"name": "blue"})
    assert created.status_code == 201, created.text
    assert created.json()["domain"] == "blue.localhost"
    assert plane.api.post("/spaces", json={"name": "blue"}).status_code == 409
    assert plane.api.post("/spaces", json={"name": "Bad Name"}).status_code == 422
    spaces = {s["name"]: s for s in plane.api.get("/spaces").json()}
    assert set(spaces) == {"default", "blue"}
    # Its app publishes a host port, as those of default do (tests/helpers.py).
    ports = plane.api.put("/spaces/blue/policy", json={"allow": [], "ports": TEST_PORTS})
    assert ports.status_code == 200, ports.text

    for space, name in (("default", "one"), ("default", "two"), ("blue", "three")):
        response = plane.api.post(
            f"/spaces/{space}/apps",
            json={"name": name, "template_text": HELLO, "values": {"http_port": free_port()}},
        )
        assert response.status_code == 201, response.text
    for space, name in (("default", "one"), ("default", "two"), ("blue", "three")):
        plane.wait_status(name, {"running"}, space=space)

    one, two, three = (
        f"{plane.instance}-{s}-{n}"
        for s, n in (("default", "one"), ("default", "two"), ("blue", "three"))
    )
    # Apps of one space reach each other's web services by full name...
    assert reach(plane, two, f"{one}_web")
    # ...apps of another space cannot, not even by the short alias.
    assert not reach(plane, three, f"{one}_web")
    assert not reach(plane, one, f"{three}_web")

    # A space with apps is only removed with force; then its apps and network go.
    refused = plane.api.delete("/spaces/blue")
    assert refused.status_code == 409
    assert "three" in refused.json()["detail"]
    assert plane.api.delete("/spaces/blue", params={"force": "true"}).status_code == 204
    wait_until(
        lambda: (
            "blue" not in {s["name"] for s in plane.api.get("/spaces").json()}
            and not plane.docker.networks.list(names=[f"{plane.instance}-blue"])
        ),
        timeout=90,
        what="space blue and its network gone",
    )
    assert not plane.docker.services.list(filters={"label": f"com.docker.stack.namespace={three}"})


def running_tasks(plane: ControlPlane, app: str) -> set[str]:
    """IDs of the running tasks of ``app``'s services."""
    label = {"label": f"io.cloudos.instance={plane.instance}"}
    return {
        task["ID"]
        for service in plane.docker.services.list(filters=label)
        if app in service.name
        for task in service.tasks(filters={"desired-state": "running"})  # type: ignore[no-untyped-call]
        if task["Status"]["State"] == "running"
    }


def test_command_line_drives_the_lifecycle(control_plane: ControlPlane, tmp_path: Path) -> None:
    plane = control_plane
    hello = tmp_path / "hello.yaml"
    hello.write_text(HELLO)
    port = free_port()

    def cloudos(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cloudos", *args],
            env=plane.env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    installed = cloudos(
        "app",
        "install",
        str(hello),
        "--space",
        "default",
        "--name",
        "cli",
        "--set",
        f"http_port={port}",
        "--set",
        "message=via cli",
        "--wait",
        "--timeout",
        "120",
    )
    assert installed.returncode == 0, installed.stderr
    assert page(port) == "via cli"

    listed = json.loads(cloudos("app", "ls", "--space", "default", "--json").stdout)
    assert [(a["name"], a["status"], a["revision"]) for a in listed] == [("cli", "running", 1)]

    updated = cloudos("app", "update", "cli", "--set", "message=changed", "--wait")
    assert updated.returncode == 0, updated.stderr
    assert page(port) == "changed"

    # A failing update: --wait reports the rollback and exits non-zero.
    failing = cloudos(
        "app", "update", "cli", "--set", "health_path=/nope", "--wait", "--timeout", "240"
    )
    assert failing.returncode == 1
    assert "rolled back" in failing.stderr
    wait_until(lambda: page(port) == "changed", what="revision 2 serving again")

    logs = cloudos("app", "logs", "cli", "--tail", "50")
    assert logs.returncode == 0, logs.stderr
    assert "web | " in logs.stdout
    assert '"GET / HTTP/1.1" 200' in logs.stdout

    revisions = json.loads(cloudos("app", "revisions", "cli", "--json").stdout)
    assert [r["number"] for r in revisions] == [1, 2, 3]
    shown = cloudos("app", "revisions", "cli", "--show", "2")
    assert "MESSAGE: changed" in shown.stdout

    back = cloudos("app", "rollback", "cli", "--to", "1", "--wait")
    assert back.returncode == 0, back.stderr
    assert page(port) == "via cli"

    # Live resource use per service, and logs that follow new lines as they come.
    stats = json.loads(cloudos("app", "stats", "cli", "--json").stdout)
    assert [entry["service"] for entry in stats] == ["web"]
    assert stats[0]["memory_bytes"] > 0
    follower = subprocess.Popen(
        [sys.executable, "-m", "cloudos", "app", "logs", "cli", "--follow", "--tail", "0"],
        env=plane.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    seen: list[str] = []

    def read() -> None:
        assert follower.stdout is not None
        for line in follower.stdout:
            seen.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()

    def followed() -> bool:
        page(port, path="/followed")  # a request to look for in the logs
        return any("/followed" in line for line in seen)

    try:
        wait_until(followed, timeout=60, what="a new request showing up in the followed logs")
    finally:
        follower.terminate()
        follower.wait(timeout=30)
        reader.join(timeout=10)  # the pipe ends with the process
        if follower.stdout:
            follower.stdout.close()

    # --since leaves out what came before it.
    page(port, path="/before-since")
    time.sleep(2)
    mark = datetime.now(UTC).isoformat()  # a time, not seconds: this machine may be slow
    time.sleep(1)
    page(port, path="/after-since")
    recent = cloudos("app", "logs", "cli", "--since", mark)
    assert recent.returncode == 0, recent.stderr
    assert "/after-since" in recent.stdout
    assert "/before-since" not in recent.stdout
    assert "/before-since" in cloudos("app", "logs", "cli", "--since", "10m").stdout

    # Restart replaces every task and the app serves again.
    before = running_tasks(plane, "cli")
    assert len(before) == 1
    restarted = cloudos("app", "restart", "cli", "--wait", "--timeout", "120")
    assert restarted.returncode == 0, restarted.stderr
    after = running_tasks(plane, "cli")
    assert len(after) == 1
    assert after.isdisjoint(before)
    assert page(port) == "via cli"

    missing = cloudos("app", "show", "nope")
    assert missing.returncode == 1
    assert "Traceback" not in missing.stderr
    assert "nope" in missing.stderr

    removed = cloudos("app", "rm", "cli", "--purge", "--yes", "--wait")
    assert removed.returncode == 0, removed.stderr
    assert page(port) is None


def test_taken_port_and_impossible_placement_fail_with_reasons(control_plane: ControlPlane) -> None:
    plane = control_plane
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        assert install(plane, "clash", http_port=taken).status_code == 201
        app = plane.wait_status("clash", {"failed"}, timeout=60)
    assert str(taken) in app["status_reason"] or "in use" in app["status_reason"]

    placement = "    deploy:\n      placement:\n        constraints: [node.labels.zone == mars]\n"
    nowhere = HELLO.replace("    healthcheck:", placement + "    healthcheck:")
    response = plane.api.post(
        "/spaces/default/apps",
        json={"name": "mars", "template_text": nowhere, "values": {"http_port": free_port()}},
    )
    assert response.status_code == 201, response.text
    app = plane.wait_status("mars", {"failed"}, timeout=60)
    assert "no suitable node" in app["status_reason"]
