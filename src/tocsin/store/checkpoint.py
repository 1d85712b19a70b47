"""Checkpoints of the SQLite write-ahead log on a thread of their own, off the commits.

A commit in WAL mode appends pages to the log; a checkpoint copies them into the
database file and syncs it.  SQLite's automatic checkpoint runs inside the COMMIT that
pushes the log past 1,000 pages, so that one commit's caller waits for it: during a
burst of alarms, every fourth request of 100 events took 11-16 ms to commit instead
of 2.5-3.5 ms, 7-10 ms of it CPU time on the intake thread (issue 11).

:class:`Checkpointer` does that work on its own thread and connection instead
(``PRAGMA wal_checkpoint(PASSIVE)``: it waits for no reader or writer, and SQLite
releases the GIL while it runs, so it takes the other core).  It is woken after every
commit and checkpoints once about :data:`CHECKPOINT_ROWS` rows have changed since its
last one: the same cadence as SQLite's, with no more syncs of the database file.  The
store's connection keeps SQLite's own checkpoint, at :data:`SAFETY_PAGES`, for when
this thread falls behind or keeps failing: the log stays bounded either way.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from typing import Final

from tocsin.errors import FailureLog
from tocsin.store.errors import storage_errors

__all__ = ["CHECKPOINT_ROWS", "SAFETY_PAGES", "Checkpointer"]

log = logging.getLogger("tocsin.store")

CHECKPOINT_ROWS: Final = 2000
"""Rows changed between two checkpoints: a request of 100 alarm events changes about
400 rows in about 230 log pages, so this is close to SQLite's 1,000-page default."""
SAFETY_PAGES: Final = 10_000
"""The log length (pages of 4 KiB: about 40 MB) at which the store's own connection
checkpoints inside a commit after all, as SQLite does at 1,000 without this thread."""


class Checkpointer:
    """Checkpoints the log of one database, on a daemon thread started on first need.

    ``connect`` opens the thread's own connection (in the thread).  Call
    :meth:`committed` after each commit with the committing connection's
    ``total_changes``; :meth:`close` stops the thread and closes its connection.
    """

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        *,
        every: int = CHECKPOINT_ROWS,
    ) -> None:
        self._connect = connect
        self._every = every
        self._at_last = 0  # total_changes when the last checkpoint was asked for
        self._due = threading.Event()
        self._closing = False
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()
        self._failures = FailureLog(log)
        self.checkpoints = 0
        """Checkpoints run (complete or not): for tests and the curious."""

    def committed(self, total_changes: int) -> None:
        """A commit ended with ``total_changes`` rows changed on its connection so far."""
        if total_changes - self._at_last < self._every:
            return
        self._at_last = total_changes
        with self._guard:
            if self._closing:
                return
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="tocsin-checkpoint", daemon=True
                )
                self._thread.start()
        self._due.set()

    def close(self) -> None:
        """Stop the thread (after a checkpoint under way) and close its connection."""
        with self._guard:
            self._closing = True
            thread = self._thread
        self._due.set()
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                self._due.wait()
                self._due.clear()
                if self._closing:
                    return
                try:
                    with storage_errors():
                        if conn is None:
                            conn = self._connect()
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                except Exception:
                    # The next commit asks again; SQLite's own checkpoint stands in.
                    self._failures.failed("checkpointing the database's log failed")
        finally:
            if conn is not None:
                conn.close()
