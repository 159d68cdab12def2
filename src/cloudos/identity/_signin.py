"""Signing in: password and second factor, throttling, browser sessions.

Failed sign-ins are counted under three keys, each its own lock, so that nobody can
use the throttle to lock out someone else:

* the account and address together (``pair:<user>|<address>``): after
  ``PAIR_MAX_FAILURES`` within ``WINDOW`` that address may not try that account for
  ``LOCKOUT``. One guesser at one address is stopped fast, and nobody else is.
* the address (``addr:<address>``): after ``ADDRESS_MAX_FAILURES`` (password spraying
  over many accounts) the address is locked for every account. The limit is high so
  that the typos of many people behind one address lock nobody out.
* the account (``user:<name>``): after ``ACCOUNT_MAX_FAILURES`` from anywhere (guessers
  spread over many addresses) the account is locked, except at its *known addresses*:
  where its owner signed in successfully within ``KNOWN_ADDRESS_LIFETIME``. The owner
  at home still gets in with the right password while the guessers are refused.

While a key is locked even the right password is refused. Every refusal says the
same thing, and an unknown user costs a password hash like a known one, so an
attacker learns nothing about which accounts exist or which lock stopped them. A
success clears only its pair's count: clearing the address's would let a sprayer
reset it with an account of their own, clearing the account's would let its owner's
sign-ins reopen it to the guessers. Known addresses are kept per user, at most
``KNOWN_ADDRESSES_PER_USER`` (the most recent), older ones forgotten.

A browser session is a random cookie value whose hash is stored, plus a CSRF token
that forms and scripts send back in a header on every request that changes
something.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
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
from cloudos.store.models import KnownAddress, LoginThrottle, User, WebSession, utcnow
from cloudos.vault import Vault

PAIR_MAX_FAILURES = 5
ADDRESS_MAX_FAILURES = 50
ACCOUNT_MAX_FAILURES = 10
WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)
KNOWN_ADDRESS_LIFETIME = timedelta(days=30)
KNOWN_ADDRESSES_PER_USER = 20
SESSION_LIFETIME = timedelta(hours=12)
SESSION_PREFIX = "coss"
REFUSED = "sign-in refused: wrong user name, password or code, or too many attempts"
SECOND_FACTOR_NEEDED = "a two-factor code is needed"


class SignInRefused(Unauthenticated):
    """Sign-in refused; ``needs_code`` when only the second factor is missing."""

    def __init__(self, *, needs_code: bool = False) -> None:
        if needs_code:
            super().__init__(SECOND_FACTOR_NEEDED, field="code", code="second_factor_needed")
        else:
            super().__init__(REFUSED)
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
    now: datetime | None = None,
) -> User:
    """The user if name, password and (when turned on) second factor are right.

    Refusals are counted; the caller must commit even when this raises, so the count
    sticks (see :func:`sign_in` users in the web layer).
    """
    now = now or utcnow()
    name = username.lower()
    account = _Throttle.get(session, f"user:{name}", ACCOUNT_MAX_FAILURES, now)
    counted = [account]
    if address:
        pair = _Throttle.get(session, f"pair:{name}|{address}", PAIR_MAX_FAILURES, now)
        shared = _Throttle.get(session, f"addr:{address}", ADDRESS_MAX_FAILURES, now)
        counted += [pair, shared]
    user = session.scalar(select(User).where(User.username == username))
    password_ok = verify_password(user.password_hash if user else _dummy_hash(), password)
    spared = user is not None and _is_known(session, user, address, now)
    locked = any(t.locked(now) for t in counted if not (t is account and spared))
    if locked or user is None or not password_ok:
        _failed(counted, now)
        raise SignInRefused()
    if user.totp_secret is not None:
        if not code:
            raise SignInRefused(needs_code=True)
        if not second_factor_ok(user, vault, code):
            _failed(counted, now)
            raise SignInRefused()
    if address:
        pair.row.failures, pair.row.locked_until = 0, None
        _remember(session, user, address, now)
    return user


def clear_lockout(session: Session, username: str) -> None:
    """Forget the failed sign-ins of an account, at every address, and of every address.

    For the way back in from the host (``cloudos admin reset-password``): the admin
    who locked themselves out also locked their own address, which is not known here.
    """
    name = username.lower()
    session.execute(
        delete(LoginThrottle).where(
            (LoginThrottle.key == f"user:{name}")
            | LoginThrottle.key.startswith(f"pair:{name}|", autoescape=True)
            | LoginThrottle.key.startswith("addr:")
        )
    )


@dataclass(frozen=True)
class _Throttle:
    """One counted key and the number of failures that locks it."""

    row: LoginThrottle
    limit: int

    @classmethod
    def get(cls, session: Session, key: str, limit: int, now: datetime) -> _Throttle:
        row = session.get(LoginThrottle, key)
        if row is None:
            row = LoginThrottle(key=key, failures=0, first_failure_at=now)
            session.add(row)
        elif now - row.first_failure_at > WINDOW and not _locked(row, now):
            row.failures, row.first_failure_at, row.locked_until = 0, now, None
        return cls(row, limit)

    def locked(self, now: datetime) -> bool:
        return _locked(self.row, now)


def _locked(row: LoginThrottle, now: datetime) -> bool:
    return row.locked_until is not None and row.locked_until > now


def _failed(throttles: list[_Throttle], now: datetime) -> None:
    for throttle in throttles:
        row = throttle.row
        if row.failures == 0:
            row.first_failure_at = now
        row.failures += 1
        if row.failures >= throttle.limit:
            row.locked_until = now + LOCKOUT


def _is_known(session: Session, user: User, address: str | None, now: datetime) -> bool:
    """Whether ``user`` signed in from ``address`` within the known-address lifetime."""
    if not address:
        return False
    seen = session.scalar(
        select(KnownAddress.signed_in_at).where(
            KnownAddress.user_id == user.id, KnownAddress.address == address
        )
    )
    return seen is not None and now - seen <= KNOWN_ADDRESS_LIFETIME


def _remember(session: Session, user: User, address: str, now: datetime) -> None:
    """Record a successful sign-in's address; keep only the recent few of the user's."""
    rows = list(
        session.scalars(
            select(KnownAddress)
            .where(KnownAddress.user_id == user.id)
            .order_by(KnownAddress.signed_in_at.desc(), KnownAddress.id.desc())
        )
    )
    this = next((row for row in rows if row.address == address), None)
    if this is None:
        this = KnownAddress(user_id=user.id, address=address, signed_in_at=now)
        session.add(this)
    else:
        this.signed_in_at = now
        rows.remove(this)
    kept = 1
    for row in rows:
        if kept < KNOWN_ADDRESSES_PER_USER and now - row.signed_in_at <= KNOWN_ADDRESS_LIFETIME:
            kept += 1
        else:
            session.delete(row)


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
    "ACCOUNT_MAX_FAILURES",
    "ADDRESS_MAX_FAILURES",
    "KNOWN_ADDRESSES_PER_USER",
    "KNOWN_ADDRESS_LIFETIME",
    "LOCKOUT",
    "PAIR_MAX_FAILURES",
    "REFUSED",
    "SESSION_LIFETIME",
    "WINDOW",
    "SignInRefused",
    "clear_lockout",
    "end_session",
    "sign_in",
    "start_session",
    "verify_session",
]
