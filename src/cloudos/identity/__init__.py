"""Users, sessions, 2FA, tokens, audit log."""

from cloudos.identity._accounts import (
    INITIAL_ADMIN,
    INITIAL_PASSWORD_FILE,
    Principal,
    create_token,
    create_user,
    ensure_first_admin,
    first_admin,
    hash_password,
    verify_password,
    verify_token,
)

__all__ = [
    "INITIAL_ADMIN",
    "INITIAL_PASSWORD_FILE",
    "Principal",
    "create_token",
    "create_user",
    "ensure_first_admin",
    "first_admin",
    "hash_password",
    "verify_password",
    "verify_token",
]
