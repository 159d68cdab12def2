"""Apps behind the router: default routes, HTTPS with the internal CA, maintenance
pages, extra routes and the rules that keep host names apart."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import ControlPlane
from tests.e2e.test_apps import HELLO
from tests.helpers import free_port, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def via_router(
    plane: ControlPlane, host: str, *, https: bool = True, path: str = "/"
) -> httpx.Response | None:
    """A request to the router on 127.0.0.1 for ``host`` (None when it does not answer)."""
    if https:
        root = router_root(plane)
        if root is None:
            return None
        context = ssl.create_default_context(cafile=str(root))
        url = f"https://127.0.0.1:{plane.https_port}{path}"
        extensions = {"sni_hostname": host}
        client = httpx.Client(verify=context)
    else:
        url = f"http://127.0.0.1:{plane.http_port}{path}"
        extensions = {}
        client = httpx.Client()
    try:
        with client:
            return client.get(url, headers={"Host": host}, extensions=extensions, timeout=5)
    except httpx.HTTPError:
        return None


def router_root(plane: ControlPlane) -> Path | None:
    """Caddy's internal CA root, from the router's data volume."""
    try:
        volume = plane.docker.volumes.get(f"{plane.instance}-router_data")
    except Exception:
        return None
    root = Path(volume.attrs["Mountpoint"]) / "caddy" / "pki" / "authorities" / "local" / "root.crt"
    return root if root.exists() else None


def text(response: httpx.Response | None) -> str | None:
    return response.text.strip() if response is not None and response.status_code == 200 else None


def test_app_is_served_by_its_host_name_over_https(routed_plane: ControlPlane) -> None:
    plane = routed_plane
    created = plane.api.post(
        "/spaces/default/apps",
        json={
            "name": "hello",
            "template_text": HELLO,
            "values": {"http_port": free_port(), "message": "routed"},
        },
    )
    assert created.status_code == 201, created.text
    app = plane.wait_status("hello", {"running"})
    assert app["urls"] == [f"https://hello.default.localhost:{plane.https_port}/"]

    host = "hello.default.localhost"
    wait_until(
        lambda: text(via_router(plane, host)) == "routed",
        timeout=120,
        what="HTTPS through the router",
    )
    redirect = via_router(plane, host, https=False, path="/x?y=1")
    assert redirect is not None
    assert redirect.status_code == 308
    assert redirect.headers["location"] == f"https://{host}:{plane.https_port}/x?y=1"
    unknown = via_router(plane, "nobody.default.localhost", https=False)
    assert unknown is not None
    assert unknown.status_code == 404

    # Stopped: the router answers with a maintenance page, not an error.
    plane.api.post("/spaces/default/apps/hello/stop")
    plane.wait_status("hello", {"stopped"})
    wait_until(
        lambda: (r := via_router(plane, host)) is not None and r.status_code == 503,
        what="maintenance page",
    )
    assert "hello is stopped" in (via_router(plane, host) or httpx.Response(500)).text
    plane.api.post("/spaces/default/apps/hello/start")
    wait_until(lambda: text(via_router(plane, host)) == "routed", timeout=90, what="served again")

    # An extra route to a port the app serves; refused for a port it does not.
    added = plane.api.post("/routes", json={"app": "hello", "domain": "www.hello.test"})
    assert added.status_code == 201, added.text
    wrong = plane.api.post("/routes", json={"app": "hello", "domain": "x.hello.test", "port": 9999})
    assert wrong.status_code == 422
    assert "does not serve port 9999" in wrong.json()["detail"]
    taken = plane.api.post("/routes", json={"app": "hello", "domain": "www.hello.test"})
    assert taken.status_code == 409
    routes = {r["domain"] for r in plane.api.get("/routes").json()}
    assert routes == {"hello.default.localhost", "www.hello.test"}

    # A domain of one space cannot be claimed by another.
    assert plane.api.post("/spaces", json={"name": "other"}).status_code == 201
    claimed = plane.api.post("/domains", json={"space": "default", "name": "hello.test"})
    assert claimed.status_code == 201, claimed.text
    stolen = plane.api.post("/domains", json={"space": "other", "name": "hello.test"})
    assert stolen.status_code == 409

    certificates = plane.api.get("/certificates").json()
    assert any("hello.default.localhost" in c["names"] for c in certificates)

    # The same through the command line.
    def cloudos(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cloudos", *args],
            env=plane.env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    listed = json.loads(cloudos("route", "ls", "--json").stdout)
    assert {r["domain"] for r in listed} == {"hello.default.localhost", "www.hello.test"}
    added = cloudos(
        "route", "add", "api.hello.test", "--app", "hello", "--path", "/api", "--strip-prefix"
    )
    assert added.returncode == 0, added.stderr
    refused = cloudos("route", "add", "bad..name", "--app", "hello")
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr
    assert cloudos("route", "rm", "api.hello.test", "--path", "/api").returncode == 0
    domains = cloudos("domain", "ls")
    assert "hello.test" in domains.stdout
    certs = cloudos("cert", "ls")
    assert certs.returncode == 0, certs.stderr
    assert "hello.default.localhost" in certs.stdout

    # Redirects, e.g. another name to the app's own.
    made = plane.api.post(
        "/redirects", json={"domain": "go.hello.test", "to": f"https://{host}", "status": 302}
    )
    assert made.status_code == 201, made.text
    wait_until(
        lambda: (
            (r := via_router(plane, "go.hello.test", path="/a")) is not None
            and r.status_code == 302
            and r.headers["location"] == f"https://{host}/a"
        ),
        what="redirect served",
    )
    settings = plane.api.get("/router").json()
    assert (settings["http_port"], settings["https_port"]) == (plane.http_port, plane.https_port)

    # A replaced router task gets its whole configuration back by itself.
    service = plane.docker.services.get(f"{plane.instance}-router_caddy")

    def running_task() -> str | None:
        tasks = service.tasks(filters={"desired-state": "running"})
        return next((t["ID"] for t in tasks if t["Status"]["State"] == "running"), None)

    before = running_task()
    service.force_update()
    wait_until(lambda: running_task() not in (None, before), timeout=60, what="router replaced")
    wait_until(lambda: text(via_router(plane, host)) == "routed", timeout=120, what="config back")

    # Removed: its routes go with it.
    plane.api.delete("/spaces/default/apps/hello")
    wait_until(
        lambda: plane.api.get("/spaces/default/apps/hello").status_code == 404,
        timeout=90,
        what="gone",
    )
    wait_until(
        lambda: (r := via_router(plane, host, https=False)) is not None and r.status_code == 404,
        what="route gone",
    )
    assert plane.api.get("/routes").json() == []
