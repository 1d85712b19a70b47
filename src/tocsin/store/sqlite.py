"""The embedded store: one SQLite file, WAL, full synchronous commits.

It holds the settings (a key-value table), and the outbox, accounts and site through
the repositories of :class:`~tocsin.store.facade.SQLStore`.  One connection per store
object, shared by threads under a lock; write transactions are ``BEGIN IMMEDIATE``, so
two processes on the same file take turns instead of failing on a lock upgrade.
Opening a store brings its schema to the newest version (see
:mod:`tocsin.store.migrations`); migrations run in such a transaction too, one writer
at a time.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager, contextmanager, suppress
from pathlib import Path
from typing import ClassVar

from tocsin.errors import SchemaError
from tocsin.outbox.incarnation import WORKERS_DIR
from tocsin.outbox.store import NotNow
from tocsin.store.checkpoint import SAFETY_PAGES, Checkpointer
from tocsin.store.errors import storage_errors
from tocsin.store.facade import SQLStore
from tocsin.store.lists import marks
from tocsin.store.migrations import APPLIANCE, Component, SchemaVersions
from tocsin.store.runner import Database, Row
from tocsin.store.wakeup import WakeSockets

__all__ = ["BUSY_TIMEOUT_MS", "SQLiteStore", "connect", "statements"]

BUSY_TIMEOUT_MS = 30_000
"""How long a write waits for another process's transaction before it fails."""


