"""Encryption of secrets at rest, with the key in its own file (mode 0600).

The key lives apart from the database, so a copy of the database alone (a backup,
a support bundle) reveals no password.  Fernet (AES-128-CBC + HMAC-SHA256) from
``cryptography`` does the work; we only keep the key.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from tocsin.errors import ConfigError
from tocsin.secret import Secret

__all__ = ["SecretBox"]


class SecretBox:
    """Encrypts and decrypts secrets with the key in ``path`` (created on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fernet = Fernet(self._load_or_create())

    def _load_or_create(self) -> bytes:
        try:
            return self._read()
        except FileNotFoundError:
            pass
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = Fernet.generate_key()
        try:
            # O_EXCL: two processes starting at once must not each write a key.
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return self._read()
        with os.fdopen(fd, "wb") as out:
            out.write(key)
            out.flush()
            os.fsync(out.fileno())
        return key

    def _read(self) -> bytes:
        mode = stat.S_IMODE(self.path.stat().st_mode)
        if mode & 0o077:
            raise ConfigError(
                f"the key file {self.path} is readable by others (mode {mode:o}); "
                f"run: chmod 600 {self.path}"
            )
        return self.path.read_bytes().strip()

    def encrypt(self, secret: Secret) -> str:
        """The secret as an opaque token for storage."""
        return self._fernet.encrypt(secret.reveal().encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> Secret:
        """The secret back from its token; ConfigError if the key does not fit."""
        try:
            return Secret(self._fernet.decrypt(token.encode("ascii")).decode("utf-8"))
        except InvalidToken:
            raise ConfigError(
                f"a stored secret cannot be decrypted with the key in {self.path}; "
                "was the key file replaced? Set the password again."
            ) from None
