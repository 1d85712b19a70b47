"""Giving disk space back: the SQLite write-ahead log, emptied when the disk runs low.

SQLite appends every committed page to ``tocsin.db-wal`` and copies them into the
database file only at a checkpoint (by default once the log holds 1,000 pages, about
4 MB), without ever shrinking the log file.  The log holds many versions of the same
pages, so on a nearly full disk a ``TRUNCATE`` checkpoint frees far more than the
database file grows by; and if there is not even room for that, it fails with
``SQLITE_FULL`` and leaves the log as it was (nothing is lost either way).
"""

from __future__ import annotations

import logging

from tocsin.store.sqlite import SQLiteStore

__all__ = ["WAL_RECLAIM_BYTES", "reclaim_wal"]

log = logging.getLogger("tocsin.store")

WAL_RECLAIM_BYTES = 1024 * 1024
"""A smaller log is not worth a checkpoint."""


def reclaim_wal(store: SQLiteStore, *, min_bytes: int = WAL_RECLAIM_BYTES) -> int:
    """Checkpoint the log into the database and truncate it, if it holds ``min_bytes``.

    Returns the bytes given back (0 when the log was small, or readers held it).
    Raises :class:`~tocsin.errors.StorageFull` when there is no room even for that.
    """
    wal = store.path.with_name(store.path.name + "-wal")
    try:
        before = wal.stat().st_size
    except FileNotFoundError:
        return 0
    if before < min_bytes:
        return 0
    with store.site_reading() as sql:  # no transaction: a checkpoint cannot run in one
        sql.runner.rows("PRAGMA wal_checkpoint(TRUNCATE)")
    try:
        after = wal.stat().st_size
    except FileNotFoundError:
        after = 0
    if after < before:
        log.info("gave %d bytes of the write-ahead log back to the disk", before - after)
    return max(before - after, 0)
