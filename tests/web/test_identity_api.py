"""People and access through the API: sign-in, sessions and CSRF, 2FA, lockout,
tokens (expiry, revocation, scope), members, invitations and the audit log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient

from cloudos.errors import EnvironmentProblem
from cloudos.identity import create_token, create_user
from cloudos.identity._signin import ACCOUNT_MAX_FAILURES, ADDRESS_MAX_FAILURES
from cloudos.settings import Settings
from cloudos.store import Database
from cloudos.store.models import ApiToken, LoginThrottle, utcnow
from cloudos.web import create_app

PASSWORD = "correct horse battery"


def _no_engine() -> Any:
    # The API shows apps without observed state when no engine answers.
    raise EnvironmentProblem("no engine in this test")


@pytest.fixture
def app_client(tmp_path: Path, database: Database) -> Iterator[TestClient]:
    """A client with no credentials of its own."""
    app = create_app(
        settings=Settings(data_dir=tmp_path, instance="id-test", router=False),
        database=database,
        connect_engine=_no_engine,
        reconcile=False,
    )
    with TestClient(app) as client:
        yield client


@pytest.fixture
def admin(database: Database) -> dict[str, str]:
    with database.session() as session:
        user = create_user(session, username="root", password=PASSWORD, is_admin=True)
        return {"Authorization": f"Bearer {create_token(session, user=user, name='t')}"}


def login(client: TestClient, username: str = "root", **extra: Any) -> Any:
    return client.post(
        "/api/v1/auth/login", json={"username": username, "password": PASSWORD, **extra}
    )


def test_session_cookie_works_and_changes_need_the_csrf_token(
    app_client: TestClient, admin: dict[str, str]
) -> None:
    signed_in = login(app_client)
    assert signed_in.status_code == 200
    cookie = signed_in.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    csrf = signed_in.json()["csrf_token"]
    assert app_client.get("/api/v1/me").json()["username"] == "root"
    # A change without the token (what a forged cross-site form sends) is refused.
    forged = app_client.post("/api/v1/spaces", json={"name": "forged"})
    assert forged.status_code == 403
    assert "CSRF" in forged.json()["detail"]
    wrong = app_client.post(
        "/api/v1/spaces", json={"name": "forged"}, headers={"X-CSRF-Token": "nope"}
    )
    assert wrong.status_code == 403
    assert "forged" not in [s["name"] for s in app_client.get("/api/v1/spaces").json()]
    made = app_client.post("/api/v1/spaces", json={"name": "real"}, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201
    out = app_client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 204
    app_client.cookies.set("cloudos_session", cookie.split(";")[0].split("=", 1)[1])
    assert app_client.get("/api/v1/me").status_code == 401  # the session ended


def test_lockout_after_repeated_failures_refuses_even_the_right_password(
    app_client: TestClient, admin: dict[str, str], database: Database
) -> None:
    answers = [
        app_client.post("/api/v1/auth/login", json={"username": "root", "password": "wrong"})
        for _ in range(5)
    ]
    assert {a.status_code for a in answers} == {401}
    unknown = app_client.post("/api/v1/auth/login", json={"username": "ghost", "password": "x"})
    # The same words for a wrong password, an unknown user and a locked account.
    assert unknown.json()["detail"] == answers[0].json()["detail"]
    locked = login(app_client)
    assert locked.status_code == 401
    assert locked.json()["detail"] == answers[0].json()["detail"]
    # Once the lock has passed, the right password works again and resets the count.
    with database.session() as session:
        for row in session.query(LoginThrottle):
            row.locked_until = utcnow() - timedelta(seconds=1)
            row.first_failure_at = utcnow() - timedelta(hours=1)
    assert login(app_client).status_code == 200


def test_lockout_counts_per_client_address_too(
    app_client: TestClient, admin: dict[str, str], database: Database
) -> None:
    with database.session() as session:
        create_user(session, username="other", password=PASSWORD)
    for n in range(ADDRESS_MAX_FAILURES):  # many different accounts, one address
        app_client.post("/api/v1/auth/login", json={"username": f"a{n}", "password": "x"})
    assert login(app_client, "other").status_code == 401
    elsewhere = TestClient(app_client.app, client=("203.0.113.7", 50000))
    assert login(elsewhere, "other").status_code == 200


def test_a_guesser_elsewhere_cannot_lock_the_owner_out_of_the_api(
    app_client: TestClient, admin: dict[str, str]
) -> None:
    assert login(app_client).status_code == 200  # the owner's usual address
    guesser = TestClient(app_client.app, client=("203.0.113.66", 50000))
    for _ in range(ACCOUNT_MAX_FAILURES):
        guesser.post("/api/v1/auth/login", json={"username": "root", "password": "guess"})
    assert login(guesser).status_code == 401
    assert login(app_client).status_code == 200


def test_two_factor_sign_in_needs_a_code_and_recovery_codes_work_once(
    app_client: TestClient, admin: dict[str, str]
) -> None:
    begun = app_client.post("/api/v1/me/2fa", json={"password": PASSWORD}, headers=admin).json()
    assert begun["uri"].startswith("otpauth://totp/")
    totp = pyotp.TOTP(begun["secret"])
    bad = app_client.post("/api/v1/me/2fa/confirm", json={"code": "000000"}, headers=admin)
    assert bad.status_code == 422
    codes = app_client.post(
        "/api/v1/me/2fa/confirm", json={"code": totp.now()}, headers=admin
    ).json()["recovery_codes"]
    assert len(codes) == 10
    assert app_client.get("/api/v1/me", headers=admin).json()["two_factor"] is True

    needs = login(app_client)
    assert needs.status_code == 401
    assert needs.json()["detail"] == "a two-factor code is needed"
    assert (needs.json()["code"], needs.json()["field"]) == ("second_factor_needed", "code")
    assert login(app_client, code="123456").status_code == 401
    assert login(app_client, code=totp.now()).status_code == 200
    assert login(app_client, code=codes[0]).status_code == 200
    assert login(app_client, code=codes[0]).status_code == 401  # used up

    wrong = {"password": "wrong", "code": totp.now()}
    assert app_client.post("/api/v1/me/2fa/disable", json=wrong, headers=admin).status_code == 403
    right = {"password": PASSWORD, "code": totp.now()}
    assert app_client.post("/api/v1/me/2fa/disable", json=right, headers=admin).status_code == 204
    assert login(app_client).status_code == 200


def _owner_with_viewer_token(client: TestClient, admin: dict[str, str]) -> tuple[Any, Any]:
    """The user "ann", owner of space "shop", signed in for the command line; returns her
    unscoped token's answer and a viewer token scoped to "shop" (30 days) she made."""
    assert client.post("/api/v1/spaces", json={"name": "shop"}, headers=admin).is_success
    client.post("/api/v1/users", json={"username": "ann", "password": PASSWORD}, headers=admin)
    client.put("/api/v1/spaces/shop/members/ann", json={"role": "owner"}, headers=admin)
    cli = login(client, "ann", token_name="cli").json()["token"]
    client.cookies.clear()
    bearer = {"Authorization": f"Bearer {cli}"}
    viewer = client.post(
        "/api/v1/tokens",
        json={"name": "ci", "space": "shop", "role": "viewer", "expires_days": 30},
        headers=bearer,
    )
    assert viewer.status_code == 201, viewer.text
    return bearer, {"Authorization": f"Bearer {viewer.json()['token']}"}


