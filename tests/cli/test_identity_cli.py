"""``cloudos login|logout|user|member|token|2fa|audit`` against a fake API."""

from __future__ import annotations

import json
import stat
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cloudos.cli._client import save_config
from cloudos.cli.audit import since_time
from tests.cli.test_app_cli import FakeApi, run

pytestmark = pytest.mark.usefixtures("clean_environment")  # tests/cli/conftest.py

SECOND_FACTOR = (401, {"status": 401, "title": "t", "detail": "a two-factor code is needed"})
REFUSED = (401, {"status": 401, "title": "t", "detail": "sign-in refused: wrong user name"})
SIGNED_IN = (200, {"username": "ann", "is_admin": False, "csrf_token": "c", "token": "cos_a_b"})


def config_path(tmp_path: Path) -> Path:
    return tmp_path / "config" / "cloudos" / "config.toml"  # XDG_CONFIG_HOME of the fixture


def stored(tmp_path: Path) -> dict[str, Any]:
    return tomllib.loads(config_path(tmp_path).read_text())


# login and logout


def test_login_keeps_url_and_token_in_a_private_config_file(api: FakeApi, tmp_path: Path) -> None:
    api.on("POST", "/auth/login", SIGNED_IN)
    result = run(api, "login", "--url", "http://cloud.test:8080", "--user", "ann",
                 "--days", "30", stdin="open sesame!\n")  # fmt: skip
    assert result.code == 0, result.stderr
    body = api.body("POST", "/auth/login")
    assert body["username"] == "ann"
    assert body["password"] == "open sesame!"
    assert body["token_name"].startswith("cli@")
    assert body["token_days"] == 30
    assert "authorization" not in api.requests[0].headers
    path = config_path(tmp_path)
    assert stored(tmp_path) == {"url": "http://cloud.test:8080", "token": "cos_a_b"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert f"token kept in {path}" in result.stdout
    assert "signed in to http://cloud.test:8080 as ann" in result.stdout


def test_login_asks_for_the_code_when_the_account_has_two_factor(
    api: FakeApi, tmp_path: Path
) -> None:
    api.on("POST", "/auth/login", SECOND_FACTOR, SIGNED_IN)
    result = run(api, "login", "--user", "ann", stdin="open sesame!\n123456\n")
    assert result.code == 0, result.stderr
    first, second = (json.loads(r.content) for r in api.sent("POST", "/auth/login"))
    assert first["code"] is None
    assert second["code"] == "123456"
    assert stored(tmp_path)["token"] == "cos_a_b"


def test_login_with_code_flag_and_refusals_are_one_line(api: FakeApi, tmp_path: Path) -> None:
    api.on("POST", "/auth/login", REFUSED)
    refused = run(api, "login", "--user", "ann", "--code", "000000", stdin="wrong\n")
    assert refused.code == 1
    assert "sign-in refused: wrong user name" in refused.stderr
    assert "CLOUDOS_TOKEN" not in refused.stderr  # not the "you need a token" hint
    assert api.body("POST", "/auth/login")["code"] == "000000"
    assert not config_path(tmp_path).exists()
    api.on("POST", "/auth/login", SECOND_FACTOR)
    no_code = run(api, "login", "--user", "ann", stdin="open sesame!\n")
    assert no_code.code == 1
    assert "two-factor code: none given" in no_code.stderr
    without_user = run(api, "login", stdin="open sesame!\n")
    assert without_user.code == 1
    assert "--user NAME" in without_user.stderr


def test_login_keeps_other_settings_and_a_stale_token_is_not_sent(
    api: FakeApi, tmp_path: Path
) -> None:
    path = config_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text('# mine\ntoken = "old"\ncolour = "blue"\n\n[extra]\nurl = "keep me"\n')
    api.on("POST", "/auth/login", SIGNED_IN)
    assert run(api, "login", "--user", "ann", stdin="open sesame!\n").code == 0
    assert "authorization" not in api.requests[0].headers
    assert stored(tmp_path) == {
        "colour": "blue",
        "url": "http://127.0.0.1:8080",
        "token": "cos_a_b",
        "extra": {"url": "keep me"},
    }
    assert path.read_text().startswith("# mine\n")


def test_save_config_refuses_to_rewrite_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("token = \n")
    with pytest.raises(Exception, match=str(path)):
        save_config({"token": "x"}, path=path)
    assert path.read_text() == "token = \n"


def test_logout_revokes_the_token_in_use_and_forgets_it(api: FakeApi, tmp_path: Path) -> None:
    save_config({"url": "http://cloud.test", "token": "cos_a_b"}, path=config_path(tmp_path))
    api.on("GET", "/me", (200, {"username": "ann", "token_id": 7}))
    api.on("DELETE", "/tokens/7", (204, None))
    result = run(api, "logout")
    assert result.code == 0, result.stderr
    assert api.sent("DELETE", "/tokens/7")[0].headers["authorization"] == "Bearer cos_a_b"
    assert stored(tmp_path) == {"url": "http://cloud.test"}
    assert "token 7 revoked; removed from" in result.stdout
    again = run(api, "logout")
    assert again.code == 1
    assert "not signed in" in again.stderr


def test_logout_with_a_dead_token_still_forgets_it(api: FakeApi, tmp_path: Path) -> None:
    save_config({"token": "cos_dead"}, path=config_path(tmp_path))
    api.on("GET", "/me", (401, {"status": 401, "title": "t", "detail": "revoked"}))
    result = run(api, "logout")
    assert result.code == 0, result.stderr
    assert "already expired or revoked" in result.stdout
    assert "token" not in stored(tmp_path)


# two-factor sign-in


def test_2fa_enable_shows_the_secret_then_the_recovery_codes(api: FakeApi) -> None:
    api.on("POST", "/me/2fa", (200, {"secret": "JBSWY3DP", "uri": "otpauth://totp/x"}))
    api.on("POST", "/me/2fa/confirm", (200, {"recovery_codes": ["aaaa1", "bbbb2"]}))
    result = run(api, "2fa", "enable", "--token", "t", stdin="open sesame!\n654321\n")
    assert result.code == 0, result.stderr
    assert api.body("POST", "/me/2fa") == {"password": "open sesame!"}
    assert "secret: JBSWY3DP" in result.stdout
    assert "otpauth://totp/x" in result.stdout
    assert api.body("POST", "/me/2fa/confirm") == {"code": "654321"}
    assert "not shown again" in result.stdout
    assert result.stdout.splitlines()[-2:] == ["  aaaa1", "  bbbb2"]


def test_2fa_disable_sends_the_password_and_a_code(api: FakeApi) -> None:
    api.on("POST", "/me/2fa/disable", (204, None))
    result = run(api, "2fa", "disable", "--token", "t", stdin="open sesame!\n123456\n")
    assert result.code == 0, result.stderr
    assert api.body("POST", "/me/2fa/disable") == {"password": "open sesame!", "code": "123456"}
    flagged = run(api, "2fa", "disable", "--code", "654321", "--token", "t", stdin="pw\n")
    assert flagged.code == 0, flagged.stderr
    last = api.sent("POST", "/me/2fa/disable")[-1]
    assert json.loads(last.content) == {"password": "pw", "code": "654321"}


# users


def test_user_ls_add_rm(api: FakeApi) -> None:
    api.on("GET", "/users", (200, [{"username": "ann", "is_admin": True, "two_factor": True,
        "spaces": [{"space": "dev", "role": "owner"}], "created_at": "2024-05-01"}]))  # fmt: skip
    listed = run(api, "user", "ls", "--token", "t")
    assert listed.stdout.splitlines()[1].split() == ["ann", "yes", "on", "dev:owner", "2024-05-01"]
    assert json.loads(run(api, "user", "ls", "--json", "--token", "t").stdout)[0]["is_admin"]

    api.on("POST", "/users", (201, {"username": "bob", "is_admin": True}))
    added = run(api, "user", "add", "bob", "--admin", "--token", "t", stdin="long password\n")
    assert added.code == 0, added.stderr
    assert api.body("POST", "/users") == {
        "username": "bob", "password": "long password", "is_admin": True}  # fmt: skip
    assert "user bob added (cluster admin)" in added.stdout
    empty = run(api, "user", "add", "carl", "--token", "t", stdin="\n")
    assert (empty.code, "user carl: no password given" in empty.stderr) == (1, True)

    api.on("DELETE", "/users/bob", (204, None))
    kept = run(api, "user", "rm", "bob", "--token", "t", stdin="n\n")
    assert kept.code == 1
    assert "not removed" in kept.stderr
    assert not api.sent("DELETE", "/users/bob")
    assert run(api, "user", "rm", "bob", "--yes", "--token", "t").code == 0
    assert len(api.sent("DELETE", "/users/bob")) == 1


def test_user_passwd_resets_another_or_changes_your_own(api: FakeApi) -> None:
    api.on("PUT", "/users/bob/password", (204, None))
    api.on("PUT", "/me/password", (204, None))
    api.on("GET", "/me", (200, {"username": "me", "two_factor": False}))
    reset = run(api, "user", "passwd", "bob", "--token", "t", stdin="new password 1\n")
    assert reset.code == 0, reset.stderr
    assert api.body("PUT", "/users/bob/password") == {"password": "new password 1"}
    own = run(api, "user", "passwd", "--token", "t", stdin="old password\nnew password 2\n")
    assert own.code == 0, own.stderr
    assert api.body("PUT", "/me/password") == {
        "current_password": "old password", "new_password": "new password 2", "code": None,
    }  # fmt: skip


def test_user_passwd_asks_for_a_code_when_two_factor_sign_in_is_on(api: FakeApi) -> None:
    api.on("PUT", "/me/password", (204, None))
    api.on("GET", "/me", (200, {"username": "me", "two_factor": True}))
    own = run(api, "user", "passwd", "--token", "t", stdin="old password\nnew password 2\n123456\n")
    assert own.code == 0, own.stderr
    assert api.body("PUT", "/me/password")["code"] == "123456"


def test_user_commands_for_a_non_admin_fail_in_one_line(api: FakeApi) -> None:
    api.on("GET", "/users", (403, {"status": 403, "title": "t",
                                   "detail": "only a cluster admin may do this"}))  # fmt: skip
    result = run(api, "user", "ls", "--token", "t")
    assert result.code == 1
    assert result.stderr.strip() == "error: only a cluster admin may do this"


# members and invitations


def test_member_ls_add_rm(api: FakeApi) -> None:
    api.on("GET", "/spaces/dev/members", (200, [
        {"username": "ann", "role": "owner", "since": "2024-05-01"}]))  # fmt: skip
    listed = run(api, "member", "ls", "--space", "dev", "--token", "t")
    assert listed.stdout.splitlines()[1].split() == ["ann", "owner", "2024-05-01"]
    api.on("PUT", "/spaces/dev/members/bob", (200, {"username": "bob", "role": "viewer",
                                                    "since": "2024-05-02"}))  # fmt: skip
    added = run(api, "member", "add", "bob", "--space", "dev", "--role", "viewer", "--token", "t")
    assert added.code == 0, added.stderr
    assert api.body("PUT", "/spaces/dev/members/bob") == {"role": "viewer"}
    assert "bob is viewer in space dev" in added.stdout
    bad = run(api, "member", "add", "bob", "--space", "dev", "--role", "boss", "--token", "t")
    assert bad.code == 2
    assert "boss" in bad.stderr
    api.on("DELETE", "/spaces/dev/members/bob", (204, None))
    assert run(api, "member", "rm", "bob", "--space", "dev", "--token", "t").code == 0
    assert len(api.sent("DELETE", "/spaces/dev/members/bob")) == 1


def test_member_invite_prints_the_code_alone_on_stdout(api: FakeApi) -> None:
    api.on("POST", "/spaces/dev/invitations", (201, {"id": 1, "space": "dev", "role": "admin",
        "created_by": "ann", "expires_at": "2024-05-08", "code": "inv_secret"}))  # fmt: skip
    result = run(api, "member", "invite", "--space", "dev", "--role", "admin", "--token", "t")
    assert result.code == 0, result.stderr
    assert result.stdout == "inv_secret\n"
    assert "not shown again" in result.stderr
    assert api.body("POST", "/spaces/dev/invitations") == {"role": "admin"}


def test_member_accept_as_a_new_user_sends_no_token(api: FakeApi) -> None:
    api.on("POST", "/invitations/accept", (200, {"space": "dev", "role": "developer"}))
    result = run(api, "member", "accept", "inv_x", "--user", "cleo", "--token", "t",
                 stdin="cleo's password\n")  # fmt: skip
    assert result.code == 0, result.stderr
    (request,) = api.sent("POST", "/invitations/accept")
    assert "authorization" not in request.headers
    assert json.loads(request.content) == {
        "code": "inv_x", "username": "cleo", "password": "cleo's password"}  # fmt: skip
    assert "cleo joined space dev as developer" in result.stdout
    signed_in = run(api, "member", "accept", "inv_y", "--token", "t")
    assert signed_in.code == 0
    assert api.sent("POST", "/invitations/accept")[1].headers["authorization"] == "Bearer t"
    anonymous = run(api, "member", "accept", "inv_z")
    assert anonymous.code == 1
    assert "cloudos login" in anonymous.stderr


# tokens


def a_token(**changes: Any) -> dict[str, Any]:
    token = {"id": 3, "name": "ci", "space": "dev", "role": "developer",
             "created_at": "2024-05-01", "expires_at": None, "last_used_at": None,
             "revoked": False, "token": None}  # fmt: skip
    return token | changes


def test_token_create_prints_the_secret_once_and_ls_never(api: FakeApi) -> None:
    api.on("POST", "/tokens", (201, a_token(token="cos_ab_secret")))
    created = run(api, "token", "create", "ci", "--space", "dev", "--role", "developer",
                  "--days", "7", "--token", "t")  # fmt: skip
    assert created.code == 0, created.stderr
    assert created.stdout == "cos_ab_secret\n"
    assert "not shown again" in created.stderr
    assert api.body("POST", "/tokens") == {
        "name": "ci", "space": "dev", "role": "developer", "expires_days": 7}  # fmt: skip
    api.on("GET", "/tokens", (200, [a_token(), a_token(id=4, space=None, role=None,
                                                        revoked=True)]))  # fmt: skip
    listed = run(api, "token", "ls", "--token", "t").stdout.splitlines()
    assert listed[1].split() == ["3", "ci", "dev", "developer", "2024-05-01", "never", "active"]
    assert listed[2].split()[-1] == "revoked"
    assert "secret" not in run(api, "token", "ls", "--json", "--token", "t").stdout


def test_token_revoke(api: FakeApi) -> None:
    api.on("DELETE", "/tokens/3", (204, None))
    result = run(api, "token", "revoke", "3", "--token", "t")
    assert (result.code, result.stdout) == (0, "token 3 revoked\n")
    api.on("DELETE", "/tokens/9", (404, {"status": 404, "title": "t",
                                         "detail": "token 9 not found"}))  # fmt: skip
    missing = run(api, "token", "revoke", "9", "--token", "t")
    assert (missing.code, missing.stderr.strip()) == (1, "error: token 9 not found")


# audit log


EVENT = {"id": 1, "at": "2024-05-01T12:00:00", "actor": "ann", "client_address": "10.0.0.1",
         "action": "member_set", "space": "dev", "target": "username=bob",
         "result": "ok 200", "detail": None}  # fmt: skip


def test_audit_ls_filters_cluster_wide_or_per_space(api: FakeApi) -> None:
    api.on("GET", "/audit", (200, [EVENT]))
    api.on("GET", "/spaces/dev/audit", (200, [EVENT]))
    listed = run(api, "audit", "ls", "--actor", "ann", "--action", "member", "--limit", "5",
                 "--since", "2024-05-01T00:00:00Z", "--token", "t")  # fmt: skip
    assert listed.code == 0, listed.stderr
    assert listed.stdout.splitlines()[1].split() == [
        "2024-05-01T12:00:00", "ann", "10.0.0.1", "member_set", "dev", "username=bob", "ok",
        "200"]  # fmt: skip
    (request,) = api.sent("GET", "/audit")
    assert dict(request.url.params) == {"actor": "ann", "action": "member", "limit": "5",
                                        "since": "2024-05-01T00:00:00Z"}  # fmt: skip
    as_json = run(api, "audit", "ls", "--space", "dev", "--json", "--token", "t")
    assert json.loads(as_json.stdout) == [EVENT]
    assert "format" not in api.sent("GET", "/spaces/dev/audit")[0].url.params


def test_audit_ls_jsonl_streams_json_lines(api: FakeApi) -> None:
    lines = json.dumps(EVENT) + "\n" + json.dumps(EVENT | {"id": 2}) + "\n"
    api.on("GET", "/audit", (200, lines))
    result = run(api, "audit", "ls", "--jsonl", "--token", "t")
    assert result.code == 0, result.stderr
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == [1, 2]
    assert api.sent("GET", "/audit")[0].url.params["format"] == "jsonl"
    both = run(api, "audit", "ls", "--jsonl", "--json", "--token", "t")
    assert (both.code, "choose one" in both.stderr) == (1, True)


def test_audit_since_durations_count_back_from_now() -> None:
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert since_time("2h", now=now) == "2024-05-01T10:00:00+00:00"
    assert since_time("2024-04-01T00:00:00Z", now=now) == "2024-04-01T00:00:00Z"


def test_a_problem_from_the_api_is_one_line(api: FakeApi) -> None:
    api.on("GET", "/spaces/x/members", (404, {"status": 404, "title": "t",
                                              "detail": "space 'x' not found"}))  # fmt: skip
    result = run(api, "member", "ls", "--space", "x", "--token", "t")
    assert (result.code, result.stderr) == (1, "error: space 'x' not found\n")


# offline recovery on the host


def test_admin_reset_password_names_the_users_and_can_turn_2fa_off(
    api: FakeApi, tmp_path: Path
) -> None:
    from sqlalchemy import select

    from cloudos.identity import verify_password
    from cloudos.store import open_database
    from cloudos.store.models import User

    data = str(tmp_path / "data")
    assert run(api, "admin", "create-token", "--data-dir", data).code == 0
    unknown = run(api, "admin", "reset-password", "nobody", "--data-dir", data)
    assert (unknown.code, unknown.stderr) == (1, "error: no user 'nobody' (users: admin)\n")
    database = open_database(f"sqlite:///{data}/cloudos.db")
    try:
        with database.session() as session:
            admin = session.scalars(select(User)).one()
            admin.totp_secret = "pretend"
        short = run(api, "admin", "reset-password", "admin", "--data-dir", data,
                    "--password-stdin", stdin="short\n")  # fmt: skip
        assert short.code == 1
        assert "password: use at least" in short.stderr
        reset = run(api, "admin", "reset-password", "admin", "--data-dir", data,
                    "--password-stdin", "--disable-2fa",
                    stdin="long enough password\n")  # fmt: skip
        assert (reset.code, reset.stdout) == (0, "")
        assert "two-factor sign-in turned off" in reset.stderr
        with database.session() as session:
            admin = session.scalars(select(User)).one()
            assert admin.totp_secret is None
            assert verify_password(admin.password_hash, "long enough password")
    finally:
        database.close()
    assert not api.requests  # no control plane involved
