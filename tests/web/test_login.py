"""POST /api/v1/auth/login: the session cookie, the optional token, refusals."""

from __future__ import annotations

from fastapi.testclient import TestClient

from cloudos.identity import create_user
from cloudos.store import Database


def test_login_gives_a_session_and_a_token_and_refuses_wrong_passwords(
    client: TestClient, database: Database
) -> None:
    with database.session() as session:
        create_user(session, username="ann", password="a long enough password")
    wrong = client.post("/api/v1/auth/login", json={"username": "ann", "password": "nope"})
    assert wrong.status_code == 401
    assert "sign-in refused" in wrong.json()["detail"]
    right = client.post(
        "/api/v1/auth/login",
        json={"username": "ann", "password": "a long enough password", "token_name": "cli"},
    )
    assert right.status_code == 200
    body = right.json()
    assert "cloudos_session" in right.cookies
    assert client.get("/api/v1/me").json()["username"] == "ann"
    token = body["token"]
    client.cookies.clear()
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["username"] == "ann"
    client.cookies.set("cloudos_session", right.cookies["cloudos_session"])
    assert client.post("/api/v1/auth/logout").status_code == 403  # no CSRF token
    out = client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": body["csrf_token"]})
    assert out.status_code == 204
