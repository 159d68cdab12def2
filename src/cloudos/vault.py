"""Secrets at rest: values encrypted with a key kept in the data directory.

Generated passwords and other secret parameter values are stored encrypted
(Fernet: AES-128-CBC with HMAC-SHA256) in the database; the key never leaves the
data directory, so a copy of the database alone reveals nothing. Encrypted values
are strings marked ``enc:v1:``, so code can tell them from plain ones.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from cloudos.errors import EnvironmentProblem

KEY_FILE = "secret.key"
MARK = "enc:v1:"


class Vault:
    """Encrypts and decrypts secret values with the data directory's key."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def open(cls, data_dir: Path) -> Vault:
        """The vault of ``data_dir``, creating its key (mode 0600) on first use."""
        path = data_dir / KEY_FILE
        try:
            if not path.exists():
                data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(descriptor, "wb") as handle:
                    handle.write(Fernet.generate_key())
            return cls(path.read_bytes().strip())
        except FileExistsError:  # another process made it first: use theirs
            return cls(path.read_bytes().strip())
        except (OSError, ValueError) as err:
            raise EnvironmentProblem(f"secret key {path} cannot be used: {err}") from err

    def encrypt(self, value: str) -> str:
        """The encrypted, marked form of ``value``."""
        return MARK + self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, value: str) -> str:
        """The plain value of a marked string (plain strings pass through)."""
        if not value.startswith(MARK):
            return value
        try:
            return self._fernet.decrypt(value[len(MARK) :].encode()).decode()
        except InvalidToken as err:
            raise EnvironmentProblem(
                "a stored secret cannot be decrypted: the data directory's secret.key "
                "is not the one it was encrypted with"
            ) from err


def is_encrypted(value: object) -> bool:
    """Whether ``value`` is an encrypted, marked string."""
    return isinstance(value, str) and value.startswith(MARK)


__all__ = ["KEY_FILE", "MARK", "Vault", "is_encrypted"]
