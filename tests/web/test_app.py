"""Health, metrics, OpenAPI and authentication of the control plane app."""

from __future__ import annotations

from pathlib import Path

import docker
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from cloudos import __version__
from cloudos.settings import Settings
from cloudos.statuses import HealthStatus
from cloudos.store import Database
from cloudos.web import create_app
from tests.apps.conftest import hello
from tests.apps.test_reconciler import FakeSwarm


def test_healthz_answers_ok(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": __version__, "database": "ok"}


def test_healthz_reports_an_unreachable_database(tmp_path: Path) -> None:
    # A PostgreSQL server that went away: nothing listens on port 9.
    gone = Database(
        create_engine("postgresql+psycopg://u@127.0.0.1:9/x", connect_args={"connect_timeout": 1})
    )
    app = create_app(
        settings=Settings(data_dir=tmp_path), database=gone, connect_engine=docker.from_env
    )
    with TestClient(app) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


def test_metrics_count_requests(client: TestClient) -> None:
    client.get("/healthz")
    client.get("/healthz")
    body = client.get("/metrics").text
    assert 'cloudos_info{instance="web-test",version="' in body
    line = next(
        line
        for line in body.splitlines()
        if line.startswith("cloudos_http_requests_total") and 'route="/healthz"' in line
    )
    assert float(line.rsplit(" ", 1)[1]) >= 2


def test_openapi_lists_the_api(client: TestClient) -> None:
    document = client.get("/api/v1/openapi.json").json()
    assert document["info"]["version"] == __version__
    assert {"/api/v1/version", "/api/v1/me", "/healthz"} <= set(document["paths"])


def test_the_health_schema_lists_exactly_the_platform_states(client: TestClient) -> None:
    # Monitors match on these words (and ``cloudos health`` maps each to an exit code).
    schemas = client.get("/api/v1/openapi.json").json()["components"]["schemas"]
    reference = schemas["Health"]["properties"]["status"]["$ref"]
    states = schemas[reference.rsplit("/", 1)[1]]["enum"]
    assert states == [state.value for state in HealthStatus] == ["ok", "degraded", "unavailable"]


def test_api_needs_a_valid_token(client: TestClient, admin_token: str) -> None:
    missing = client.get("/api/v1/me")
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = client.get("/api/v1/me", headers={"Authorization": "Bearer cos_00000000_nope"})
    assert wrong.status_code == 401
    ok = client.get("/api/v1/me", headers={"Authorization": f"Bearer {admin_token}"})
    assert ok.status_code == 200
    assert (ok.json()["username"], ok.json()["is_admin"]) == ("root", True)


def test_unknown_path_is_a_problem_document(client: TestClient) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["status"] == 404


def test_version_names_the_instance(client: TestClient) -> None:
    assert client.get("/api/v1/version").json() == {"version": __version__, "instance": "web-test"}


def test_me_names_the_token_in_use_so_it_can_be_revoked(
    client: TestClient, admin_token: str
) -> None:
    headers = {"Authorization": f"Bearer {admin_token}"}
    token_id = client.get("/api/v1/me", headers=headers).json()["token_id"]
    (listed,) = client.get("/api/v1/tokens", headers=headers).json()
    assert token_id == listed["id"]
    assert client.delete(f"/api/v1/tokens/{token_id}", headers=headers).status_code == 204
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_metrics_count_reconcile_passes_and_name_no_failing_object(
    tmp_path: Path, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    swarm = FakeSwarm()
    swarm.install(monkeypatch)
    swarm.fail_deploy = {"t-default-secretive"}
    settings = Settings(data_dir=tmp_path, instance="t", router=False, endpoint_mode="dnsrr")
    app = create_app(
        settings=settings,
        database=database,
        connect_engine=lambda: object(),  # type: ignore[arg-type,return-value]
    )
    state = app.state.cloudos
    for port, name in enumerate(["web", "secretive"], start=8080):
        state.apps.install(space="default", name=name, template=hello(), values={"http_port": port})
    assert state.loop is not None
    state.loop.reconciler.run_once()  # the loop's thread is not started: no lifespan here
    state.loop.reconciler.run_once()  # the failed app waits for its backoff: idle
    body = TestClient(app).get("/metrics").text
    assert 'cloudos_reconcile_passes_total{result="ok"} 0.0' in body
    assert 'cloudos_reconcile_passes_total{result="error"} 1.0' in body
    assert 'cloudos_reconcile_passes_total{result="idle"} 1.0' in body
    assert 'cloudos_reconcile_actions_total{kind="deploy"} 2.0' in body
    assert "cloudos_reconcile_pass_seconds_count 2.0" in body
    assert 'cloudos_reconcile_failing_objects{kind="app"} 1.0' in body
    assert "secretive" not in body, "/metrics answers anyone: it names no failing object"
