"""The backup file: a consistent copy of the SQLite database and, sealed, the secret key.

One file, a gzip'd tar with three members::

    manifest.json    format, Tocsin version, schema versions, created, sha256 of the others
    tocsin.db        the database, copied with SQLite's online backup API
    secret.key.enc   the key that encrypts stored secrets, sealed with a passphrase
                     (absent when made with --without-key)
    ack.key.enc      the key that signs acknowledgement links, sealed the same way
                     (absent with --without-key, and in backups made before it was added)

The copy is taken in one step of ``sqlite3.Connection.backup`` (all pages at once under
one read transaction), so it is the database as of one commit while the service keeps
writing (WAL lets readers and the writer pass each other).

The key is not in the database (see :mod:`tocsin.store.keyfile`); without it the stored SMTP
password cannot be decrypted.  It is sealed with AES-256-GCM under a key derived from the
passphrase with scrypt (n=2**15, r=8, p=1: about 32 MiB and a tenth of a second, per guess
too); the GCM tag makes a wrong passphrase fail cleanly instead of yielding a wrong key.
The acknowledgement key (:mod:`tocsin.store.ackkey`) is sealed alike, with its own salt
and its own associated data, so neither sealed key can be passed off as the other.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from tocsin.errors import TocsinError

__all__ = [
    "ACK_KEY_MEMBER",
    "DATABASE_MEMBER",
    "FORMAT",
    "KEY_MEMBER",
    "BackupError",
    "BackupFile",
    "WrongPassphrase",
    "open_key",
    "read_backup",
    "seal_key",
    "snapshot_sqlite",
    "write_backup",
]

FORMAT: Final = "tocsin-backup"
FORMAT_VERSION: Final = 1
MANIFEST_MEMBER: Final = "manifest.json"
DATABASE_MEMBER: Final = "tocsin.db"
KEY_MEMBER: Final = "secret.key.enc"
ACK_KEY_MEMBER: Final = "ack.key.enc"
_AAD: Final = {KEY_MEMBER: b"tocsin backup: secret.key", ACK_KEY_MEMBER: b"tocsin backup: ack.key"}
_SCRYPT: Final = {"n": 2**15, "r": 8, "p": 1}
_MEMBERS: Final = (MANIFEST_MEMBER, DATABASE_MEMBER, KEY_MEMBER, ACK_KEY_MEMBER)
_MAX_MEMBER: Final = 64 * 1024**3  # refuse a tar bomb
_MAX_SMALL: Final = 1 << 20  # the manifest and the sealed key are a few hundred bytes


class BackupError(TocsinError):
    """A backup file that cannot be read or trusted (named, with what is wrong)."""


class WrongPassphrase(BackupError):
    """The passphrase does not open the sealed key."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _derive(passphrase: str, salt: bytes, params: dict[str, int]) -> bytes:
    kdf = Scrypt(salt=salt, length=32, n=params["n"], r=params["r"], p=params["p"])
    return kdf.derive(passphrase.encode("utf-8"))


def seal_key(key: bytes, passphrase: str, *, member: str = KEY_MEMBER) -> bytes:
    """``key`` encrypted under ``passphrase`` for the backup member ``member``: small JSON."""
    salt, nonce = os.urandom(16), os.urandom(12)
    sealed = AESGCM(_derive(passphrase, salt, _SCRYPT)).encrypt(nonce, key, _AAD[member])
    envelope = {"kdf": "scrypt", **_SCRYPT, "salt": _b64(salt), "cipher": "AES-256-GCM"}
    envelope |= {"nonce": _b64(nonce), "ciphertext": _b64(sealed)}
    return json.dumps(envelope).encode("utf-8")


def open_key(envelope: bytes, passphrase: str, *, member: str = KEY_MEMBER) -> bytes:
    """The key sealed by :func:`seal_key` for ``member``; WrongPassphrase if it does not open."""
    try:
        doc = json.loads(envelope)
        params = {name: int(doc[name]) for name in ("n", "r", "p")}
        salt, nonce = base64.b64decode(doc["salt"]), base64.b64decode(doc["nonce"])
        sealed = base64.b64decode(doc["ciphertext"])
        if doc["kdf"] != "scrypt" or doc["cipher"] != "AES-256-GCM":
            raise ValueError(f"unknown kdf or cipher {doc['kdf']} / {doc['cipher']}")
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupError(f"the sealed key in the backup is damaged ({exc})") from None
    try:
        return AESGCM(_derive(passphrase, salt, params)).decrypt(nonce, sealed, _AAD[member])
    except InvalidTag:
        raise WrongPassphrase("wrong passphrase: the key in the backup does not open") from None


def snapshot_sqlite(source: Path, target: Path) -> dict[str, int]:
    """Copy the database ``source`` to ``target`` as of one commit, and check the copy.

    Returns the copy's schema version per component (empty for a database older than
    versions).  The copy is a single file (rollback journal, not WAL).  Raises
    BackupError when the copy fails its integrity check, ``sqlite3.Error`` when the
    source cannot be read.
    """
    src = sqlite3.connect(source, timeout=30.0)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)  # pages=-1: every page in one step, one consistent snapshot
            dst.execute("PRAGMA journal_mode=DELETE")
            return _checked_versions(dst, target)
        finally:
            dst.close()
    finally:
        src.close()


