"""Backup and restore of a data directory (``tocsin backup`` / ``tocsin restore``).

A backup is taken while the service runs: a consistent copy of the SQLite database, the
secret key and the key that signs acknowledgement links, both keys sealed with a
passphrase (see :mod:`tocsin.store.backup`).  A
PostgreSQL database is backed up with ``pg_dump`` instead (:func:`pg_dump_advice`).

A restore writes a stopped data directory: it refuses while an engine holds its lock
file there (``tocsin serve`` or ``tocsin worker``), and refuses to replace a database or
key without ``force``.  Everything is read, checked and prepared first (the passphrase
opens the key, the database is upgraded if the backup is older, leases are let go so the
emails that were being sent go out again at once); only then are the two files moved in.
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tocsin.errors import ConfigError, SchemaTooNew, TocsinError
from tocsin.outbox.incarnation import WORKERS_DIR, held_lock_files
from tocsin.outbox.model import Status
from tocsin.services.context import KEY_FILE, Services, database_location
from tocsin.services.database import describe_location
from tocsin.store import ACK_KEY_FILE, is_postgres_url, load_ack_key, sqlite_path
from tocsin.store.ackkey import ACK_KEY_BYTES
from tocsin.store.backup import (
    ACK_KEY_MEMBER,
    BackupError,
    open_key,
    read_backup,
    seal_key,
    snapshot_sqlite,
    write_backup,
)
from tocsin.store.migrations import APPLIANCE
from tocsin.store.paths import data_dir
from tocsin.store.sqlite import SQLiteStore

__all__ = [
    "BackupRefused",
    "RestoreReport",
    "make_backup",
    "pg_dump_advice",
    "restore_backup",
]


class BackupRefused(TocsinError):
    """The backup or restore cannot be done as asked; the message says what to do instead."""


@dataclass(frozen=True, slots=True)
class RestoreReport:
    """What a restore put in place."""

    database: Path
    manifest: dict[str, Any]
    key_restored: bool
    queued: int
    """Deliveries waiting to be sent (queued, or leased at backup time and let go)."""
    secrets_readable: bool
    """False: the stored SMTP password cannot be decrypted with the key now in place."""
    ack_key: str = "untouched"
    """The acknowledgement key: "restored" from the backup; "kept" (the backup had none,
    the one in place stays); "new" (the backup had none and there was none: a new one was
    made, so links sent before no longer work); "untouched" (restored without the keys)."""


def pg_dump_advice(location: str | Path, root: Path) -> str:
    """What to keep when the database is PostgreSQL: a dump, and the key file."""
    return (
        f"The database is PostgreSQL ({describe_location(location)}): back it up with "
        "pg_dump, e.g. pg_dump --format=custom --file=tocsin.dump 'postgresql://…' "
        "(restore with pg_restore, then start Tocsin, which upgrades the schema), and "
        f"keep a copy of {root / KEY_FILE} and {root / ACK_KEY_FILE} with it: the keys "
        "are not in the database, and without them the stored SMTP password cannot be "
        "decrypted and the Acknowledge links already sent stop working."
    )


def make_backup(
    target: Path,
    *,
    data: Path | str | None = None,
    passphrase: str | None,
    database_url: str | None = None,
) -> dict[str, Any]:
    """Write a backup of the data directory to ``target``; its manifest.

    ``passphrase`` seals the key into the backup; None leaves the key out.  Raises
    BackupRefused for a PostgreSQL database (with :func:`pg_dump_advice`) or a data
    directory without a database or key, BackupError / ``sqlite3.Error`` when the copy
    fails.  Safe while the service runs.
    """
    root = data_dir(data)
    location = database_location(root, database_url)
    if is_postgres_url(location):
        raise BackupRefused(pg_dump_advice(location, root))
    database = sqlite_path(location)
    if not database.is_file():
        raise BackupRefused(f"there is no database at {database}: nothing to back up")
    sealed = sealed_ack = None
    if passphrase is not None:
        key = root / KEY_FILE
        if not key.is_file():
            raise BackupRefused(f"there is no {key}; back up with --without-key")
        sealed = seal_key(key.read_bytes().strip(), passphrase)
        ack = root / ACK_KEY_FILE
        if ack.is_file():  # none yet: no link was ever signed
            load_ack_key(ack)  # refuses a key file others can read, or one with no key
            sealed_ack = seal_key(ack.read_bytes().strip(), passphrase, member=ACK_KEY_MEMBER)
    target = target.resolve()
    with tempfile.TemporaryDirectory(prefix=".tocsin-backup-", dir=target.parent) as scratch:
        copy = Path(scratch) / "tocsin.db"
        schema = snapshot_sqlite(database, copy)
        return write_backup(
            target, database=copy, schema=schema, sealed_key=sealed, sealed_ack_key=sealed_ack
        )


def _refuse_if_running(root: Path) -> None:
    running = held_lock_files(root / WORKERS_DIR)
    if running:
        raise BackupRefused(
            f"Tocsin is running on {root} (an engine holds {running[0].name}): "
            "stop tocsin serve and tocsin worker first"
        )


def _refuse_if_present(root: Path, files: list[Path]) -> None:
    present = [p.name for p in files if p.exists()]
    if present:
        raise BackupRefused(
            f"{root} holds {' and '.join(present)} already; restore with --force to replace"
        )


def _prepare(copy: Path) -> int:
    """Upgrade the restored copy if it is older, and let go of every lease in it.

    No engine can be running on the copy, so a delivery leased at backup time goes back
    to the queue at once instead of waiting for its lease to run out.  Returns how many
    deliveries wait to be sent.
    """
    store = SQLiteStore(copy)
    try:
        store.expire_leases(store.lease_owners(), now=time.time())
        counts = store.counts()
        return counts.get(Status.QUEUED, 0) + counts.get(Status.SENDING, 0)
    finally:
        store.close()


def _place(target: Path, content: Path | bytes) -> None:
    """Put ``content`` (a file's, or bytes) at ``target`` atomically: mode 0600, synced."""
    partial = target.with_name(f".{target.name}.restoring")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        if isinstance(content, bytes):
            out.write(content)
        else:
            with content.open("rb") as source:
                shutil.copyfileobj(source, out, 1 << 20)
        out.flush()
        os.fsync(out.fileno())
    partial.replace(target)


def _secrets_readable(root: Path, database: Path) -> bool:
    services = Services.open(root, database_url=str(database))
    try:
        services.settings.load()
    except ConfigError:
        return False
    finally:
        services.close()
    return True


def restore_backup(
    source: Path,
    *,
    data: Path | str | None = None,
    passphrase: str | None,
    force: bool = False,
    database_url: str | None = None,
) -> RestoreReport:
    """Restore the backup ``source`` into the (stopped) data directory.

    ``passphrase`` opens the sealed key; None restores the database only (the key in
    place, if any, stays).  Nothing is written unless every check passes.  Raises
    BackupRefused (service running, data in place without ``force``, PostgreSQL),
    WrongPassphrase, BackupError (not a backup, damaged), SchemaTooNew (a newer Tocsin
    made it).
    """
    root = data_dir(data)
    location = database_location(root, database_url)
    if is_postgres_url(location):
        raise BackupRefused(
            "TOCSIN_DATABASE_URL names PostgreSQL, and a backup holds an SQLite database: "
            "unset it to restore into the data directory (PostgreSQL: pg_restore)"
        )
    database = sqlite_path(location)
    keys = [root / KEY_FILE, root / ACK_KEY_FILE] if passphrase is not None else []
    replaced = [database, *keys]
    _refuse_if_running(root)
    if not force:
        _refuse_if_present(root, replaced)
    with tempfile.TemporaryDirectory(prefix="tocsin-restore-") as scratch:
        backup = read_backup(source, Path(scratch))
        known = len(APPLIANCE.migrations("sqlite"))
        found = backup.schema.get(APPLIANCE.name, 0)
        if found > known:
            raise SchemaTooNew("The database in the backup", found=found, known=known)
        key = ack = None
        if passphrase is not None:
            if backup.sealed_key is None:
                raise BackupError(f"{source} holds no key: restore it with --without-key")
            key = open_key(backup.sealed_key, passphrase)
            ack = _open_ack_key(source, backup.sealed_ack_key, passphrase)
        queued = _prepare(backup.database)
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        _refuse_if_running(root)  # again: did one start while we read?
        for stale in ("-wal", "-shm", "-journal"):  # the old database's: never replay them
            Path(f"{database}{stale}").unlink(missing_ok=True)
        _place(database, backup.database)
        if key is not None:
            _place(root / KEY_FILE, key)
        ack_state = _place_ack_key(root, ack) if key is not None else "untouched"
    return RestoreReport(
        database=database,
        manifest=backup.manifest,
        key_restored=key is not None,
        queued=queued,
        secrets_readable=_secrets_readable(root, database),
        ack_key=ack_state,
    )


def _open_ack_key(source: Path, sealed: bytes | None, passphrase: str) -> bytes | None:
    """The acknowledgement key file's content from the backup; None if it holds none."""
    if sealed is None:
        return None
    content = open_key(sealed, passphrase, member=ACK_KEY_MEMBER)
    try:
        valid = len(base64.b64decode(content, validate=True)) >= ACK_KEY_BYTES
    except ValueError:
        valid = False
    if not valid:
        raise BackupError(f"{source}: the acknowledgement key in it is damaged")
    return content


def _place_ack_key(root: Path, content: bytes | None) -> str:
    """Put the acknowledgement key in place; what was done (see RestoreReport.ack_key)."""
    path = root / ACK_KEY_FILE
    if content is not None:
        _place(path, content + b"\n")
        return "restored"
    if path.exists():
        return "kept"
    load_ack_key(path)  # made now, so the next start does not look like a surprise
    return "new"
