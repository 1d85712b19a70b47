"""Crash tests: SIGKILL a process that accepts and delivers email, many times; nothing is
lost, and only a crash between the server's 250 and our commit may duplicate."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from outbox_support import PG_URL, unique_schema

from helpers import RealSMTP, maildir_messages
from tocsin.outbox import ListFilter, Status
from tocsin.store import PostgresStore, open_store
from tocsin.testing import ThreadedSMTPTestServer

CHILD = Path(__file__).with_name("crash_child.py")
TOTAL = 150  # emails accepted over all runs
KILLS = 12
CONNECTIONS = 2  # the engine's default: what one kill can have in flight

pytestmark = [pytest.mark.slow]


def child(url: str, schema: str | None, port: int, run: str, *extra: str) -> list[str]:
    args = [sys.executable, str(CHILD), "--url", url, "--port", str(port), "--run", run]
    return args + (["--schema", schema] if schema else []) + list(extra)


def subjects_in(maildir: Path, run: str) -> Counter[str]:
    """Message-IDs of this run's messages in the Maildir, counted."""
    return Counter(
        str(msg["Message-ID"]).strip()
        for msg in maildir_messages(maildir)
        if str(msg.get("Subject", "")).startswith(f"crash {run} ")
    )


def crash_and_recover(url: str, schema: str | None, real_smtp: RealSMTP) -> None:
    run = uuid.uuid4().hex[:10]
    rng = random.Random(run)
    env = {**os.environ, "PYTHONPATH": str(CHILD.parent)}
    port = real_smtp.plain_port
    for _ in range(KILLS):
        proc = subprocess.Popen(child(url, schema, port, run, "--total", str(TOTAL)), env=env,
                                stdout=subprocess.DEVNULL)  # fmt: skip
        time.sleep(rng.uniform(0.3, 1.2))  # start-up is ~0.3 s: kill at work, mostly
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    subprocess.run(child(url, schema, port, run, "--total", str(TOTAL)), env=env, timeout=90,
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    subprocess.run(child(url, schema, port, run, "--drain"), env=env, timeout=90, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip

    store = open_store(url, schema=schema)
    try:
        counts = store.counts()
        rows = store.list_deliveries(ListFilter(limit=10 * TOTAL))
    finally:
        store.close()
    assert counts[Status.SENT] == TOTAL, counts
    accepted = {d.message_id for d in rows}
    assert len(accepted) == TOTAL

    deadline = time.monotonic() + 30  # Postfix writes the Maildir shortly after its 250
    while True:
        delivered = subjects_in(real_smtp.maildir, run)
        missing = accepted - set(delivered)
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    duplicates = {m: n for m, n in delivered.items() if n > 1}
    extra = sum(n - 1 for n in duplicates.values())
    print(f"\n{TOTAL} accepted, {KILLS} kills: {len(missing)} missing, {extra} duplicates")
    assert not missing, f"{len(missing)} accepted emails never reached Postfix"
    assert set(delivered) <= accepted  # nothing that was never accepted
    # Each kill can catch at most the sends in flight between a 250 and its commit.
    assert extra <= KILLS * CONNECTIONS, duplicates


def test_sqlite_survives_sigkill(tmp_path: Path, real_smtp: RealSMTP) -> None:
    crash_and_recover(str(tmp_path / "tocsin.db"), None, real_smtp)


@pytest.mark.postgres
def test_postgres_survives_sigkill(real_smtp: RealSMTP) -> None:
    schema = unique_schema()
    try:
        crash_and_recover(PG_URL, schema, real_smtp)
    finally:
        store = PostgresStore(PG_URL, schema=schema)
        store.drop_schema()
        store.close()


@pytest.mark.postgres
def test_two_workers_share_one_queue_and_send_each_row_once(tmp_path: Path) -> None:
    schema = unique_schema()
    store = PostgresStore(PG_URL, schema=schema)
    env = {**os.environ, "PYTHONPATH": str(CHILD.parent)}
    try:
        with ThreadedSMTPTestServer() as srv:
            from outbox_support import mail

            from tocsin.outbox import NewEmail, Priority

            with store.transaction() as tx:
                for i in range(300):
                    tx.enqueue(NewEmail.of(mail("ops@example.net", subject=f"pair {i}"),
                                           Priority.ALARM))  # fmt: skip
            go = tmp_path / "go"  # both start together: a slow start-up is no proof
            args = child(PG_URL, schema, srv.port, "pair", "--drain", "--go", str(go))
            workers = [subprocess.Popen(args, env=env, stdout=subprocess.PIPE, text=True)
                       for _ in range(2)]  # fmt: skip
            for worker in workers:
                assert worker.stdout is not None
                assert worker.stdout.readline().strip() == "ready"
            go.touch()
            outputs = [w.communicate(timeout=90)[0] for w in workers]
            assert [w.returncode for w in workers] == [0, 0]
            sent_by = [int(o.strip().splitlines()[-1]) for o in outputs]
            ids = Counter(str(m.message()["Message-ID"]) for m in srv.messages)
        assert sum(sent_by) == 300
        assert min(sent_by) > 0, f"one worker did all the work: {sent_by}"
        assert len(ids) == 300
        assert max(ids.values()) == 1
        assert store.counts()[Status.SENT] == 300
    finally:
        store.drop_schema()
        store.close()
