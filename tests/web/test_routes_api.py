"""The router's API: route options, the forward-auth check, certificates with their errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cloudos.apps import TemplateRef
from cloudos.settings import Settings
from cloudos.store import Database
from cloudos.web import _routes_api, create_app
from tests.router.test_certificates import RUN_1

HELLO = (Path(__file__).parent.parent / "e2e" / "apps" / "hello.yaml").read_text()


class FakeEngine:
    """The engine connection ``GET /certificates`` opens (what it reads is patched below)."""

    def close(self) -> None:
        pass


def router_log(_client: Any, *, service: str, **_options: Any) -> Iterator[bytes]:
    """The router's log as the engine gives it: Caddy's recorded log, task-prefixed."""
    assert service == "web-test-router_caddy"
    for line in RUN_1:
        yield f"2026-11-22T10:00:00Z cloudos-router_caddy.1.x@n | {line}\n".encode()


def no_volume(_client: Any, *, volume: str) -> None:
    assert volume == "web-test-router_data"


@pytest.fixture
def client(
    tmp_path: Path, database: Database, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    """The app, with a fake engine (no router volume, a router log) and one app ``shop``."""
    monkeypatch.setattr(_routes_api, "service_logs", router_log)
    monkeypatch.setattr(_routes_api, "volume_mountpoint", no_volume)
    settings = Settings(data_dir=tmp_path, instance="web-test", https_port=1)
    app = create_app(
        settings=settings,
        database=database,
        connect_engine=FakeEngine,  # type: ignore[arg-type]  # a fake: what these tests reach
        reconcile=False,
    )
    app.state.cloudos.apps.install(
        space="default",
        name="shop",
        template=TemplateRef(text=HELLO, source="hello.yaml"),
        values={"http_port": 8080},
    )
    with TestClient(app) as test_client:
        yield test_client


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_route_with_options_never_shows_a_password_or_its_hash(
    client: TestClient, admin_token: str
) -> None:
    body = {
        "app": "shop",
        "domain": "shop.example.com",
        "options": {
            "basic_auth": [{"username": "ann", "password": "open sesame"}],
            "max_body_bytes": "1KiB",
            "response_headers": {"X-Frame-Options": "DENY"},
            "hsts": False,
        },
    }
    made = client.post("/api/v1/routes", json=body, headers=auth(admin_token))
    assert made.status_code == 201, made.text
    listed = client.get("/api/v1/routes", headers=auth(admin_token)).json()
    for answer in (made.text, str(listed)):
        assert "open sesame" not in answer
        assert "$2b$" not in answer
    [route] = [r for r in listed if r["domain"] == "shop.example.com"]
    assert route["options"]["basic_auth"] == ["ann"]
    assert route["options"]["max_body_bytes"] == 1024
    assert route["options"]["response_headers"] == {"X-Frame-Options": "DENY"}


def test_a_bad_option_is_a_422_naming_it(client: TestClient, admin_token: str) -> None:
    body = {"app": "shop", "domain": "s.example.com", "options": {"max_body_bytes": "10XB"}}
    refused = client.post("/api/v1/routes", json=body, headers=auth(admin_token))
    assert refused.status_code == 422
    assert refused.json()["detail"].startswith("max_body_bytes '10XB' is not a size")


def test_the_forward_auth_check_lets_a_valid_token_through_with_its_user(
    client: TestClient, admin_token: str
) -> None:
    passed = client.get("/api/v1/auth/verify", headers=auth(admin_token))
    assert passed.status_code == 204
    assert passed.headers["Remote-User"] == "root"
    assert passed.headers["Remote-Groups"] == "admins"
    for headers in ({}, auth("cos_nope_nope")):
        refused = client.get("/api/v1/auth/verify", headers=headers)
        assert refused.status_code == 401
        assert "Remote-User" not in refused.headers


def test_certificates_show_the_last_error_from_the_router_log(
    client: TestClient, admin_token: str
) -> None:
    listed = client.get("/api/v1/certificates", headers=auth(admin_token))
    assert listed.status_code == 200, listed.text
    by_name = {c["names"][0]: c for c in listed.json()}
    refused = by_name["shop.refused-by-pebble.com"]
    assert refused["issuer"] is None
    assert refused["source"] == "none"
    assert refused["last_error"].startswith("HTTP 400 urn:ietf:params:acme:error:malformed")
    assert refused["last_error_at"].startswith("2026-11-22T")
    assert "connection refused" in by_name["down.unreachable-ca.com"]["last_error"]
