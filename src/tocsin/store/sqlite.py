"""The embedded store: one SQLite file, WAL, full synchronous commits.

It holds the settings (a key-value table) and the outbox (see
:mod:`tocsin.store.outbox_sql`).  One connection per store object, shared by threads
under a lock; write transactions are ``BEGIN IMMEDIATE``, so two processes on the
same file take turns instead of failing on a lock upgrade.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

from tocsin.store.accounts_sql import SQLAccounts, accounts_schema
from tocsin.store.errors import storage_errors
from tocsin.store.outbox_sql import Row, SQLOutbox, outbox_schema
from tocsin.store.sites_sql import SQLSites, sites_schema
from tocsin.store.tracking_sql import SQLTracking

__all__ = ["SQLiteStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
"""
_OUTBOX = outbox_schema(pk="INTEGER PRIMARY KEY", fk="INTEGER", blob="BLOB", real="REAL")
_ACCOUNTS = accounts_schema(pk="INTEGER PRIMARY KEY", fk="INTEGER", real="REAL")
_SITES = sites_schema(pk="INTEGER PRIMARY KEY", fk="INTEGER", real="REAL")


def connect(path: Path) -> sqlite3.Connection:
    """Open ``path`` with the durability settings every Tocsin connection uses."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit is on disk before it returns, so an accepted alarm survives a
    # power cut, not only a process crash (WAL with NORMAL may lose the last commits).
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class _SQLiteRunner:
    """Runs the shared outbox SQL on a sqlite3 connection (``?`` placeholders as is)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        return self._conn.execute(sql, params).fetchall()

    def run(self, sql: str, params: Sequence[object] = ()) -> int:
        return self._conn.execute(sql, params).rowcount

    def many(self, sql: str, seq: Sequence[Sequence[object]]) -> None:
        self._conn.executemany(sql, seq)


class SQLiteStore(SQLOutbox, SQLTracking, SQLAccounts, SQLSites):
    """Settings and outbox storage in the embedded SQLite database."""

    # Without statistics SQLite picks the status index for the claim and sorts every
    # due row to take the first few; the due index hands them out in order instead.
    claim_index: ClassVar[str] = " INDEXED BY outbox_delivery_due"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = connect(path)
        # Re-entrant: code inside a transaction() block may still call get_value().
        self._lock = threading.RLock()
        self._runner = _SQLiteRunner(self._conn)
        with self._writing() as runner:
            for statement in (_SCHEMA, *_OUTBOX, *_ACCOUNTS, *_SITES):
                runner.run(statement)

    @contextmanager
    def _writing(self) -> Iterator[_SQLiteRunner]:
        with self._lock, storage_errors():
            if self._conn.in_transaction:  # nested: join the caller's transaction
                yield self._runner
                return
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._runner
                self._conn.execute("COMMIT")
            except BaseException:
                # A failed COMMIT (SQLITE_FULL, SQLITE_BUSY) leaves the transaction open,
                # and would let the next writer "join" it; SQLITE_FULL may also have
                # rolled it back already, when a second ROLLBACK would fail.
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    @contextmanager
    def _reading(self) -> Iterator[_SQLiteRunner]:
        with self._lock, storage_errors():
            yield self._runner

    def get_value(self, key: str) -> str | None:
        """The stored text for ``key``, or None."""
        with self._lock:
            row = self._conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def put_value(self, key: str, value: str) -> None:
        """Store ``value`` under ``key``, committed before returning."""
        with self._writing() as runner:
            runner.run(
                "INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE "
                "SET value = excluded.value, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
                (key, value),
            )

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()