def test_a_space_scoped_viewer_token_cannot_touch_its_owners_account(
    app_client: TestClient, admin: dict[str, str]
) -> None:
    # Issue 16: such a token turned on 2FA for the whole account (locking its owner out)
    # and changed the password.
    ann, viewer = _owner_with_viewer_token(app_client, admin)
    refusals = [
        app_client.post("/api/v1/me/2fa", json={"password": PASSWORD}, headers=viewer),
        app_client.post("/api/v1/me/2fa/confirm", json={"code": "123456"}, headers=viewer),
        app_client.post(
            "/api/v1/me/2fa/disable", json={"password": PASSWORD, "code": "1"}, headers=viewer
        ),
        app_client.put(
            "/api/v1/me/password",
            json={"current_password": PASSWORD, "new_password": "taken over 123"},
            headers=viewer,
        ),
    ]
    for refused in refusals:
        assert refused.status_code == 403, refused.text
        assert "scoped to a space cannot change the account" in refused.json()["detail"]
    me = app_client.get("/api/v1/me", headers=ann).json()
    assert me["two_factor"] is False
    assert login(app_client, "ann").status_code == 200  # the password is still hers
    app_client.cookies.clear()

    # Her other tokens are not the scoped token's business: not listed, not revocable.
    listed = app_client.get("/api/v1/tokens", headers=viewer).json()
    assert [t["name"] for t in listed] == ["ci"]
    assert app_client.delete(f"/api/v1/tokens/{me['token_id']}", headers=viewer).status_code == 404
    assert app_client.get("/api/v1/me", headers=ann).status_code == 200
    # It mints no unscoped token, none above its role, none outliving it.
    mint = app_client.post("/api/v1/tokens", json={"name": "x"}, headers=viewer)
    assert mint.status_code == 403
    above = app_client.post(
        "/api/v1/tokens", json={"name": "x", "space": "shop", "role": "admin"}, headers=viewer
    )
    assert above.status_code == 403
    forever = app_client.post("/api/v1/tokens", json={"name": "x", "space": "shop"}, headers=viewer)
    assert forever.status_code == 403
    assert "cannot make a token that outlives it" in forever.json()["detail"]
    shorter = app_client.post(
        "/api/v1/tokens", json={"name": "x", "space": "shop", "expires_days": 7}, headers=viewer
    )
    assert shorter.status_code == 201
    assert shorter.json()["role"] == "viewer"


