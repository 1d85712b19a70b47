"""A restarted worker takes back at once the leases of its dead predecessors (not others')."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from outbox_support import (
    Journal,
    all_done,
    enqueue,
    eventually,
    fast_options,
    running,
    smtp_settings,
    statuses,
)

from tocsin.outbox import DeliveryEngine, Status
from tocsin.outbox.incarnation import WorkerLock
from tocsin.store import Store
from tocsin.testing import SMTPTestServer

A, B = "ops@example.net", "boss@example.net"
LEASE = 60.0  # far longer than any wait below: only a take-back can explain a delivery


# ---------------------------------------------------------------- the lock itself
def test_owner_names_host_pid_incarnation_and_instance(tmp_path: Path) -> None:
    first, second = WorkerLock(tmp_path), WorkerLock(tmp_path)
    assert first.instance == second.instance  # one directory, one instance
    assert first.incarnation != second.incarnation
    host, pid, rest = first.owner.split(":")
    assert host == socket.gethostname()
    assert pid == str(os.getpid())
    assert rest == f"{first.incarnation}@{first.instance}"
    assert WorkerLock(tmp_path / "elsewhere").instance != first.instance


def test_a_live_owner_is_kept_a_dead_one_is_not(tmp_path: Path) -> None:
    alive, gone, me = WorkerLock(tmp_path), WorkerLock(tmp_path), WorkerLock(tmp_path)
    alive.hold()
    gone.hold()
    assert gone._fd is not None
    os.close(gone._fd)  # the process died: the kernel drops the lock, the file stays
    gone._fd = None
    other_dir = WorkerLock(tmp_path / "other")
    other_dir.hold()
    owners = [alive.owner, gone.owner, me.owner, other_dir.owner, "host:1:nonsense", "x@y"]
    assert me.orphaned(owners) == [gone.owner]
    assert not (tmp_path / f"{gone.incarnation}.lock").exists()
    assert me.orphaned(owners) == []  # file gone: no longer provable, left alone
    alive.release()
    assert not (tmp_path / f"{alive.incarnation}.lock").exists()
    other_dir.release()


# ---------------------------------------------------------------- the store
def test_lease_owners_and_expire_leases(store: Store) -> None:
    now = time.time()
    first = enqueue(store, A, now=now)
    second = enqueue(store, B, now=now)
    store.claim(owner="dead", now=now, limit=1, lease=LEASE)
    store.claim(owner="alive", now=now, limit=1, lease=LEASE)
    assert store.lease_owners() == ["alive", "dead"]
    assert store.expire_leases([], now=now) == 0
    assert store.expire_leases(["dead"], now=now + 1) == 1
    (taken,) = store.claim(owner="new", now=now + 1, limit=10, lease=LEASE)
    assert taken.email_id == first
    assert taken.deliveries[0].attempts == 0  # nothing spent
    assert store.lease_owners() == ["alive", "new"]
    assert statuses(store, second) == {B: Status.SENDING}


# ---------------------------------------------------------------- a real crash
CLAIMER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from tocsin.outbox.incarnation import WorkerLock
    from tocsin.store import open_store

    lock = WorkerLock(Path(sys.argv[1]) / "outbox-workers")
    lock.hold()
    store = open_store(Path(sys.argv[2]))
    claimed = store.claim(owner=lock.owner, now=time.time(), limit=100, lease=float(sys.argv[3]))
    print(sum(len(c.deliveries) for c in claimed), flush=True)
    time.sleep(600)
    """
)


@contextmanager
def claimer(data: Path, db: Path) -> Iterator[subprocess.Popen[str]]:
    """A worker of ``data`` that leases every due delivery and then hangs."""
    args = [sys.executable, "-c", CLAIMER, str(data), str(db), str(LEASE)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert int(proc.stdout.readline()) > 0
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.mark.parametrize("fate", ["killed", "alive", "other-directory"])
async def test_a_restart_takes_back_only_what_dead_workers_held(
    sqlite_store: Store, tmp_path: Path, fate: str
) -> None:
    db = tmp_path / "tocsin.db"  # the sqlite_store fixture's file
    data = tmp_path / "data"
    ids = [enqueue(sqlite_store, A), enqueue(sqlite_store, A, B)]
    worker_dir = tmp_path / "elsewhere" if fate == "other-directory" else data
    with claimer(worker_dir, db) as proc:
        assert sqlite_store.counts()[Status.SENDING] == 3
        if fate != "alive":
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        journal = Journal()
        async with SMTPTestServer() as srv:
            engine = DeliveryEngine(
                sqlite_store,
                lambda: smtp_settings(srv.port),
                options=fast_options(lease=LEASE, state_dir=data),
                on_sent=journal,
            )
            async with running(engine):
                if fate == "killed":
                    await eventually(lambda: all_done(sqlite_store), timeout=5, what="take-back")
                else:
                    await asyncio.sleep(0.8)  # claims every 50 ms: long enough to go wrong
    if fate == "killed":
        assert [statuses(sqlite_store, i) for i in ids] == [
            {A: Status.SENT},
            {A: Status.SENT, B: Status.SENT},
        ]
        assert len(srv.messages) == 2
    else:
        assert sqlite_store.counts()[Status.SENDING] == 3  # left to their lease
        assert srv.messages == []
    lock = engine._lock
    assert lock is not None
    assert engine.owner == lock.owner
    assert lock.instance == (data / "outbox-workers" / "instance").read_text().strip()
    assert not (data / "outbox-workers" / f"{lock.incarnation}.lock").exists()  # clean stop
