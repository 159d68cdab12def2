"""``/healthz`` while the reconciler cannot converge some objects: degraded for
everyone, and the failing objects only to those who may see them."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cloudos import __version__
from cloudos.apps import FaultLog
from cloudos.apps._faults import TRANSIENT_GRACE
from cloudos.identity import create_token, create_user, set_member
from cloudos.settings import Settings
from cloudos.spaces import create_space, get_space
from cloudos.store import Database
from cloudos.web import create_app
from tests.ui.conftest import sign_in


@pytest.fixture
def app(tmp_path: Path, database: Database) -> FastAPI:
    """The app with its reconciler (not started: the test says what fails)."""
    settings = Settings(data_dir=tmp_path, instance="web-test", router=False)
    with database.session() as session:
        create_space(session, name="shop")
        create_space(session, name="other")
    return create_app(
        settings=settings,
        database=database,
        connect_engine=lambda: pytest.fail("this test must not reach the engine"),
        reconcile=True,
    )


@pytest.fixture
def faults(app: FastAPI) -> FaultLog:
    faults: FaultLog | None = app.state.cloudos.faults
    assert faults is not None
    return faults


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    return TestClient(app)  # no lifespan: the reconciler never runs a pass


def fail_everywhere(faults: FaultLog) -> None:
    faults.failed(
        "app:1",
        kind="app",
        name="shop/web",
        space="shop",
        error="deploying stack 'web-test-shop-web' failed: image not found",
    )
    faults.failed(
        "space:other",
        kind="space",
        name="other",
        space="other",
        error="removing space 'other': network web-test-other is still in use by service x",
    )
    faults.failed(
        "router", kind="router", name="router", space=None, error="the router does not answer"
    )


def token(database: Database, username: str, *, admin: bool = False, **scope: object) -> str:
    with database.session() as session:
        user = create_user(session, username=username, password="a-long-password", is_admin=admin)
        if not admin:
            set_member(
                session,
                get_space(session, "shop"),
                username=username,
                role="developer",
                granted_by="owner",
            )
        return create_token(session, user=user, name="t", **scope)  # type: ignore[arg-type]


def failing(client: TestClient, secret: str | None) -> tuple[str, list[str] | None]:
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    response = client.get("/healthz", headers=headers)
    assert response.status_code == 200
    body = response.json()
    names = [f"{f['kind']} {f['name']}" for f in body["failing"]] if "failing" in body else None
    return body["status"], names


def test_nothing_failing_is_ok(client: TestClient, database: Database) -> None:
    assert client.get("/healthz").json() == {
        "status": "ok",
        "version": __version__,
        "database": "ok",
    }
    assert failing(client, token(database, "root", admin=True)) == ("ok", [])


def test_anonymous_callers_learn_degraded_and_nothing_about_any_space(
    client: TestClient, faults: FaultLog
) -> None:
    fail_everywhere(faults)
    response = client.get("/healthz")
    assert response.status_code == 200, "the control plane itself is up"
    assert response.json() == {"status": "degraded", "version": __version__, "database": "ok"}
    for secret in ("shop", "other", "router", "image not found"):
        assert secret not in response.text
    # Wrong credentials are no better than none.
    assert failing(client, "cos_bogus_token") == ("degraded", None)


def test_a_cluster_admin_sees_every_failing_object_with_its_error_and_retry(
    client: TestClient, faults: FaultLog, database: Database
) -> None:
    fail_everywhere(faults)
    response = client.get(
        "/healthz", headers={"Authorization": f"Bearer {token(database, 'root', admin=True)}"}
    )
    body = response.json()
    assert body["status"] == "degraded"
    by_kind = {f["kind"]: f for f in body["failing"]}
    assert set(by_kind) == {"app", "space", "router"}
    app = by_kind["app"]
    assert (app["name"], app["space"], app["attempts"]) == ("shop/web", "shop", 1)
    assert app["error"].endswith("image not found")
    assert 0 < app["retry_in"] <= 1
    assert by_kind["router"]["space"] is None


def test_a_member_sees_only_the_failures_of_their_own_spaces_however_they_sign_in(
    client: TestClient, faults: FaultLog, database: Database, app: FastAPI
) -> None:
    fail_everywhere(faults)
    member = token(database, "dev")
    assert failing(client, member) == ("degraded", ["app shop/web"])
    # A cluster admin's token scoped to one space sees that space only, not the platform.
    with database.session() as session:
        root = create_user(session, username="root", password="a-long-password", is_admin=True)
        shop = get_space(session, "shop").id
        scoped = create_token(session, user=root, name="ci", space_id=shop, role="developer")
    assert failing(client, scoped) == ("degraded", ["app shop/web"])
    # The same member through a browser session.
    browser = TestClient(app, follow_redirects=False)
    sign_in(browser, "dev", "a-long-password")
    body = browser.get("/healthz").json()
    assert [f["name"] for f in body["failing"]] == ["shop/web"]
    assert "other" not in str(body)
    assert "router" not in str(body)


def test_a_short_expected_wait_is_not_degraded_until_it_lasts(
    client: TestClient, faults: FaultLog, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [5000.0]
    monkeypatch.setattr(faults, "clock", lambda: now[0])
    faults.failed(
        "space:other",
        kind="space",
        name="other",
        space="other",
        error="network in use",
        transient=True,
    )
    assert failing(client, None) == ("ok", None)
    now[0] += TRANSIENT_GRACE
    assert failing(client, token(database, "root", admin=True)) == ("degraded", ["space other"])