def test_account_changes_need_the_password_and_with_two_factor_on_a_code(
    app_client: TestClient, admin: dict[str, str]
) -> None:
    ann, _ = _owner_with_viewer_token(app_client, admin)
    wrong = app_client.post("/api/v1/me/2fa", json={"password": "not hers"}, headers=ann)
    assert wrong.status_code == 403
    assert wrong.json()["detail"] == "password: wrong password"
    assert app_client.post("/api/v1/me/2fa", json={}, headers=ann).status_code == 422
    begun = app_client.post("/api/v1/me/2fa", json={"password": PASSWORD}, headers=ann)
    assert begun.status_code == 200
    totp = pyotp.TOTP(begun.json()["secret"])
    confirmed = app_client.post("/api/v1/me/2fa/confirm", json={"code": totp.now()}, headers=ann)
    assert confirmed.status_code == 200

    change = {"current_password": PASSWORD, "new_password": "brand new password"}
    no_code = app_client.put("/api/v1/me/password", json=change, headers=ann)
    assert no_code.status_code == 403
    assert no_code.json()["detail"].startswith("code: the current two-factor code")
    bad_code = app_client.put("/api/v1/me/password", json={**change, "code": "000000"}, headers=ann)
    assert bad_code.status_code == 403
    assert login(app_client, "ann", code=totp.now()).status_code == 200  # unchanged
    app_client.cookies.clear()
    changed = app_client.put(
        "/api/v1/me/password", json={**change, "code": totp.now()}, headers=ann
    )
    assert changed.status_code == 204

    off = {"password": "brand new password"}
    assert app_client.post("/api/v1/me/2fa/disable", json=off, headers=ann).status_code == 403
    assert app_client.get("/api/v1/me", headers=ann).json()["two_factor"] is True
    recovery = confirmed.json()["recovery_codes"][0]
    done = app_client.post("/api/v1/me/2fa/disable", json={**off, "code": recovery}, headers=ann)
    assert done.status_code == 204
    assert app_client.get("/api/v1/me", headers=ann).json()["two_factor"] is False


