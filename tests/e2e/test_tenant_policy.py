"""Template policy on the real swarm: another space's secret is refused by name (the
name is real: the secret is on the engine), a host port needs the space's range and
then answers, and an app on a host port finishes its updates on one node."""

from __future__ import annotations

import json
from collections.abc import Mapping

import httpx
import pytest
import yaml

from tests.e2e.conftest import ControlPlane
from tests.e2e.test_apps import HELLO, page
from tests.helpers import free_port, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.slow]

# The test app without its own stop-first: the platform's update policy (start-first
# by default) applies, as it would to any template that publishes a host port.
HELLO_DEFAULT_ORDER = HELLO.replace(
    "    values: {order: stop-first, monitor: 20s}\n", "    values: {monitor: 20s}\n"
)


def install(
    plane: ControlPlane, space: str, name: str, text: str, **values: object
) -> httpx.Response:
    return plane.api.post(
        f"/spaces/{space}/apps",
        json={"name": name, "template_text": text, "values": values},
    )


def reader(secrets: Mapping[str, object]) -> str:
    """A template whose one service reads the secrets ``secrets`` declares."""
    return yaml.safe_dump(
        {
            "format": "cloudos.template/v1",
            "id": "org.example.reader",
            "version": "1.0.0",
            "name": "Reader",
            "services": {
                "web": {
                    "image": "cloudos/static:0.1",
                    "secrets": [{"source": key, "target": "stolen"} for key in secrets],
                }
            },
            "secrets": secrets,
        }
    )


def test_a_space_cannot_read_another_spaces_secret(control_plane: ControlPlane) -> None:
    plane = control_plane
    for space in ("alpha", "beta"):
        assert plane.api.post("/spaces", json={"name": space}).status_code == 201
    allowed = plane.api.put("/spaces/alpha/policy", json={"allow": [], "ports": "1024-65535"})
    assert allowed.status_code == 200, allowed.text
    created = install(plane, "alpha", "db", HELLO, http_port=free_port(), password="alpha-only")
    assert created.status_code == 201, created.text
    plane.wait_status("db", {"running"}, space="alpha")
    prefix = f"{plane.instance}-alpha-db_password_"
    (secret,) = [s.name for s in plane.docker.secrets.list() if s.name.startswith(prefix)]

    for secrets in (
        {"pw": {"external": True, "name": secret}},
        {secret: {"external": True}},
        {"pw": {"external": {"name": secret}}},
    ):
        answer = install(plane, "beta", "thief", reader(secrets))
        assert answer.status_code == 403, answer.text
        detail = answer.json()["detail"]
        assert f"the secret {secret}, which is not the app's own" in detail
        assert "cloudos space policy beta --allow foreign_secrets" in detail
    # The CLI door says the same in one line and exits non-zero.
    path = plane.data_dir.parent / "thief.yaml"
    path.write_text(reader({"pw": {"external": True, "name": secret}}))
    result = plane.cli("app", "install", str(path), "--name", "thief", "--space", "beta")
    assert result.returncode != 0
    assert f"the secret {secret}, which is not the app's own".encode() in result.stderr
    assert b"Traceback" not in result.stderr
    assert plane.api.get("/spaces/beta/apps").json() == []
    services = plane.docker.services.list(filters={"label": "com.docker.stack.namespace"})
    assert not [s for s in services if s.name.startswith(f"{plane.instance}-beta-")]


def test_a_host_port_needs_the_spaces_range_and_then_answers(
    control_plane: ControlPlane,
) -> None:
    plane = control_plane
    assert plane.api.post("/spaces", json={"name": "ports"}).status_code == 201
    port = free_port()
    refused = install(plane, "ports", "web", HELLO, http_port=port, message="on my port")
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        f"service web: host port {port} (services.web.ports[0]): space 'ports' may publish "
        "no host ports (a cluster admin can allow a range: cloudos space policy ports "
        "--ports FROM-TO)"
    )
    result = plane.cli("space", "policy", "ports", "--ports", f"{port}-{port}", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ports"] == str(port)  # one port, shown as one
    outside = install(plane, "ports", "other", HELLO, http_port=port + 1 if port < 65535 else 1025)
    assert outside.status_code == 403
    assert "is outside the ports space 'ports' may publish" in outside.json()["detail"]
    created = install(plane, "ports", "web", HELLO, http_port=port, message="on my port")
    assert created.status_code == 201, created.text
    plane.wait_status("web", {"running"}, space="ports")
    wait_until(lambda: page(port) == "on my port", timeout=90, what="the app on its port")


def test_an_app_on_a_host_port_finishes_its_update(control_plane: ControlPlane) -> None:
    plane = control_plane
    port = free_port()
    created = install(plane, "default", "hello", HELLO_DEFAULT_ORDER, http_port=port, message="one")
    assert created.status_code == 201, created.text
    plane.wait_status("hello", {"running"})
    wait_until(lambda: page(port) == "one", timeout=90, what="revision 1 on its port")
    updated = plane.api.patch("/spaces/default/apps/hello", json={"values": {"message": "two"}})
    assert updated.status_code == 200, updated.text
    plane.wait_status("hello", {"running"}, revision=2, timeout=120)
    wait_until(lambda: page(port) == "two", timeout=90, what="revision 2 on the same port")
    events = plane.api.get("/spaces/default/apps/hello/events").json()
    notes = [e["message"] for e in events if e["kind"] == "update-order"]
    assert notes
    assert all(f"publishes host port {port}" in note for note in notes)
    assert "stop-first" in notes[0]
