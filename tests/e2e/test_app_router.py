"""Apps behind the router: default routes, HTTPS with the internal CA, maintenance
pages, extra routes and the rules that keep host names apart."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any, Protocol

import docker
import httpx
import pytest
import yaml

from cloudos.engine.images import image_ref
from tests.e2e.conftest import UNREACHABLE_ACME, ControlPlane
from tests.e2e.test_apps import HELLO
from tests.helpers import free_port, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.slow]


class Routed(Protocol):
    """A cloud with a router: its engine, instance name and router ports."""

    docker: docker.DockerClient
    instance: str
    http_port: int
    https_port: int


def via_router(
    plane: Routed, host: str, *, https: bool = True, path: str = "/"
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


def router_root(plane: Routed) -> Path | None:
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
    prefixed = cloudos(
        "route", "add", "api.hello.test", "--app", "hello", "--path", "/api", "--strip-prefix"
    )
    assert prefixed.returncode == 0, prefixed.stderr
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
    service = plane.docker.services.get(f"{plane.instance}-router_caddy")  # type: ignore[no-untyped-call]

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


def probe_template() -> str:
    """The probe (apps/probe.py: forward-auth check, body echo, WebSocket echo) as an app:
    the control plane's image has the python3 it needs."""
    script = (Path(__file__).parent / "apps" / "probe.py").read_text()
    assert "$" not in script  # template syntax: the script goes in verbatim
    health = "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/')"
    document = {
        "format": "cloudos.template/v1",
        "id": "org.cloudos.test.probe",
        "version": "1.0.0",
        "name": "Probe",
        "description": "Answers what the router tests ask (end-to-end test app).",
        "license": "Apache-2.0",
        "services": {
            "web": {
                "image": image_ref("control"),
                "command": ["python3", "-c", script],
                "healthcheck": {
                    "test": ["CMD", "python3", "-c", health],
                    "interval": "2s",
                    "timeout": "2s",
                    "retries": 3,
                    "start_period": "2s",
                },
            }
        },
        "routes": [{"service": "web", "port": 8080}],
    }
    return yaml.safe_dump(document, sort_keys=False)


def routed(
    plane: ControlPlane, method: str, host: str, path: str = "/", **kwargs: Any
) -> httpx.Response | None:
    """A request over HTTPS to the router for ``host`` (None when it does not answer)."""
    root = router_root(plane)
    if root is None:
        return None
    context = ssl.create_default_context(cafile=str(root))
    headers = {"Host": host, **kwargs.pop("headers", {})}
    try:
        with httpx.Client(verify=context) as client:
            return client.request(
                method,
                f"https://127.0.0.1:{plane.https_port}{path}",
                headers=headers,
                extensions={"sni_hostname": host},
                timeout=10,
                **kwargs,
            )
    except httpx.HTTPError:
        return None