def test_a_refused_password_change_names_the_field_and_a_stable_code(
    app_client: TestClient, admin: dict[str, str]
) -> None:
    wrong = app_client.put(
        "/api/v1/me/password",
        json={"current_password": "not mine", "new_password": "brand new password"},
        headers=admin,
    )
    assert wrong.status_code == 403
    assert wrong.headers["content-type"] == "application/problem+json"
    problem = wrong.json()
    assert (problem["field"], problem["code"]) == ("current_password", "wrong_password")
    assert (problem["title"], problem["detail"]) == (
        "Forbidden",
        "current_password: wrong password",
    )
    short = app_client.put(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "short"},
        headers=admin,
    )
    assert short.status_code == 422
    assert (short.json()["field"], short.json()["code"]) == ("new_password", "invalid_input")
    assert login(app_client).status_code == 200  # the password did not change


def test_a_taken_name_is_name_taken_on_its_field(
    app_client: TestClient, admin: dict[str, str]
) -> None:
    body = {"username": "dev", "password": PASSWORD}
    assert app_client.post("/api/v1/users", json=body, headers=admin).status_code == 201
    again = app_client.post("/api/v1/users", json=body, headers=admin)
    assert again.status_code == 409
    assert (again.json()["code"], again.json()["field"]) == ("name_taken", "username")
    space = app_client.post("/api/v1/spaces", json={"name": "shop"}, headers=admin)
    assert space.status_code == 201
    twice = app_client.post("/api/v1/spaces", json={"name": "shop"}, headers=admin)
    assert (twice.status_code, twice.json()["code"], twice.json()["field"]) == (
        409,
        "name_taken",
        "name",
    )


@pytest.mark.parametrize("token_id", [2**31, 2**63, -(2**70), 0])
def test_revoking_a_token_id_no_row_can_have_is_a_404(
    app_client: TestClient, admin: dict[str, str], token_id: int
) -> None:
    # Found by the API fuzz test: SQLite overflowed (a 500) on ids >= 2**63.
    response = app_client.delete(f"/api/v1/tokens/{token_id}", headers=admin)
    assert response.status_code == 404
    assert response.json()["detail"] == f"token {token_id} not found"


def test_tokens_expire_are_revoked_at_once_and_are_shown_only_once(
    app_client: TestClient, admin: dict[str, str], database: Database
) -> None:
    created = app_client.post("/api/v1/tokens", json={"name": "ci"}, headers=admin).json()
    secret = created["token"]
    bearer = {"Authorization": f"Bearer {secret}"}
    assert app_client.get("/api/v1/me", headers=bearer).status_code == 200
    listed = app_client.get("/api/v1/tokens", headers=admin).json()
    assert secret not in json.dumps(listed)
    assert all(t["token"] is None for t in listed)
    assert app_client.delete(f"/api/v1/tokens/{created['id']}", headers=admin).status_code == 204
    assert app_client.get("/api/v1/me", headers=bearer).status_code == 401

    short = app_client.post(
        "/api/v1/tokens", json={"name": "short", "expires_days": 1}, headers=admin
    ).json()
    short_bearer = {"Authorization": f"Bearer {short['token']}"}
    assert app_client.get("/api/v1/me", headers=short_bearer).status_code == 200
    with database.session() as session:
        row = session.get(ApiToken, short["id"])
        assert row is not None
        row.expires_at = utcnow() - timedelta(seconds=1)
    expired = app_client.get("/api/v1/me", headers=short_bearer)
    assert expired.status_code == 401
    assert "expired" in expired.json()["detail"]