def connect(path: Path) -> sqlite3.Connection:
    """Open ``path`` with the durability settings every Tocsin connection uses.

    A new database is created mode 0600 in a directory created mode 0700: it holds
    users, addresses, token hashes and the outbox.  SQLite gives its ``-wal`` and
    ``-shm`` files the database file's mode.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit is on disk before it returns, so an accepted alarm survives a
    # power cut, not only a process crash (WAL with NORMAL may lose the last commits).
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return conn


class _SQLiteRunner:
    """Runs the shared outbox SQL on a sqlite3 connection (``?`` placeholders as is)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.queued_mail = False  # in the open transaction: other engines hear at COMMIT

    # binary, fresh_plan: PostgreSQL's only (see Runner)
    def rows(
        self,
        sql: str,
        params: Sequence[object] = (),
        *,
        binary: bool = False,
        fresh_plan: bool = False,
    ) -> list[Row]:
        return self._conn.execute(sql, params).fetchall()

    def run(self, sql: str, params: Sequence[object] = ()) -> int:
        return self._conn.execute(sql, params).rowcount

    def send(self, sql: str, params: Sequence[object] = (), *, fresh_plan: bool = False) -> None:
        self._conn.execute(sql, params)

    def many(self, sql: str, seq: Sequence[Sequence[object]]) -> None:
        self._conn.executemany(sql, seq)

    def ask(
        self, sql: str, params: Sequence[object] = (), *, fresh_plan: bool = False
    ) -> Callable[[], list[Row]]:
        rows = self._conn.execute(sql, params).fetchall()  # in the process: at once
        return lambda: rows

    def new_ids(self, table: str, count: int) -> None:
        return None  # in the process: RETURNING costs no round trip

    def mail_queued(self) -> None:
        self.queued_mail = True

    def script(self, sql: str) -> None:
        # Statement by statement: executescript() would COMMIT the migration's transaction.
        for statement in statements(sql):
            self._conn.execute(statement)

    def table_exists(self, name: str) -> bool:
        return bool(
            self.rows("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
        )


def statements(script: str) -> Iterator[str]:
    """The statements of an SQL script, each with the comments before it.

    Split where SQLite's own tokenizer sees a complete statement, so a ``;`` inside a
    string or a trigger body does not split.  Raises SchemaError if the script ends in
    an incomplete statement.
    """
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            yield buffer
            buffer = ""
    leftover = [ln for ln in buffer.splitlines() if ln.strip() and not ln.lstrip().startswith("--")]
    if leftover:
        raise SchemaError(f"an SQL script ends in an incomplete statement: {leftover[0]!r}")


class SQLiteStore(SQLStore):
    """Settings and outbox storage in the embedded SQLite database.

    ``migrate`` (the default) brings the schema up to date on opening; raises
    :class:`~tocsin.errors.SchemaTooNew` if a newer Tocsin wrote the file, and
    ``sqlite3.Error`` when it cannot be opened.
    """

    dialect: ClassVar[str] = "sqlite"
    components: ClassVar[tuple[Component, ...]] = (APPLIANCE,)

    def __init__(self, path: Path, *, migrate: bool = True) -> None:
        self.path = path
        self._conn = connect(path)
        # The log is checkpointed on a thread of its own, not inside a commit (see
        # tocsin.store.checkpoint); SQLite's own checkpoint only if that falls behind.
        self._conn.execute(f"PRAGMA wal_autocheckpoint={SAFETY_PAGES}")
        self._checkpointer = Checkpointer(lambda: connect(path))
        # Re-entrant: code inside a transaction() block may still call get_value().
        self._lock = threading.RLock()
        self._at_once = False  # inside at_once(): no waiting for the write lock
        self._runner = _SQLiteRunner(self._conn)
        # The engines of other processes on this file: nudged when a commit queued mail.
        self.wake_sockets = WakeSockets(path.parent / WORKERS_DIR)
        super().__init__(
            Database(self._writing, self._reading),
            SchemaVersions(self, self.components),
            # Without statistics SQLite picks the status index for the claim and sorts
            # every due row to take the first few; the due index hands them out in order.
            claim_index=" INDEXED BY outbox_delivery_due",
            claim_looks_first=True,
        )
        if migrate:
            try:
                self.upgrade_schema()
            except BaseException:
                self._conn.close()
                raise

    def migration_transaction(self) -> AbstractContextManager[_SQLiteRunner]:
        """A ``BEGIN IMMEDIATE`` transaction: one migrating process at a time."""
        return self._writing()

    @contextmanager
    def _writing(self) -> Iterator[_SQLiteRunner]:
        with self._lock, storage_errors():
            if self._conn.in_transaction:  # nested: join the caller's transaction
                yield self._runner
                return
            runner = self._runner
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if self._at_once and exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY:
                    raise NotNow("another process is writing to the database") from exc
                raise
            try:
                yield runner
                self._conn.execute("COMMIT")
                self._checkpointer.committed(self._conn.total_changes)
            except BaseException:
                # A failed COMMIT (SQLITE_FULL, SQLITE_BUSY) leaves the transaction open,
                # and would let the next writer "join" it; SQLITE_FULL may also have
                # rolled it back already, when a second ROLLBACK would fail.
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            finally:
                queued, runner.queued_mail = runner.queued_mail, False
        if queued:  # committed (an exception skips this), and outside the lock
            self.wake_sockets.nudge()

    async def keep_statistics(self, stop: asyncio.Event) -> None:
        """Nothing to do: SQLite keeps no plan made from a table's size across its
        growth (see :mod:`tocsin.store.statistics`)."""

    @contextmanager
    def at_once(self) -> Iterator[bool]:
        """For a caller on an event loop (the delivery engine's claim, issue 11): yields
        True when no other thread of this process is using the store, and holds it for
        the block; else False at once.

        Inside the block a write transaction does not wait for another process's: its
        ``BEGIN IMMEDIATE`` raises :class:`~tocsin.outbox.store.NotNow` instead of
        sleeping in SQLite's busy handler.  And its commit is not synced to disk
        (``synchronous=NORMAL``): it stays atomic, and the next synced commit (the
        verdicts', the intake's) makes it durable with it, since the log is written in
        order; a power cut may take back only this block's own latest commits.  So use
        it only for what may be taken back: a claim's leases (the deliveries are then
        due again, as they were).
        """
        if not self._lock.acquire(blocking=False):
            yield False
            return
        try:
            try:
                self._conn.execute("PRAGMA busy_timeout=0")
                self._conn.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.Error:  # closed or broken: the ordinary way will say so
                self._durable_again()
                yield False
                return
            self._at_once = True
            try:
                yield True
            finally:
                self._at_once = False
                self._durable_again()
        finally:
            self._lock.release()

    def _durable_again(self) -> None:
        """Commits synced and writes waiting again, as :func:`connect` set them."""
        with suppress(sqlite3.ProgrammingError):  # closed: nothing left to set
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")

    @contextmanager
    def _reading(self) -> Iterator[_SQLiteRunner]:
        with self._lock, storage_errors():
            yield self._runner

    def get_value(self, key: str) -> str | None:
        """The stored text for ``key``, or None."""
        with self._lock:
            row = self._conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def get_values(self, keys: Sequence[str]) -> dict[str, str]:
        """The stored texts for those of ``keys`` that have one, in one statement."""
        if not keys:
            return {}
        listed = marks(len(keys))
        with self._lock:
            rows = self._conn.execute(
                f"SELECT key, value FROM kv WHERE key IN ({listed})",  # noqa: S608 (marks only)
                tuple(keys),
            ).fetchall()
        return {str(k): str(v) for k, v in rows}

    def put_value(self, key: str, value: str) -> None:
        """Store ``value`` under ``key``, committed before returning."""
        with self._writing() as runner:
            runner.run(
                "INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE "
                "SET value = excluded.value, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
                (key, value),
            )

    def listen_for_mail(self, on_mail: Callable[[], None]) -> AbstractAsyncContextManager[bool]:
        """While the block runs, ``on_mail`` hears when another process queues mail
        (see :mod:`tocsin.store.wakeup`); yields False if it cannot."""
        return self.wake_sockets.listen(on_mail)

    def close(self) -> None:
        """Close the connection (and the checkpointing thread's)."""
        self.wake_sockets.close()
        self._checkpointer.close()
        with self._lock:
            self._conn.close()
