"""Two-factor authentication: TOTP (RFC 6238) with single-use recovery codes.

Turning it on takes two steps, so a mistyped secret cannot lock anyone out: ``begin``
stores a pending secret and returns it (with an ``otpauth://`` URI for authenticator
apps); ``confirm`` with a valid code makes it the user's and returns ten recovery
codes, shown once and stored as hashes. Secrets are encrypted with the vault.
"""

from __future__ import annotations

import hmac
import secrets

import pyotp

from cloudos.errors import Conflict, InvalidInput
from cloudos.identity._accounts import digest
from cloudos.store.models import User
from cloudos.vault import Vault

ISSUER = "Cloud OS"
RECOVERY_CODES = 10


def begin_totp(user: User, vault: Vault) -> tuple[str, str]:
    """Start enrolment: a new pending secret and its provisioning URI."""
    if user.totp_secret is not None:
        raise Conflict("two-factor authentication is already on; turn it off first")
    secret = pyotp.random_base32()
    user.totp_pending = vault.encrypt(secret)
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)
    return secret, uri


def confirm_totp(user: User, vault: Vault, code: str) -> list[str]:
    """Finish enrolment with a code from the app; returns the recovery codes (shown once)."""
    if user.totp_pending is None:
        raise InvalidInput("no two-factor set-up in progress; start one first")
    secret = vault.decrypt(user.totp_pending)
    if not _totp_ok(secret, code):
        raise InvalidInput("code: not the current code of the authenticator app", field="code")
    user.totp_secret, user.totp_pending = user.totp_pending, None
    codes = [f"{secrets.token_hex(5)}" for _ in range(RECOVERY_CODES)]
    user.recovery_codes = [digest(code) for code in codes]
    return codes


def disable_totp(user: User) -> None:
    """Turn two-factor authentication off (the caller has proven who they are)."""
    user.totp_secret = user.totp_pending = None
    user.recovery_codes = []


def second_factor_ok(user: User, vault: Vault, code: str) -> bool:
    """Whether ``code`` is the current TOTP code or an unused recovery code (then used up)."""
    if user.totp_secret is None:
        return True
    code = code.strip().replace(" ", "").lower()
    if code.isdigit() and _totp_ok(vault.decrypt(user.totp_secret), code):
        return True
    hashed = digest(code)
    for stored in user.recovery_codes:
        if hmac.compare_digest(stored, hashed):
            user.recovery_codes = [c for c in user.recovery_codes if c != stored]
            return True
    return False


def _totp_ok(secret: str, code: str) -> bool:
    # One step either side: phones' clocks drift.
    return pyotp.TOTP(secret).verify(code.strip(), valid_window=1)


__all__ = ["begin_totp", "confirm_totp", "disable_totp", "second_factor_ok"]
