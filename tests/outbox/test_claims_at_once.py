"""The engine claims on its own loop when SQLite can take the claim at once, and on its
store thread when it cannot (issue 11).  Real SQLite, a real engine, aiosmtpd; the
other process writing is a child process holding SQLite's write lock."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from outbox_support import all_done, enqueue, eventually, fast_options, running, smtp_settings

from tocsin.outbox import DeliveryEngine, Status
from tocsin.outbox.store import NotNow
from tocsin.store import SQLiteStore, open_store
from tocsin.testing import ThreadedSMTPTestServer

# A process in a write transaction until told: "count" prints how many deliveries are
# queued (read inside its transaction), "release" rolls back and ends it.
_WRITER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("holding", flush=True)
for line in sys.stdin:
    if line.strip() == "count":
        sql = "SELECT COUNT(*) FROM outbox_delivery WHERE status = 'queued'"
        print(db.execute(sql).fetchone()[0], flush=True)
    else:
        db.execute("ROLLBACK")
        break
"""


@contextmanager
def _writer(path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding SQLite's write lock on ``path`` for the block."""
    with subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "holding"
            yield child
        finally:
            if child.poll() is None:
                child.kill()


def _ask(child: subprocess.Popen[str], what: str) -> str:
    assert child.stdin is not None
    assert child.stdout is not None
    child.stdin.write(what + "\n")
    child.stdin.flush()
    return child.stdout.readline().strip()


def _claims_seen_from(store: SQLiteStore) -> list[str]:
    """The name of the thread each claim ran on, as the claims come (an observer only)."""
    seen: list[str] = []
    claim = store.claim

    def observed(**kwargs: object) -> object:
        seen.append(threading.current_thread().name)
        return claim(**kwargs)  # type: ignore[arg-type]

    store.claim = observed  # type: ignore[method-assign]
    return seen


async def test_claims_run_on_the_loop_and_on_the_store_thread_while_another_process_writes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tocsin.db"
    store = open_store(path)
    assert isinstance(store, SQLiteStore)
    seen = _claims_seen_from(store)
    with ThreadedSMTPTestServer() as smtp:
        settings = smtp_settings(smtp.port)
        engine = DeliveryEngine(store, lambda: settings, options=fast_options())
        for n in range(3):
            enqueue(store, f"ops{n}@example.net")
        async with running(engine):
            await eventually(lambda: all_done(store), what="the first three sent")
        assert store.counts()[Status.SENT] == 3
        loop_thread = threading.current_thread().name
        assert seen
        assert set(seen) == {loop_thread}  # nothing else used the store: all on the loop

        # Another process writes (SQLite's write lock held for 1.5 s): the claim cannot
        # be taken at once, goes to the store thread and waits there, not on the loop.
        enqueue(store, "late@example.net")
        seen.clear()
        gaps: list[float] = []

        async def tick() -> None:
            last = time.monotonic()
            while True:
                await asyncio.sleep(0.01)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        ticker = asyncio.create_task(tick())
        try:
            with _writer(path) as other:
                async with running(engine):
                    await asyncio.sleep(1.5)
                    # Read by the writer itself: the store waits for the write lock.
                    assert _ask(other, "count") == "1"  # not claimed meanwhile
                    _ask(other, "release")
                    await eventually(lambda: all_done(store), what="the late one sent")
        finally:
            ticker.cancel()
            store.close()
    assert list(smtp.messages[-1].rcpt_tos) == ["late@example.net"]
    assert any(name != loop_thread for name in seen)  # the store thread took it
    assert max(gaps) < 0.5  # the loop went on meanwhile


def test_at_once_gives_way_to_other_processes_and_threads_and_restores_the_store(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tocsin.db"
    store = open_store(path)
    assert isinstance(store, SQLiteStore)
    try:
        enqueue(store, "ops@example.net")

        def pragmas() -> tuple[int, int]:
            return (
                store._conn.execute("PRAGMA synchronous").fetchone()[0],
                store._conn.execute("PRAGMA busy_timeout").fetchone()[0],
            )

        full_and_waiting = pragmas()
        assert full_and_waiting == (2, 30_000)  # FULL, 30 s
        with store.at_once() as free:
            assert free
            assert pragmas() == (1, 0)  # NORMAL, no waiting
            claimed = store.claim(owner="e1", now=time.time(), limit=10, lease=60)
        assert [d.recipient for c in claimed for d in c.deliveries] == ["ops@example.net"]
        assert pragmas() == full_and_waiting

        # Another process holds the write lock: a write fails at once, nothing changed.
        enqueue(store, "second@example.net")
        with _writer(path) as other:
            started = time.monotonic()
            with store.at_once() as free:
                assert free
                with pytest.raises(NotNow):
                    store.claim(owner="e1", now=time.time(), limit=10, lease=60)
            assert time.monotonic() - started < 1.0
            _ask(other, "release")
        assert pragmas() == full_and_waiting
        assert store.counts()[Status.QUEUED] == 1

        # Another thread of this process is in the store: not at once.
        inside, leave = threading.Event(), threading.Event()

        def hold() -> None:
            with store.transaction():
                inside.set()
                leave.wait(10)

        holder = threading.Thread(target=hold)
        holder.start()
        try:
            assert inside.wait(10)
            with store.at_once() as free:
                assert not free
        finally:
            leave.set()
            holder.join(10)
        assert pragmas() == full_and_waiting
    finally:
        store.close()
