"""Signing in: password and second factor, throttling, browser sessions.

Failed sign-ins are counted per account and per client address. After
``MAX_FAILURES`` within ``WINDOW`` the account (or address) is locked for
``LOCKOUT``; while locked even the right password is refused. Every refusal says the
same thing, so an attacker learns nothing about which accounts exist.

A browser session is a random cookie value whose hash is stored, plus a CSRF token
that forms and scripts send back in a header on every request that changes
something.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloudos.errors import Unauthenticated
from cloudos.identity._accounts import (
    Principal,
    digest,
    hash_password,
    new_secret,
    verify_password,
)
from cloudos.identity._twofactor import second_factor_ok
from cloudos.store.models import LoginThrottle, User, WebSession, utcnow
from cloudos.vault import Vault

MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)
SESSION_LIFETIME = timedelta(hours=12)
SESSION_PREFIX = "coss"
REFUSED = "sign-in refused: wrong user name, password or code, or too many attempts"
SECOND_FACTOR_NEEDED = "a two-factor code is needed"


class SignInRefused(Unauthenticated):
    """Sign-in refused; ``needs_code`` when only the second factor is missing."""

    def __init__(self, *, needs_code: bool = False) -> None:
        super().__init__(SECOND_FACTOR_NEEDED if needs_code else REFUSED)
        self.needs_code = needs_code


@functools.cache
def _dummy_hash() -> str:
    # Checking a password against this makes an unknown user cost as much as a known one.
    return hash_password(secrets.token_hex(16))


def sign_in(
    session: Session,
    vault: Vault,
    *,
    username: str,
    password: str,
    code: str | None,
    address: str | None,
) -> User:
    """The user if name, password and (when turned on) second factor are right.

    Refusals are counted; the caller must commit even when this raises, so the count
    sticks (see :func:`sign_in` users in the web layer).
    """
    now = utcnow()
    keys = [f"user:{username.lower()}"] + ([f"addr:{address}"] if address else [])
    throttles = [_throttle(session, key, now) for key in keys]
    locked = any(t.locked_until is not None and t.locked_until > now for t in throttles)
    user = session.scalar(select(User).where(User.username == username))
    password_ok = verify_password(user.password_hash if user else _dummy_hash(), password)
    if locked or user is None or not password_ok:
        _failed(throttles, now)
        raise SignInRefused()
    if user.totp_secret is not None:
        if not code:
            raise SignInRefused(needs_code=True)
        if not second_factor_ok(user, vault, code):
            _failed(throttles, now)
            raise SignInRefused()
    for throttle in throttles:
        throttle.failures, throttle.locked_until = 0, None
    return user


def clear_lockout(session: Session, username: str) -> None:
    """Forget the failed sign-ins of an account and of every client address.

    For the way back in from the host (``cloudos admin reset-password``): the admin
    who locked themselves out also locked their own address, which is not known here.
    """
    rows = session.scalars(
        select(LoginThrottle).where(
            (LoginThrottle.key == f"user:{username.lower()}")
            | LoginThrottle.key.startswith("addr:")
        )
    )
    for row in rows:
        session.delete(row)


def _throttle(session: Session, key: str, now: datetime) -> LoginThrottle:
    row = session.get(LoginThrottle, key)
    if row is None:
        row = LoginThrottle(key=key, failures=0, first_failure_at=now)
        session.add(row)
    elif now - row.first_failure_at > WINDOW and (
        row.locked_until is None or row.locked_until <= now
    ):
        row.failures, row.first_failure_at, row.locked_until = 0, now, None
    return row


def _failed(throttles: list[LoginThrottle], now: datetime) -> None:
    for throttle in throttles:
        if throttle.failures == 0:
            throttle.first_failure_at = now
        throttle.failures += 1
        if throttle.failures >= MAX_FAILURES:
            throttle.locked_until = now + LOCKOUT


def start_session(session: Session, user: User, *, address: str | None) -> tuple[str, str]:
    """A new browser session: (cookie value, CSRF token)."""
    prefix, secret, hashed = new_secret()
    csrf = secrets.token_urlsafe(24)
    now = utcnow()
    session.add(
        WebSession(
            user_id=user.id,
            prefix=prefix,
            secret_hash=hashed,
            csrf_token=csrf,
            client_address=address,
            created_at=now,
            last_seen_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    session.flush()
    return f"{SESSION_PREFIX}_{prefix}_{secret}", csrf


def verify_session(session: Session, cookie: str) -> tuple[Principal, str] | None:
    """The principal and CSRF token of a live session cookie, else ``None``."""
    parts = cookie.split("_", 2)
    if len(parts) != 3 or parts[0] != SESSION_PREFIX:
        return None
    _, prefix, secret = parts
    now = utcnow()
    for row in session.scalars(select(WebSession).where(WebSession.prefix == prefix)):
        if not hmac.compare_digest(row.secret_hash, digest(secret)):
            continue
        if row.revoked_at is not None or row.expires_at <= now:
            return None
        user = session.get(User, row.user_id)
        if user is None:
            return None
        row.last_seen_at = now
        principal = Principal(
            user_id=user.id,
            username=user.username,
            is_admin=user.is_admin,
            session_id=row.id,
            user_is_admin=user.is_admin,
        )
        return principal, row.csrf_token
    return None


def end_session(session: Session, session_id: int) -> None:
    """Sign a browser session out."""
    row = session.get(WebSession, session_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()


__all__ = [
    "LOCKOUT",
    "MAX_FAILURES",
    "REFUSED",
    "SESSION_LIFETIME",
    "SignInRefused",
    "clear_lockout",
    "end_session",
    "sign_in",
    "start_session",
    "verify_session",
]
