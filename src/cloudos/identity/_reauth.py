"""Account-wide actions: who may take them, and proving it is really the account's owner.

A token scoped to one space acts for its maker in that space only; it must never
reach the account itself (its password, its second factor, its other tokens), or a
CI job's viewer token could lock its owner out. And a browser session left open is
not the owner either: changing the password or the second factor asks again for the
current password, plus a current code when two-factor sign-in is on.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from cloudos.errors import Forbidden
from cloudos.identity._accounts import Principal, set_password, verify_password
from cloudos.identity._twofactor import (
    begin_totp,
    confirm_totp,
    disable_totp,
    second_factor_ok,
)
from cloudos.store.models import User
from cloudos.vault import Vault

SCOPED_REFUSED = (
    "an API token scoped to a space cannot change the account: sign in, or use a "
    "token that is not scoped to a space"
)


def require_unscoped(principal: Principal) -> None:
    """Refuse a token scoped to a space: account-wide actions need the whole account."""
    if principal.scope_space_id is not None:
        raise Forbidden(SCOPED_REFUSED)


def reauthenticate(
    user: User,
    vault: Vault,
    *,
    password: str,
    code: str | None,
    field: str = "current_password",
) -> None:
    """Check the account's current password and, with two-factor sign-in on, a current
    code (or an unused recovery code, then used up); :class:`Forbidden` naming the field."""
    if not verify_password(user.password_hash, password):
        raise Forbidden(f"{field}: wrong password", field=field, code="wrong_password")
    if user.totp_secret is None:
        return
    if not code:
        raise Forbidden(
            "code: the current two-factor code (or a recovery code) is needed",
            field="code",
            code="second_factor_needed",
        )
    if not second_factor_ok(user, vault, code):
        raise Forbidden(
            "code: not a current two-factor code or an unused recovery code", field="code"
        )


# The account's own operations, one each for the API, the web pages and the CLI.


def change_own_password(
    session: Session,
    user: User,
    vault: Vault,
    *,
    principal: Principal,
    current_password: str,
    code: str | None,
    new_password: str,
) -> None:
    """The caller's new password, proven by the current one (and code); sessions end."""
    require_unscoped(principal)
    reauthenticate(user, vault, password=current_password, code=code)
    set_password(session, user, new_password, field="new_password")


def begin_own_totp(
    user: User, vault: Vault, *, principal: Principal, password: str
) -> tuple[str, str]:
    """Start turning two-factor sign-in on, proven by the password: (secret, URI)."""
    require_unscoped(principal)
    reauthenticate(user, vault, password=password, code=None, field="password")
    return begin_totp(user, vault)


def confirm_own_totp(user: User, vault: Vault, *, principal: Principal, code: str) -> list[str]:
    """Finish turning it on with a code of the new secret; the recovery codes, shown once."""
    require_unscoped(principal)
    return confirm_totp(user, vault, code)


def disable_own_totp(
    user: User, vault: Vault, *, principal: Principal, password: str, code: str | None
) -> None:
    """Turn two-factor sign-in off, proven by the password and a current code."""
    require_unscoped(principal)
    reauthenticate(user, vault, password=password, code=code, field="password")
    disable_totp(user)


__all__ = [
    "SCOPED_REFUSED",
    "begin_own_totp",
    "change_own_password",
    "confirm_own_totp",
    "disable_own_totp",
    "reauthenticate",
    "require_unscoped",
]
