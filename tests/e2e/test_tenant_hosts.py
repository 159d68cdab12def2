"""Host names and the tenant boundary, on the real router: a space cannot take another
space's domain (or any name under it) nor the platform's names, and the control
plane's sign-in, API and session cookie live at the one platform host only."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from tests.e2e.conftest import ControlPlane
from tests.e2e.test_app_router import probe_template, routed, router_root
from tests.helpers import wait_until

pytestmark = pytest.mark.docker

PLATFORM = "cloud.localhost"  # the platform host by default
PASSWORD = "a long enough password"

# Space b's attempts at space a's names and the platform's, however spelled.
REFUSED = {
    "a.localhost": "domain a.localhost belongs to another space",
    "A.LOCALHOST.": "domain a.localhost belongs to another space",
    "x.a.localhost": "domain x.a.localhost belongs to another space",
    "\uff41.localhost": "domain a.localhost belongs to another space",  # full-width a
    "localhost": "domain localhost is reserved for the platform",
    PLATFORM: f"domain {PLATFORM} is reserved for the platform",
    f"api.{PLATFORM}": f"domain api.{PLATFORM} is reserved for the platform",
    "auth.localhost": "domain auth.localhost is reserved for the platform",
}


def test_a_space_cannot_take_another_spaces_host_and_the_control_plane_is_only_at_its_own(
    routed_plane: ControlPlane,
) -> None:
    plane = routed_plane
    for space in ("a", "b"):
        made = plane.api.post("/spaces", json={"name": space})
        assert made.status_code == 201, made.text
    made = plane.api.post("/users", json={"username": "ann", "password": PASSWORD})
    assert made.status_code == 201, made.text
    member = plane.api.put("/spaces/a/members/ann", json={"role": "viewer"})
    assert member.status_code == 200, member.text
    created = plane.api.post(
        "/spaces/b/apps", json={"name": "probe", "template_text": probe_template()}
    )
    assert created.status_code == 201, created.text

    # Every door refuses b's claims on a's names and the platform's, naming the domain
    # and never the other space.
    for name, message in REFUSED.items():
        route = plane.api.post("/routes", json={"space": "b", "app": "probe", "domain": name})
        assert route.status_code == 409, (name, route.text)
        assert route.json()["detail"] == message
        redirect = plane.api.post(
            "/redirects", json={"space": "b", "domain": name, "to": "https://b.localhost"}
        )
        assert redirect.status_code == 409, (name, redirect.text)
        assert redirect.json()["detail"] == message
        claim = plane.api.post("/domains", json={"space": "b", "name": name})
        assert claim.status_code == 409, (name, claim.text)
        assert claim.json()["detail"] == message
    cli = subprocess.run(
        [sys.executable, "-m", "cloudos", "route", "add", "x.a.localhost",
         "--app", "probe", "--space", "b"],
        env=plane.env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert cli.returncode != 0
    assert "domain x.a.localhost belongs to another space" in cli.stderr
    assert "Traceback" not in cli.stderr
    # A space is not created over another's names or the platform's either.
    for space, domain in (("c", "x.a.localhost"), ("cloud", None)):
        refused = plane.api.post("/spaces", json={"name": space, "domain": domain})
        assert refused.status_code == 409, refused.text
    routes = plane.api.get("/routes").json()
    assert {r["domain"] for r in routes if r["space"] == "b"} == {"probe.b.localhost"}
    assert plane.api.get("/redirects").json() == []
    assert plane.api.get("/domains").json() == []

    # The router: the platform host is the control plane. First b's app answers through
    # it, so the router has joined b's network (it is replaced to) before the probes.
    wait_until(lambda: router_root(plane) is not None, timeout=180, what="the router's CA")
    wait_until(
        lambda: (r := routed(plane, "GET", "probe.b.localhost")) is not None and r.text == "probe",
        timeout=180,
        what="b's app through the router",
    )
    wait_until(
        lambda: (
            (r := routed(plane, "GET", PLATFORM, "/api/v1/version")) is not None
            and r.status_code == 200
        ),
        timeout=120,
        what="the control plane at the platform host",
    )
    # HTTPS answers, the platform host's and an app's, carry HSTS by default (private
    # names included); the plain-HTTP redirect to HTTPS does not.
    version = routed(plane, "GET", PLATFORM, "/api/v1/version")
    app = routed(plane, "GET", "probe.b.localhost")
    assert version is not None
    assert app is not None
    assert version.headers["strict-transport-security"] == "max-age=31536000"
    assert app.headers["strict-transport-security"] == "max-age=31536000"
    with httpx.Client(base_url=f"http://127.0.0.1:{plane.http_port}") as plain:
        for host in (PLATFORM, "probe.b.localhost"):
            redirect = plain.get("/signin", headers={"Host": host})
            assert redirect.status_code == 308, (host, redirect.status_code)
            assert "strict-transport-security" not in redirect.headers, host
    login = routed(
        plane,
        "POST",
        PLATFORM,
        "/api/v1/auth/login",
        json={"username": "ann", "password": PASSWORD},
    )
    assert login is not None
    assert login.status_code == 200, login.text
    cookie, *attributes = (part.strip() for part in login.headers["set-cookie"].split(";"))
    name, session = cookie.split("=", 1)
    assert name == "__Host-cloudos_session"
    flags = {attribute.split("=")[0].lower() for attribute in attributes}
    assert {"secure", "httponly", "path", "samesite"} <= flags
    assert "domain" not in flags  # host-only: a browser sends it to the platform host only
    signed_in = {"Cookie": f"{name}={session}"}
    me = routed(plane, "GET", PLATFORM, "/api/v1/me", headers=signed_in)
    assert me is not None
    assert (me.status_code, me.json()["username"]) == (200, "ann")
    portal = routed(plane, "GET", PLATFORM, "/portal/a", headers=signed_in)
    assert portal is not None
    assert portal.status_code == 200
    assert "<h1>a</h1>" in portal.text

    # At a space's domain the router serves none of the control plane: every path, the
    # API and sign-in included, only sends the visitor to the portal on the platform host.
    to_portal = f"https://{PLATFORM}:{plane.https_port}/portal/a"
    for method, path in (
        ("GET", "/"),
        ("GET", "/api/v1/version"),
        ("GET", "/api/v1/me"),
        ("GET", "/signin"),
        ("POST", "/api/v1/auth/login"),
    ):
        answer = routed(plane, method, "a.localhost", path, headers=signed_in)
        assert answer is not None
        assert (answer.status_code, answer.headers.get("location")) == (302, to_portal), path
        assert "set-cookie" not in answer.headers
        assert "<form" not in answer.text
    # Nothing of space b answers at a's names (no certificate either, so plain HTTP).
    with httpx.Client(base_url=f"http://127.0.0.1:{plane.http_port}") as plain:
        under = plain.get("/", headers={"Host": "x.a.localhost"})
        assert (under.status_code, under.text) == (404, "No route for this host\n")
        answer = plain.get("/api/v1/version", headers={"Host": "a.localhost"})
        assert (answer.status_code, answer.headers.get("location")) == (302, to_portal)
