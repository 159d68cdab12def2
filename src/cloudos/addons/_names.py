"""Database and user names, and passwords, for an app's addon (pure).

Any owner string (an app's stack name) becomes an identifier every server accepts
unquoted and that no quoting can break: lower-case ASCII letters, digits and ``_``,
starting with a letter, at most 63 characters (PostgreSQL's limit; MariaDB allows 64
for databases and 80 for users). A readable prefix
keeps ``SHOW DATABASES`` legible; a hash of the whole owner string keeps two owners
apart even when their prefixes agree, and the same owner always gets the same names.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string

from cloudos.addons._model import AddonNames, ServerKind
from cloudos.errors import InvalidInput

MAX_IDENTIFIER = 63
IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,62}")
PASSWORD = re.compile(r"[A-Za-z0-9]{16,128}")
PASSWORD_LENGTH = 32
_ALPHABET = string.ascii_letters + string.digits
_HASH_LENGTH = 12  # 48 bits: with prefixes that agree too, a clash is not a real risk


def addon_names(owner: str, kind: ServerKind) -> AddonNames:
    """The database and user of ``owner``'s ``kind`` addon: valid, unique, stable."""
    del kind  # every kind accepts the same identifiers; the signature leaves room
    readable = re.sub(r"[^a-z0-9]+", "_", owner.lower()).strip("_")
    if not readable[:1].isalpha():
        readable = f"a_{readable}"
    digest = hashlib.sha256(owner.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_LENGTH]
    prefix = readable[: MAX_IDENTIFIER - _HASH_LENGTH - 1].rstrip("_")
    name = f"{prefix}_{digest}"
    return AddonNames(database=name, user=name)


def generate_password() -> str:
    """A random alphanumeric password (32 characters, about 190 bits)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(PASSWORD_LENGTH))


def check_identifier(name: str) -> str:
    """``name`` if it is a safe identifier, else :class:`InvalidInput`."""
    if not IDENTIFIER.fullmatch(name):
        raise InvalidInput(
            f"addon name {name!r} is not a valid identifier "
            "(lower-case letters, digits and '_', starting with a letter, at most 63)"
        )
    return name


def check_password(password: str) -> str:
    """``password`` if it is 16-128 letters and digits, else :class:`InvalidInput`."""
    if not PASSWORD.fullmatch(password):
        raise InvalidInput("an addon password must be 16-128 ASCII letters and digits")
    return password


__all__ = [
    "IDENTIFIER",
    "MAX_IDENTIFIER",
    "addon_names",
    "check_identifier",
    "check_password",
    "generate_password",
]