def _checked_versions(conn: sqlite3.Connection, path: Path) -> dict[str, int]:
    verdict = conn.execute("PRAGMA integrity_check").fetchone()[0]
    if verdict != "ok":
        raise BackupError(f"the copy in {path} fails SQLite's integrity check: {verdict}")
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'schema_migration'").fetchone():
        return {}
    rows = conn.execute("SELECT component, MAX(version) FROM schema_migration GROUP BY component")
    return {str(name): int(version) for name, version in rows}


@dataclass(frozen=True, slots=True)
class BackupFile:
    """A backup's manifest and members, read and checked (see :func:`read_backup`)."""

    manifest: dict[str, Any]
    database: Path
    """The database, extracted into the scratch directory given to :func:`read_backup`."""
    sealed_key: bytes | None
    sealed_ack_key: bytes | None = None
    """None: made with --without-key, or before backups held the acknowledgement key."""

    @property
    def schema(self) -> dict[str, int]:
        """Schema version per component of the database in the backup."""
        return {str(k): int(v) for k, v in self.manifest.get("schema", {}).items()}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _add(tar: tarfile.TarFile, name: str, data: bytes | Path) -> None:
    info = tarfile.TarInfo(name)
    info.mode = 0o600
    info.mtime = int(datetime.now(UTC).timestamp())
    if isinstance(data, Path):
        info.size = data.stat().st_size
        with data.open("rb") as source:
            tar.addfile(info, source)
    else:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def write_backup(
    target: Path,
    *,
    database: Path,
    schema: dict[str, int],
    sealed_key: bytes | None,
    sealed_ack_key: bytes | None = None,
) -> dict[str, Any]:
    """Write the backup file ``target`` (mode 0600, via a temporary file); its manifest.

    ``database`` is a snapshot made by :func:`snapshot_sqlite`.
    """
    from tocsin import __version__  # late: the package's __init__ imports far and wide

    digests = {DATABASE_MEMBER: _sha256(database)}
    small = {KEY_MEMBER: sealed_key, ACK_KEY_MEMBER: sealed_ack_key}
    for name, sealed in small.items():
        if sealed is not None:
            digests[name] = hashlib.sha256(sealed).hexdigest()
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "tocsin_version": __version__,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": "sqlite",
        "schema": schema,
        "key": "sealed" if sealed_key is not None else "not included",
        "ack_key": "sealed" if sealed_ack_key is not None else "not included",
        "files": digests,
    }
    partial = target.with_name(f".{target.name}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as raw:
        with tarfile.open(fileobj=raw, mode="w:gz") as tar:
            _add(tar, MANIFEST_MEMBER, json.dumps(manifest, indent=1).encode("utf-8"))
            _add(tar, DATABASE_MEMBER, database)
            for name, sealed in small.items():
                if sealed is not None:
                    _add(tar, name, sealed)
        raw.flush()
        os.fsync(raw.fileno())
    partial.replace(target)
    return manifest


def _extract(path: Path, scratch: Path) -> dict[str, bytes]:
    """The small members (manifest, sealed keys) by name; the database goes to ``scratch``."""
    small: dict[str, bytes] = {}
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            for info in tar:
                if info.name not in _MEMBERS or not info.isfile() or info.size > _MAX_MEMBER:
                    raise BackupError(f"{path}: unexpected member {info.name!r}")
                handle = tar.extractfile(info)
                assert handle is not None  # a regular file
                with handle:
                    if info.name == DATABASE_MEMBER:
                        with (scratch / DATABASE_MEMBER).open("wb") as out:
                            shutil.copyfileobj(handle, out, 1 << 20)
                    else:
                        small[info.name] = handle.read(_MAX_SMALL + 1)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BackupError(f"{path} is not a Tocsin backup ({exc})") from None
    if MANIFEST_MEMBER not in small or any(len(v) > _MAX_SMALL for v in small.values()):
        raise BackupError(f"{path} has no readable manifest: not a Tocsin backup")
    return small


def read_backup(path: Path, scratch: Path) -> BackupFile:
    """Read ``path`` and check it: format, and each member against the manifest's sha256.

    The database is extracted into the directory ``scratch`` (nothing else is written).
    Raises BackupError naming what is wrong.
    """
    small = _extract(path, scratch)
    try:
        manifest = json.loads(small.pop(MANIFEST_MEMBER))
    except ValueError:
        raise BackupError(f"{path} has no readable manifest: not a Tocsin backup") from None
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(f"{path} is not a Tocsin backup of format {FORMAT_VERSION}")
    digests: dict[str, str] = manifest.get("files", {})
    sealed = manifest.get("key") == "sealed"
    ack_sealed = manifest.get("ack_key") == "sealed"  # absent in backups made before it
    if (
        DATABASE_MEMBER not in digests
        or sealed != (KEY_MEMBER in digests)
        or ack_sealed != (ACK_KEY_MEMBER in digests)
        or not set(small) <= set(digests)
    ):
        raise BackupError(f"{path}: the manifest does not list the members it should")
    database = scratch / DATABASE_MEMBER
    found = {name: hashlib.sha256(data).hexdigest() for name, data in small.items()}
    found[DATABASE_MEMBER] = _sha256(database) if database.exists() else ""
    for name, digest in digests.items():
        if found.get(name) != digest:
            raise BackupError(f"{path}: {name} is damaged (its checksum does not match)")
    return BackupFile(manifest, database, small.get(KEY_MEMBER), small.get(ACK_KEY_MEMBER))