def test_scoped_tokens_act_only_in_their_space_and_never_above_their_maker(
    app_client: TestClient, admin: dict[str, str]
) -> None:
    for space in ("shop", "blog"):
        assert app_client.post("/api/v1/spaces", json={"name": space}, headers=admin).is_success
    app_client.post("/api/v1/users", json={"username": "dev", "password": PASSWORD}, headers=admin)
    app_client.put("/api/v1/spaces/shop/members/dev", json={"role": "developer"}, headers=admin)
    dev = {"Authorization": f"Bearer {login(app_client, 'dev', token_name='cli').json()['token']}"}
    app_client.cookies.clear()
    above = app_client.post(
        "/api/v1/tokens", json={"name": "x", "space": "shop", "role": "owner"}, headers=dev
    )
    assert above.status_code == 403
    scoped = app_client.post(
        "/api/v1/tokens", json={"name": "x", "space": "shop", "role": "viewer"}, headers=dev
    ).json()["token"]
    viewer = {"Authorization": f"Bearer {scoped}"}
    assert [s["name"] for s in app_client.get("/api/v1/spaces", headers=viewer).json()] == ["shop"]
    assert app_client.get("/api/v1/spaces/shop/apps", headers=viewer).status_code == 200
    refused = app_client.post(
        "/api/v1/spaces/shop/apps", json={"name": "a", "template": "x"}, headers=viewer
    )
    assert refused.status_code == 403
    assert app_client.get("/api/v1/spaces/blog/apps", headers=viewer).status_code == 404
    # An admin's scoped token is no admin.
    admin_scoped = app_client.post(
        "/api/v1/tokens", json={"name": "y", "space": "blog", "role": "viewer"}, headers=admin
    ).json()["token"]
    assert (
        app_client.get(
            "/api/v1/users", headers={"Authorization": f"Bearer {admin_scoped}"}
        ).status_code
        == 403
    )


def test_members_invitations_and_the_last_owner(
    app_client: TestClient, admin: dict[str, str]
) -> None:
    app_client.post("/api/v1/spaces", json={"name": "shop"}, headers=admin)
    app_client.post("/api/v1/users", json={"username": "ann", "password": PASSWORD}, headers=admin)
    assert (
        app_client.put(
            "/api/v1/spaces/shop/members/ann", json={"role": "owner"}, headers=admin
        ).status_code
        == 200
    )
    refused = app_client.delete("/api/v1/spaces/shop/members/ann", headers=admin)
    assert refused.status_code == 409
    assert "at least one owner" in refused.json()["detail"]
    ann = {"Authorization": f"Bearer {login(app_client, 'ann', token_name='t').json()['token']}"}
    app_client.cookies.clear()
    code = app_client.post(
        "/api/v1/spaces/shop/invitations", json={"role": "viewer"}, headers=ann
    ).json()["code"]
    weak = app_client.post(
        "/api/v1/invitations/accept",
        json={"code": code, "username": "bob", "password": "short"},
    )
    assert weak.status_code == 422
    joined = app_client.post(
        "/api/v1/invitations/accept",
        json={"code": code, "username": "bob", "password": PASSWORD},
    )
    assert joined.json() == {"space": "shop", "role": "viewer"}
    again = app_client.post(
        "/api/v1/invitations/accept",
        json={"code": code, "username": "eve", "password": PASSWORD},
    )
    assert again.status_code == 422  # single use
    members = app_client.get("/api/v1/spaces/shop/members", headers=ann).json()
    assert [(m["username"], m["role"]) for m in members] == [("ann", "owner"), ("bob", "viewer")]


def test_user_admin_resets_passwords_and_keeps_the_last_admin(
    app_client: TestClient, admin: dict[str, str]
) -> None:
    app_client.post("/api/v1/users", json={"username": "dev", "password": PASSWORD}, headers=admin)
    short = app_client.put("/api/v1/users/dev/password", json={"password": "short"}, headers=admin)
    assert short.status_code == 422
    assert (
        app_client.put(
            "/api/v1/users/dev/password", json={"password": "another long one"}, headers=admin
        ).status_code
        == 204
    )
    assert login(app_client, "dev").status_code == 401
    assert (
        app_client.post(
            "/api/v1/auth/login", json={"username": "dev", "password": "another long one"}
        ).status_code
        == 200
    )
    last = app_client.delete("/api/v1/users/root", headers=admin)
    assert last.status_code == 409


