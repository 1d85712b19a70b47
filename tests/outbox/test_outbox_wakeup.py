"""Mail queued by another process wakes the engine at once (:mod:`tocsin.store.wakeup`).

The engines here poll once a minute, so mail that arrives within seconds was woken for:
by a NOTIFY on PostgreSQL, by a datagram to the engine's socket on SQLite.  The other
process is a real one (``python -c``), the mail goes to an aiosmtpd server.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg
import pytest
from outbox_support import (
    PG_URL,
    enqueue,
    eventually,
    fast_options,
    mail,
    running,
    smtp_settings,
)

from tocsin.outbox import DeliveryEngine, NewEmail
from tocsin.outbox.incarnation import WORKERS_DIR
from tocsin.store import Store, open_store
from tocsin.store.postgres import PostgresStore
from tocsin.store.sqlite import SQLiteStore
from tocsin.store.wakeup import WakeSockets, channel
from tocsin.testing import ThreadedSMTPTestServer

TO = "ops@example.net"
POLL = 60.0  # no test here waits that long: what arrives sooner was woken for

# Enqueue one email into the store that argv names (a SQLite path, or a URL and schema).
_CHILD = """
import sys
from tocsin.message import compose
from tocsin.outbox import NewEmail
from tocsin.store import open_store
from tocsin.store.postgres import PostgresStore

target, schema, subject = sys.argv[1:4]
if schema:
    store = PostgresStore(target, schema=schema, migrate=False)
else:
    store = open_store(target)
mail = compose(sender="alarm@example.com", to=["ops@example.net"], subject=subject, text="x\\n")
with store.transaction() as tx:
    tx.enqueue(NewEmail.of(mail))
