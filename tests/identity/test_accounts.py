"""Users and API tokens."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from cloudos.errors import Conflict, InvalidInput
from cloudos.identity import (
    create_token,
    create_user,
    ensure_first_admin,
    first_admin,
    verify_password,
    verify_token,
)
from cloudos.store import ApiToken, Database, utcnow


@pytest.mark.real_hashes
def test_password_is_stored_as_argon2id_at_the_recommended_cost(database: Database) -> None:
    with database.session() as session:
        user = create_user(session, username="ada", password="correct horse")
        # RFC 9106's second recommended option, argon2-cffi's default: 64 MiB, 3 passes.
        assert user.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
        assert "correct horse" not in user.password_hash
        assert verify_password(user.password_hash, "correct horse")
        assert not verify_password(user.password_hash, "wrong")


def test_user_names_are_unique_and_checked(database: Database) -> None:
    with database.session() as session:
        create_user(session, username="ada", password="x")
        with pytest.raises(Conflict, match="already exists"):
            create_user(session, username="ada", password="y")
        with pytest.raises(InvalidInput, match="user name"):
            create_user(session, username="bad name!", password="y")


def test_first_admin_is_created_once(database: Database, tmp_path: Path) -> None:
    with database.session() as session:
        created = ensure_first_admin(session, tmp_path)
        assert created is not None
        assert created.stat().st_mode & 0o777 == 0o600
        password = created.read_text().split("password: ")[1].strip()
        admin = first_admin(session)
        assert admin is not None
        assert admin.is_admin
        assert verify_password(admin.password_hash, password)
    with database.session() as session:
        assert ensure_first_admin(session, tmp_path) is None


def test_token_round_trip_and_only_hash_stored(database: Database) -> None:
    with database.session() as session:
        user = create_user(session, username="ada", password="x", is_admin=True)
        token = create_token(session, user=user, name="ci")
    with database.session() as session:
        principal = verify_token(session, token)
        assert principal is not None
        assert (principal.username, principal.is_admin) == ("ada", True)
        stored = session.scalars(select(ApiToken)).one()
        assert token.split("_", 2)[2] not in stored.secret_hash
        assert stored.last_used_at is not None


@pytest.mark.parametrize(
    "mangle",
    [
        lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),
        lambda token: "xyz" + token[3:],
        lambda token: "",
        lambda token: "cos_only-two",
    ],
)
def test_wrong_tokens_are_refused(database: Database, mangle: object) -> None:
    with database.session() as session:
        user = create_user(session, username="ada", password="x")
        token = create_token(session, user=user, name="ci")
    with database.session() as session:
        assert verify_token(session, mangle(token)) is None  # type: ignore[operator]


def test_expired_and_revoked_tokens_are_refused(database: Database) -> None:
    with database.session() as session:
        user = create_user(session, username="ada", password="x")
        expired = create_token(session, user=user, name="old", expires_at=utcnow() - timedelta(1))
        revoked = create_token(session, user=user, name="gone")
        valid = create_token(session, user=user, name="ok", expires_at=utcnow() + timedelta(1))
    with database.session() as session:
        row = session.scalars(select(ApiToken).where(ApiToken.name == "gone")).one()
        row.revoked_at = utcnow()
    with database.session() as session:
        assert verify_token(session, expired) is None
        assert verify_token(session, revoked) is None
        assert verify_token(session, valid) is not None
