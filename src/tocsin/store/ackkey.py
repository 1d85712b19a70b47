"""The key that signs acknowledgement links: 32 random bytes in a file of its own (0600).

Like the secret box's key (:mod:`tocsin.store.keyfile`) it lives in the data directory,
apart from the database, so a copy of the database cannot forge links; deleting the
file voids every link sent so far (a new key is made at the next start).
"""

from __future__ import annotations

import base64
import os
import secrets
import stat
from pathlib import Path
from typing import Final

from tocsin.errors import ConfigError

__all__ = ["ACK_KEY_BYTES", "ACK_KEY_FILE", "load_ack_key"]

ACK_KEY_FILE: Final = "ack.key"
ACK_KEY_BYTES: Final = 32


def load_ack_key(path: Path) -> bytes:
    """The key in ``path``, made (mode 0600, exclusively) when there is none.

    Raises :class:`~tocsin.errors.ConfigError` when the file is readable by others or
    does not hold a key.
    """
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = secrets.token_bytes(ACK_KEY_BYTES)
    try:
        # O_EXCL: two processes starting at once must not each write a key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    with os.fdopen(fd, "wb") as out:
        out.write(base64.b64encode(key) + b"\n")
        out.flush()
        os.fsync(out.fileno())
    return key


def _read(path: Path) -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"the key file {path} is readable by others (mode {mode:o}); run: chmod 600 {path}"
        )
    try:
        key = base64.b64decode(path.read_bytes().strip(), validate=True)
    except ValueError:
        key = b""
    if len(key) < ACK_KEY_BYTES:
        raise ConfigError(f"the key file {path} holds no key; delete it to make a new one")
    return key