def test_audit_log_records_changes_with_secrets_masked(
    app_client: TestClient, admin: dict[str, str]
) -> None:
    app_client.post("/api/v1/auth/login", json={"username": "root", "password": "wrong"})
    app_client.post(
        "/api/v1/users", json={"username": "dev", "password": "a secret password"}, headers=admin
    )
    app_client.post("/api/v1/spaces", json={"name": "shop"}, headers=admin)
    events = app_client.get("/api/v1/audit", headers=admin).json()
    by_action = {e["action"]: e for e in events}
    assert by_action["login"]["result"] == "denied"
    assert by_action["user_add"]["actor"] == "root"
    assert by_action["user_add"]["result"] == "ok 201"
    assert by_action["user_add"]["detail"]["password"] == "********"
    assert "a secret password" not in json.dumps(events)
    assert by_action["space_create"]["client_address"] == "testclient"
    lines = app_client.get("/api/v1/audit?format=jsonl", headers=admin)
    assert lines.headers["content-type"].startswith("application/jsonl")
    assert [json.loads(line)["id"] for line in lines.text.splitlines()] == [e["id"] for e in events]
    only = app_client.get("/api/v1/audit?action=space", headers=admin).json()
    assert {e["action"] for e in only} == {"space_create"}


def test_secrets_never_come_back_in_answers_or_the_audit_log(
    app_client: TestClient, admin: dict[str, str]
) -> None:
    secrets = {"password": "TopSecretValue123", "sudo_password": "AnotherSecret456"}
    installed = app_client.post(
        "/api/v1/spaces/default/apps",
        json={"name": "ide", "template": "com.coder.code-server", "values": secrets},
        headers=admin,
    )
    assert installed.status_code == 201, installed.text
    answers = [installed.text]
    for path in ("", "/revisions", "/revisions/1", "/events"):
        answer = app_client.get(f"/api/v1/spaces/default/apps/ide{path}", headers=admin)
        assert answer.status_code == 200, answer.text
        answers.append(answer.text)
    answers.append(app_client.get("/api/v1/audit", headers=admin).text)
    answers.append(app_client.get("/api/v1/audit?format=jsonl", headers=admin).text)
    assert "services:" in answers[3]  # the revision's YAML is there
    for value in secrets.values():
        assert not [a for a in answers if value in a]


def test_token_names_that_spoof_the_token_list_are_refused_with_the_position(
    app_client: TestClient, admin: dict[str, str]
) -> None:
    spoof = app_client.post("/api/v1/tokens", json={"name": "ci-\u202edorp"}, headers=admin)
    assert spoof.status_code == 422
    assert spoof.json()["detail"] == (
        "body.name: character 4 is U+202E (RIGHT-TO-LEFT OVERRIDE), a control or invisible "
        "formatting character: use printable text"
    )
    escape = login(app_client, token_name="cli\x1b[2J")
    assert escape.status_code == 422
    assert escape.json()["detail"].startswith("body.token_name: character 4 is U+001B (")
    assert [t["name"] for t in app_client.get("/api/v1/tokens", headers=admin).json()] == ["t"]
    fine = app_client.post("/api/v1/tokens", json={"name": "déploiement – prod"}, headers=admin)
    assert fine.status_code == 201


def test_another_sites_form_cannot_sign_in_through_the_api(
    app_client: TestClient, admin: dict[str, str]
) -> None:
    # A cross-site HTML form can post text/plain (no preflight), shaped like JSON: the
    # API reads JSON bodies only, so it starts no session (login CSRF).
    with_cookie = app_client.post(
        "/api/v1/auth/login",
        content=json.dumps({"username": "root", "password": PASSWORD}),
        headers={"Content-Type": "text/plain"},
    )
    assert with_cookie.status_code == 422
    assert "cloudos_session" not in with_cookie.headers.get("set-cookie", "")