def websocket_echo(plane: ControlPlane, host: str, message: bytes) -> tuple[str, bytes]:
    """A WebSocket to ``/ws`` through the router, one text message: (status line, reply)."""
    root = router_root(plane)
    assert root is not None
    context = ssl.create_default_context(cafile=str(root))
    key = base64.b64encode(os.urandom(16)).decode()
    with (
        socket.create_connection(("127.0.0.1", plane.https_port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        tls.sendall(
            f"GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = tls.recv(1)
            if not chunk:
                break
            head += chunk
        status = head.split(b"\r\n", 1)[0].decode()
        if " 101 " not in status + " ":
            return status, b""
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(message))
        tls.sendall(bytes([0x81, 0x80 | len(message)]) + mask + masked)
        first = tls.recv(2)
        reply = b""
        while len(reply) < first[1] & 0x7F:
            reply += tls.recv(first[1] - len(reply))
        tls.sendall(bytes([0x88, 0x80]) + mask)  # close
        return status, reply


def test_route_options_with_real_traffic(routed_plane: ControlPlane) -> None:
    """Basic auth, body limit, headers, forward auth, WebSockets, HSTS and a certificate
    error, all on one probe app behind the real router."""
    plane = routed_plane
    created = plane.api.post(
        "/spaces/default/apps", json={"name": "probe", "template_text": probe_template()}
    )
    assert created.status_code == 201, created.text
    plane.wait_status("probe", {"running"}, timeout=180)

    def cloudos(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cloudos", *args],
            env=plane.env(),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    # Options through the command line; the password only on stdin.
    added = cloudos(
        "route", "add", "opts.probe.test", "--app", "probe",
        "--basic-auth", "ann", "--max-body", "1KB", "--header", "X-Probe=yes", "--no-hsts",
        stdin="open sesame\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "open sesame" not in added.stdout + added.stderr
    refused = cloudos("route", "add", "x.probe.test", "--app", "probe", "--max-body", "10XB")
    assert refused.returncode == 1
    assert "--max-body '10XB' is not a size" in refused.stderr
    assert "Traceback" not in refused.stderr
    sso = cloudos(
        "route", "add", "sso.probe.test", "--app", "probe",
        "--forward-auth", "http://probe:8080/verify",
    )  # fmt: skip
    assert sso.returncode == 0, sso.stderr
    # A public name with a certificate from the internal CA (HSTS by the name), and
    # one whose ACME directory does not answer.
    claimed = plane.api.post("/domains", json={"name": "shop.cloudos-e2e.net", "tls": "internal"})
    assert claimed.status_code == 201, claimed.text
    for domain in ("shop.cloudos-e2e.net", "fails.cloudos-e2e.net"):
        made = plane.api.post("/routes", json={"app": "probe", "domain": domain})
        assert made.status_code == 201, made.text
    listed = cloudos("route", "ls", "--json")
    assert "open sesame" not in listed.stdout
    assert "$2b$" not in listed.stdout

    # Basic auth: 401 without credentials, 200 with; the header is added.
    wait_until(
        lambda: (r := routed(plane, "GET", "opts.probe.test")) is not None and r.status_code == 401,
        timeout=120,
        what="basic auth on the new route",
    )
    ann = ("ann", "open sesame")
    ok = routed(plane, "GET", "opts.probe.test", auth=ann)
    assert ok is not None
    assert (ok.status_code, ok.text) == (200, "probe")
    assert ok.headers["X-Probe"] == "yes"
    assert "Strict-Transport-Security" not in ok.headers  # the route turned it off
    wrong = routed(plane, "GET", "opts.probe.test", auth=("ann", "guess"))
    assert wrong is not None
    assert wrong.status_code == 401

    # The body limit: 1 KB passes, more is refused, announced or streamed.
    below = routed(plane, "POST", "opts.probe.test", "/echo", auth=ann, content=b"x" * 1000)
    assert below is not None
    assert (below.status_code, below.text) == (200, "got 1000 bytes")
    above = routed(plane, "POST", "opts.probe.test", "/echo", auth=ann, content=b"x" * 1001)
    assert above is not None
    assert above.status_code == 413
    streamed = routed(
        plane, "POST", "opts.probe.test", "/echo", auth=ann, content=iter([b"x" * 800] * 3)
    )
    assert streamed is not None
    assert streamed.status_code == 413
    small = routed(plane, "POST", "opts.probe.test", "/echo", auth=ann, content=iter([b"x" * 900]))
    assert small is not None
    assert (small.status_code, small.text) == (200, "got 900 bytes")

    # Forward auth: the auth app's 401 reaches the client; a 2xx lets the request
    # through with the user it names, whatever the client claimed.
    wait_until(
        lambda: (
            (r := routed(plane, "GET", "sso.probe.test", "/whoami")) is not None
            and r.status_code == 401
        ),
        what="forward auth on the new route",
    )
    denied = routed(plane, "GET", "sso.probe.test", "/whoami", headers={"Remote-User": "eve"})
    assert denied is not None
    assert (denied.status_code, denied.text) == (401, "who are you?\n")
    passed = routed(
        plane,
        "GET",
        "sso.probe.test",
        "/whoami",
        headers={"Authorization": "Bearer let-me-in", "Remote-User": "eve"},
    )
    assert passed is not None
    assert (passed.status_code, passed.text) == (200, "alice")

    # WebSockets: the upgrade goes through to the app and back.
    status, reply = websocket_echo(plane, "probe.default.localhost", b"hello")
    assert status.startswith("HTTP/1.1 101"), status
    assert reply == b"echo: hello"

    # HSTS on HTTPS for a public name and, by default, for .localhost too.
    wait_until(
        lambda: (
            (r := routed(plane, "GET", "shop.cloudos-e2e.net")) is not None and r.status_code == 200
        ),
        what="the public name served",
    )
    public = routed(plane, "GET", "shop.cloudos-e2e.net")
    assert public is not None
    assert public.headers["Strict-Transport-Security"] == "max-age=31536000"
    local = routed(plane, "GET", "probe.default.localhost")
    assert local is not None
    assert local.status_code == 200
    assert local.headers["Strict-Transport-Security"] == "max-age=31536000"

    # The failed ACME attempt for the other public name, from the router's log.
    def failed() -> dict[str, Any] | None:
        for cert in plane.api.get("/certificates").json():
            if "fails.cloudos-e2e.net" in cert["names"] and cert["last_error"]:
                return dict(cert)
        return None

    wait_until(lambda: failed() is not None, timeout=90, what="the certificate error shown")
    error = failed()
    assert error is not None
    assert UNREACHABLE_ACME in error["last_error"]
    assert "connection refused" in error["last_error"]
    certs = cloudos("cert", "ls", "--json")
    assert certs.returncode == 0, certs.stderr
    [shown] = [c for c in json.loads(certs.stdout) if "fails.cloudos-e2e.net" in c["names"]]
    assert "connection refused" in shown["last_error"]
    table = cloudos("cert", "ls")
    assert "LAST ERROR" in table.stdout


def test_the_control_plane_guards_routes_and_serves_each_spaces_portal(
    routed_plane: ControlPlane,
) -> None:
    """Forward auth to the control plane itself (members of the route's space pass, by
    token), and the space's portal from its own domain, signed in at the platform host
    through the router."""
    plane = routed_plane
    password = "a long enough password"
    for name in ("dev", "eve"):
        made = plane.api.post("/users", json={"username": name, "password": password})
        assert made.status_code == 201, made.text
    member = plane.api.put("/spaces/default/members/dev", json={"role": "developer"})
    assert member.status_code == 200, member.text
    tokens = {}
    for name in ("dev", "eve"):
        login = {"username": name, "password": password, "token_name": "e2e"}
        tokens[name] = httpx.post(f"{plane.url}/api/v1/auth/login", json=login).json()["token"]
    created = plane.api.post(
        "/spaces/default/apps", json={"name": "probe", "template_text": probe_template()}
    )
    assert created.status_code == 201, created.text
    plane.wait_status("probe", {"running"}, timeout=180)
    added = subprocess.run(
        [sys.executable, "-m", "cloudos", "route", "add", "guarded.probe.test",
         "--app", "probe", "--forward-auth", "control"],
        env=plane.env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr

    def whoami(token: str | None) -> httpx.Response | None:
        headers = {"Remote-User": "mallory"}  # what a client claims never counts
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return routed(plane, "GET", "guarded.probe.test", "/whoami", headers=headers)

    wait_until(
        lambda: (r := whoami(None)) is not None and r.status_code == 401,
        timeout=120,
        what="forward auth to the control plane on the new route",
    )
    passed = whoami(tokens["dev"])
    assert passed is not None
    assert (passed.status_code, passed.text) == (200, "dev")
    stranger = whoami(tokens["eve"])
    assert stranger is not None
    assert stranger.status_code == 403
    assert "not a member of space 'default'" in stranger.text
    revoked = whoami("cos_unknown_token")
    assert revoked is not None
    assert revoked.status_code == 401

    # The portal: default.localhost sends visitors to it on the platform host, where
    # the control plane answers through the router.
    root = router_root(plane)
    assert root is not None
    platform = "cloud.localhost"
    at_space = routed(plane, "GET", "default.localhost", "/")
    assert at_space is not None
    portal_url = f"https://{platform}:{plane.https_port}/portal/default"
    assert (at_space.status_code, at_space.headers["location"]) == (302, portal_url)
    base = f"https://127.0.0.1:{plane.https_port}"
    with httpx.Client(verify=ssl.create_default_context(cafile=str(root)), timeout=10) as browser:

        def get(path: str) -> httpx.Response:
            return browser.get(
                f"{base}{path}", headers={"Host": platform}, extensions={"sni_hostname": platform}
            )

        first = get("/portal/default")
        assert (first.status_code, first.headers["location"]) == (
            303,
            "/signin?next=/portal/default",
        )
        form = get("/signin?next=/portal/default").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token is not None, form
        signed_in = browser.post(
            f"{base}/signin",
            data={
                "username": "dev",
                "password": password,
                "next": "/portal/default",
                "csrf_token": token.group(1),
            },
            headers={"Host": platform},
            extensions={"sni_hostname": platform},
        )
        assert signed_in.status_code == 303, signed_in.text
        # The router told the control plane the client came over HTTPS.
        assert signed_in.headers["set-cookie"].startswith("__Host-cloudos_session=")
        assert "secure" in signed_in.headers["set-cookie"].lower()
        page = get("/portal/default")
        assert page.status_code == 200, page.text
        assert f'href="https://probe.default.localhost:{plane.https_port}/"' in page.text
    # Plain HTTP to the portal is sent to HTTPS, like every route.
    plain = via_router(plane, platform, https=False)
    assert plain is not None
    assert plain.status_code == 308


def test_first_app_of_a_new_space_is_served_as_soon_as_the_replaced_router_answers(
    routed_plane: ControlPlane,
) -> None:
    """The router joins a new space's network by being replaced; the new task gets its
    configuration when it answers, not a whole reconcile interval later."""
    plane = routed_plane
    plane.settings["CLOUDOS_RECONCILE_INTERVAL"] = "60"
    plane.stop()
    plane.start()
    install = {"template_text": HELLO, "values": {"http_port": free_port(), "message": "one"}}
    assert (
        plane.api.post("/spaces/default/apps", json={"name": "one", **install}).status_code == 201
    )
    wait_until(
        lambda: text(via_router(plane, "one.default.localhost")) == "one",
        timeout=120,
        what="the first app through the router",
    )
    service = plane.docker.services.get(f"{plane.instance}-router_caddy")  # type: ignore[no-untyped-call]
    before = {t["ID"] for t in service.tasks()}

    plane.new_space("blue")
    install = {"template_text": HELLO, "values": {"http_port": free_port(), "message": "two"}}
    assert plane.api.post("/spaces/blue/apps", json={"name": "two", **install}).status_code == 201
    plane.wait_status("two", {"running"}, space="blue", timeout=90)
    wait_until(
        lambda: bool(
            {t["ID"] for t in service.tasks(filters={"desired-state": "running"})} - before
        ),
        timeout=60,
        what="the router replaced to join the new space's network",
    )
    # Well within the 60 s interval: both apps answer at their names again.
    wait_until(
        lambda: text(via_router(plane, "two.blue.localhost")) == "two",
        timeout=30,
        what="the new space's app through the replaced router",
    )
    assert text(via_router(plane, "one.default.localhost")) == "one"
