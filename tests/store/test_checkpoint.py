"""The SQLite log is checkpointed on a thread of its own, not inside a commit (issue 11).

Whether a checkpoint ran is read from the database file: until one copies the log's
pages into it, the file keeps the size it had, whatever was committed to the log.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tocsin.store import SQLiteStore
from tocsin.store.checkpoint import CHECKPOINT_ROWS, SAFETY_PAGES, Checkpointer
from tocsin.store.sqlite import connect

MB = 1 << 20
PAGE = 4096


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what} after {timeout:g} s")
        time.sleep(0.02)


def _checkpoint_threads(*, besides: set[threading.Thread] | None = None) -> set[threading.Thread]:
    """The checkpointing threads alive now, less ``besides`` (another test's store in
    this process may still hold one: only a test's own are its business)."""
    alive = {t for t in threading.enumerate() if t.name == "tocsin-checkpoint"}
    return alive - (besides or set())


def test_commits_past_sqlites_own_threshold_leave_the_checkpoint_to_the_thread(
    tmp_path: Path,
) -> None:
    others = _checkpoint_threads()
    store = SQLiteStore(tmp_path / "tocsin.db")
    try:
        before = store.path.stat().st_size
        # 12 rows of 512 KiB: about 1,600 log pages, past SQLite's 1,000-page default,
        # but far from CHECKPOINT_ROWS rows: no checkpoint yet, in the commit or off it.
        for i in range(12):
            store.put_value(f"big-{i}", "x" * (MB // 2))
        assert store.path.stat().st_size == before, "a commit checkpointed the log itself"
        assert not _checkpoint_threads(besides=others)
        # Enough changed rows: the thread checkpoints, and the pages reach the file.
        with store.transaction() as tx:
            tx.runner.many(
                "INSERT INTO kv (key, value) VALUES (?, ?)",
                [(f"row-{i}", "v") for i in range(CHECKPOINT_ROWS)],
            )
        _wait_for(lambda: store.path.stat().st_size > 6 * MB, "the checkpoint")
        (thread,) = _checkpoint_threads(besides=others)
    finally:
        store.close()
    assert not thread.is_alive(), "close() leaves the checkpointing thread running"
    with sqlite3.connect(tmp_path / "tocsin.db") as conn:  # nothing was lost on the way
        assert conn.execute("SELECT COUNT(*) FROM kv WHERE key LIKE 'big-%'").fetchone() == (12,)


def test_the_log_stays_bounded_when_the_thread_does_not_checkpoint(tmp_path: Path) -> None:
    others = _checkpoint_threads()
    store = SQLiteStore(tmp_path / "tocsin.db")
    try:
        with store.transaction() as tx:
            setting = tx.runner.rows("PRAGMA wal_autocheckpoint")
        assert setting == [(SAFETY_PAGES,)]
        # Few rows, so the thread is never asked: SQLite's own checkpoint still comes.
        chunk = "y" * (2 * MB)
        for i in range(SAFETY_PAGES * PAGE // len(chunk) + 2):
            store.put_value(f"huge-{i}", chunk)
        assert not _checkpoint_threads(besides=others)
        assert store.path.stat().st_size > SAFETY_PAGES * PAGE // 2
        wal = tmp_path / "tocsin.db-wal"
        assert wal.stat().st_size < (SAFETY_PAGES + 1024) * (PAGE + 24)
    finally:
        store.close()


def test_a_failed_checkpoint_is_logged_and_the_next_commit_tries_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "tocsin.db"
    connect(path).close()
    opened: list[str] = []

    def flaky() -> sqlite3.Connection:
        opened.append("try")
        if len(opened) == 1:
            raise sqlite3.OperationalError("unable to open database file")
        return connect(path)

    others = _checkpoint_threads()
    checkpointer = Checkpointer(flaky, every=10)
    try:
        with caplog.at_level(logging.ERROR, logger="tocsin.store"):
            checkpointer.committed(5)  # not enough rows yet: nothing happens
            assert opened == []
            checkpointer.committed(10)
            _wait_for(lambda: "checkpointing" in caplog.text, "the failure in the log")
        assert "unable to open database file" in caplog.text
        assert checkpointer.checkpoints == 0
        checkpointer.committed(20)
        _wait_for(lambda: checkpointer.checkpoints == 1, "the second checkpoint")
        (thread,) = _checkpoint_threads(besides=others)
    finally:
        checkpointer.close()
    assert not thread.is_alive()
