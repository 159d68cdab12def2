"""Users and API tokens.

Passwords are hashed with argon2id. An API token is shown once and stored as a
SHA-256 hash of its secret: tokens carry 256 bits of randomness, so a fast hash is
as safe as a slow one and keeps every API request cheap. The short public prefix
finds the row without scanning.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloudos.errors import Conflict, InvalidInput
from cloudos.identity._names import check_display_name
from cloudos.store.models import ApiToken, User, WebSession, utcnow

TOKEN_PREFIX = "cos"
MIN_PASSWORD_LENGTH = 10
INITIAL_ADMIN = "admin"
INITIAL_PASSWORD_FILE = "initial-admin-password"

_hasher = PasswordHasher()
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class Principal:
    """Who is making a request: the user behind a verified token or browser session.

    A token scoped to a space (``scope_space_id``) acts only there, with at most
    ``scope_role``, and never as a cluster admin.
    """

    user_id: int
    username: str
    is_admin: bool
    token_id: int | None = None
    session_id: int | None = None
    scope_space_id: int | None = None
    scope_role: str | None = None
    user_is_admin: bool = False


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash``."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def create_user(session: Session, *, username: str, password: str, is_admin: bool = False) -> User:
    """Add a user; the name must be free."""
    if not _USERNAME.fullmatch(username):
        raise InvalidInput(
            f"user name {username!r}: use 1-64 letters, digits, '.', '-' or '_'", field="username"
        )
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise Conflict(f"user {username!r} already exists", field="username", code="name_taken")
    user = User(username=username, password_hash=hash_password(password), is_admin=is_admin)
    session.add(user)
    session.flush()
    return user


def ensure_first_admin(session: Session, data_dir: Path) -> Path | None:
    """Create the first admin when there are no users yet.

    Its random password goes to a file readable only by the owner in ``data_dir``;
    returns that path when the admin was created now, ``None`` otherwise.
    """
    if session.scalar(select(func.count()).select_from(User)):
        return None
    password = secrets.token_urlsafe(18)
    create_user(session, username=INITIAL_ADMIN, password=password, is_admin=True)
    path = data_dir / INITIAL_PASSWORD_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(f"user: {INITIAL_ADMIN}\npassword: {password}\n", encoding="utf-8")
    return path


def first_admin(session: Session) -> User | None:
    """The oldest cluster admin, if any."""
    return session.scalar(select(User).where(User.is_admin).order_by(User.id).limit(1))


def create_token(
    session: Session,
    *,
    user: User,
    name: str,
    expires_at: datetime | None = None,
    space_id: int | None = None,
    role: str | None = None,
) -> str:
    """Create an API token for ``user``; returns its secret, which is not stored.

    Its name must be printable text (:func:`check_display_name`)."""
    check_display_name(name, field="name")
    prefix, secret, digest = new_secret()
    session.add(
        ApiToken(
            user=user,
            name=name,
            prefix=prefix,
            secret_hash=digest,
            expires_at=expires_at,
            space_id=space_id,
            role=role,
        )
    )
    session.flush()
    return f"{TOKEN_PREFIX}_{prefix}_{secret}"


def new_secret() -> tuple[str, str, str]:
    """A random (public prefix, secret, hash of the secret) for a token-like credential."""
    secret = secrets.token_urlsafe(32)
    return secrets.token_hex(4), secret, digest(secret)


def set_password(session: Session, user: User, password: str, *, field: str = "password") -> None:
    """Give ``user`` a new password (the input called ``field``); their browser sessions
    end (tokens stay)."""
    check_password_strength(password, field=field)
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    for row in session.scalars(select(WebSession).where(WebSession.user_id == user.id)):
        row.revoked_at = row.revoked_at or utcnow()


def check_password_strength(password: str, *, field: str = "password") -> None:
    """Refuse passwords too short to resist guessing (:class:`InvalidInput` on ``field``)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"{field}: use at least {MIN_PASSWORD_LENGTH} characters", field=field)


def verify_token(session: Session, token: str) -> Principal | None:
    """The principal a token stands for, or ``None`` if it is unknown, expired or revoked."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        return None
    _, prefix, secret = parts
    now = utcnow()
    for row in session.scalars(select(ApiToken).where(ApiToken.prefix == prefix)):
        if not hmac.compare_digest(row.secret_hash, digest(secret)):
            continue
        if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
            return None
        row.last_used_at = now
        scoped = row.space_id is not None
        return Principal(
            user_id=row.user.id,
            username=row.user.username,
            is_admin=row.user.is_admin and not scoped,
            token_id=row.id,
            scope_space_id=row.space_id,
            scope_role=row.role,
            user_is_admin=row.user.is_admin,
        )
    return None


def digest(secret: str) -> str:
    """The stored form of a high-entropy secret (tokens, session cookies, codes)."""
    return hashlib.sha256(secret.encode()).hexdigest()


__all__ = [
    "INITIAL_ADMIN",
    "INITIAL_PASSWORD_FILE",
    "Principal",
    "check_password_strength",
    "create_token",
    "create_user",
    "digest",
    "ensure_first_admin",
    "first_admin",
    "hash_password",
    "new_secret",
    "set_password",
    "verify_password",
    "verify_token",
]
