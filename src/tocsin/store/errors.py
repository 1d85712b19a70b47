"""The one place where a backend's "disk full" becomes :class:`~tocsin.errors.StorageFull`.

- SQLite answers ``SQLITE_FULL`` ("database or disk is full") when a write to the
  database, its WAL or its journal finds no space (and when ``max_page_count`` is
  reached).  SQLite may roll the whole transaction back on its own; the store then
  ends it without a second ROLLBACK (see :mod:`tocsin.store.sqlite`).
- PostgreSQL answers SQLSTATE 53100 (``disk_full``, psycopg's ``DiskFull``) when the
  server cannot extend a table, an index or a temporary file.
- Files Tocsin writes itself in the data directory fail with ``ENOSPC`` / ``EDQUOT``.

A backend wraps every transaction in :func:`storage_errors`; the error raised then
keeps the backend's exception as its cause (``raise … from exc``).  An error raised
*while handling* a disk-full error (a ``ROLLBACK TO SAVEPOINT`` that finds the
transaction already gone) is one too: the chain of causes is searched.
"""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from tocsin.errors import StorageFull

__all__ = [
    "DATABASE_SERVER",
    "DATA_DIRECTORY",
    "POSTGRES_DISK_FULL",
    "as_storage_error",
    "storage_errors",
    "storage_full",
]

DATA_DIRECTORY = "the data directory"
DATABASE_SERVER = "the database server's disk"
POSTGRES_DISK_FULL = "53100"
_SQLITE_FULL = 13  # primary result code; extended codes keep it in the low byte
_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})
_CHAIN = 8  # causes followed at most (a chain is short; a cycle must not loop)


def _is_full(exc: BaseException) -> str | None:
    """Where the disk is full if ``exc`` itself says so, else None."""
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None and code & 0xFF == _SQLITE_FULL:
            return DATA_DIRECTORY
        return None
    # psycopg's errors carry the SQLSTATE; read by name, so the appliance without the
    # postgres extra (no psycopg installed) needs none of it.
    if getattr(exc, "sqlstate", None) == POSTGRES_DISK_FULL:
        return DATABASE_SERVER
    if isinstance(exc, OSError) and exc.errno in _NO_SPACE:
        return DATA_DIRECTORY
    return None


def storage_full(exc: BaseException) -> StorageFull | None:
    """The :class:`StorageFull` that ``exc`` (or an error it arose from) means, or None."""
    seen: BaseException | None = exc
    for _ in range(_CHAIN):
        if seen is None:
            return None
        if isinstance(seen, StorageFull):
            return seen
        where = _is_full(seen)
        if where is not None:
            return StorageFull(f"{where} is full", where=where)
        seen = seen.__cause__ or seen.__context__
    return None


def as_storage_error(exc: Exception) -> Exception:
    """``exc`` translated to :class:`StorageFull` (cause kept) if it means a full disk."""
    full = storage_full(exc)
    if full is None or full is exc:
        return exc
    full.__cause__ = exc
    return full


@contextmanager
def storage_errors() -> Iterator[None]:
    """Translate a backend's disk-full error raised in the block into :class:`StorageFull`.

    Every other exception passes unchanged.
    """
    try:
        yield
    except Exception as exc:
        full = storage_full(exc)
        if full is None:
            raise
        raise full from exc