store.close()
"""


def _enqueue_elsewhere(store: Store, subject: str) -> None:
    """Queue one email from another process."""
    if isinstance(store, PostgresStore):
        args = [PG_URL, store.schema or "", subject]
    else:
        assert isinstance(store, SQLiteStore)
        args = [str(store.path), "", subject]
    subprocess.run([sys.executable, "-c", _CHILD, *args], check=True, timeout=60)


@asynccontextmanager
async def _engine(store: Store, port: int) -> AsyncIterator[DeliveryEngine]:
    settings = smtp_settings(port)
    engine = DeliveryEngine(store, lambda: settings, options=fast_options(poll_interval=POLL))
    async with running(engine, taking=True):
        yield engine


def _subjects(smtp: ThreadedSMTPTestServer) -> list[str]:
    return [str(m.message()["Subject"]) for m in smtp.messages]


async def test_mail_another_process_queues_goes_out_without_waiting_for_a_poll(
    store: Store,
) -> None:
    with ThreadedSMTPTestServer() as smtp:
        async with _engine(store, smtp.port):
            await asyncio.to_thread(_enqueue_elsewhere, store, "from another process")
            await eventually(
                lambda: "from another process" in _subjects(smtp),
                timeout=POLL / 4,
                what="the email queued by another process",
            )


async def test_the_listener_comes_back_after_its_connection_is_killed(
    pg_store: PostgresStore,
) -> None:
    name = channel(pg_store.schema or "")
    with ThreadedSMTPTestServer() as smtp:
        async with _engine(pg_store, smtp.port):
            with psycopg.connect(PG_URL, autocommit=True) as admin:
                killed = admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = %s",
                    (f'LISTEN "{name}"',),
                ).fetchall()
                assert killed == [(True,)]  # the engine's one listening connection
                # It listens again (after 1 s), then mail queued elsewhere goes out.
                await eventually(
                    lambda: admin.execute(
                        "SELECT 1 FROM pg_stat_activity WHERE query = %s", (f'LISTEN "{name}"',)
                    ).fetchall(),
                    timeout=15,
                    what="the engine to LISTEN again",
                )
            await asyncio.to_thread(_enqueue_elsewhere, pg_store, "after the break")
            await eventually(
                lambda: "after the break" in _subjects(smtp),
                timeout=POLL / 4,
                what="the email queued after the listener came back",
            )


def test_only_a_committed_enqueue_notifies_other_schemas_engines_hear_nothing(
    pg_store: PostgresStore,
) -> None:
    with psycopg.connect(PG_URL, autocommit=True) as listener:
        listener.execute(f'LISTEN "{channel(pg_store.schema or "")}"')
        listener.execute(f'LISTEN "{channel("another_schema")}"')
        with pytest.raises(RuntimeError):
            _enqueue_then_fail(pg_store)
        enqueue(pg_store, TO, subject="one")
        enqueue(pg_store, TO, TO.replace("ops", "two"), subject="two recipients, one notice")
        heard = list(listener.notifies(timeout=1.0))
    assert [n.channel for n in heard] == [channel(pg_store.schema or "")] * 2


def _enqueue_then_fail(store: Store) -> None:
    with store.transaction() as tx:
        tx.enqueue(NewEmail.of(mail(TO, subject="rolled back")))
        raise RuntimeError("the request failed after its enqueue")


def _bound(directory: Path, name: str = "listener.wake") -> socket.socket:
    directory.mkdir(parents=True, exist_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(directory / name))
    sock.setblocking(False)
    return sock


def _heard(sock: socket.socket) -> int:
    count = 0
    while True:
        try:
            sock.recv(16)
        except BlockingIOError:
            return count
        count += 1


def test_sqlite_nudges_after_a_commit_that_queued_mail_and_only_then(sqlite_store: Store) -> None:
    assert isinstance(sqlite_store, SQLiteStore)
    sock = _bound(sqlite_store.path.parent / WORKERS_DIR)
    try:
        with pytest.raises(RuntimeError):
            _enqueue_then_fail(sqlite_store)
        assert _heard(sock) == 0
        sqlite_store.put_value("unrelated", "write")  # a commit without mail
        assert _heard(sock) == 0
        enqueue(sqlite_store, TO, subject="one")
        assert _heard(sock) == 1
    finally:
        sock.close()


def test_a_dead_engines_socket_is_removed_and_the_others_still_hear(tmp_path: Path) -> None:
    directory = tmp_path / WORKERS_DIR
    dead = _bound(directory, "dead.wake")
    dead.close()  # SIGKILLed: its file stays, nobody reads it
    alive = _bound(directory, "alive.wake")
    sockets = WakeSockets(directory)
    try:
        sockets.nudge()
        assert not (directory / "dead.wake").exists()
        assert _heard(alive) == 1
    finally:
        sockets.close()
        alive.close()


async def test_an_engine_with_a_long_data_directory_path_is_woken(tmp_path: Path) -> None:
    # Beyond sockaddr_un's 108 octets: bound and reached through /proc/self/fd.
    data = tmp_path / ("d" * 60) / ("e" * 60)
    store = open_store(data / "tocsin.db")
    writer = open_store(data / "tocsin.db")
    try:
        with ThreadedSMTPTestServer() as smtp:
            async with _engine(store, smtp.port):
                assert len(str(next((data / WORKERS_DIR).glob("*.wake")))) > 108
                await asyncio.to_thread(enqueue, writer, TO, subject="long path")
                await eventually(
                    lambda: "long path" in _subjects(smtp), timeout=POLL / 4, what="the email"
                )
            assert not list((data / WORKERS_DIR).glob("*.wake"))  # removed on stopping
    finally:
        writer.close()
        store.close()


async def test_the_engine_ignores_its_own_processs_commits_on_sqlite(sqlite_store: Store) -> None:
    # The intake in the engine's own process wakes it directly (or hands mail over):
    # a nudge to itself would only cost an extra claim.
    assert isinstance(sqlite_store, SQLiteStore)
    calls: list[int] = []
    async with sqlite_store.listen_for_mail(lambda: calls.append(1)) as listening:
        assert listening
        enqueue(sqlite_store, TO, subject="own")
        await asyncio.sleep(0.2)
        assert calls == []
        other = open_store(sqlite_store.path)
        try:
            enqueue(other, TO, subject="another store object")
        finally:
            other.close()
        await eventually(lambda: calls, what="the other store's nudge")


def test_the_wake_directory_is_private(sqlite_store: Store) -> None:
    assert isinstance(sqlite_store, SQLiteStore)

    async def listen() -> None:
        async with sqlite_store.listen_for_mail(lambda: None) as listening:
            assert listening

    asyncio.run(listen())
    mode = os.stat(sqlite_store.path.parent / WORKERS_DIR).st_mode & 0o777
    assert mode == 0o700
