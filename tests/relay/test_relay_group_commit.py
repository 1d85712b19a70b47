"""Group commit of relay submissions, met over HTTP and SMTP on SQLite and PostgreSQL:
concurrent submissions share commits, yet each is answered (202, 401, 429, …) alone,
only after the commit that holds it, and the quota stays exact across relays."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiosmtplib
import httpx
import psycopg
import pytest
from psycopg import sql
from relay_support import (
    PG_URL,
    SITE_SENDER,
    InProcessRelay,
    serve_options,
    unique_schema,
    wait_until,
)

from tocsin.message import Mail
from tocsin.outbox.model import ListFilter, NewEmail
from tocsin.relay.config import RelayConfig
from tocsin.relay.service import Envelope, RelayService
from tocsin.relay.store import PostgresRelayStore, RelayStore, open_relay_store
from tocsin.testing import TestCA

NOW = 1_800_000_000.0  # a fixed clock: buckets do not refill during a test


@dataclass(frozen=True)
class Backend:
    """Where the relays under test keep their data."""

    name: str
    database: str
    schema: str | None = None

    def open(self) -> RelayStore:
        return open_relay_store(self.database, schema=self.schema)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        yield Backend("sqlite", str(tmp_path / "relay.db"))
        return
    schema = unique_schema()
    owner = PostgresRelayStore(PG_URL, schema=schema)
    try:
        yield Backend("postgres", PG_URL, schema)
    finally:
        owner.drop_schema()
        owner.close()


class WritesBlocked:
    """Another session holds the write lock (SQLite) or every device row (PostgreSQL):
    the relay's next transaction waits, and submissions queue up behind it."""

    def __init__(self, backend: Backend) -> None:
        self._sqlite: sqlite3.Connection | None = None
        self._pg: psycopg.Connection[tuple[object, ...]] | None = None
        if backend.schema is None:
            self._sqlite = sqlite3.connect(
                backend.database, isolation_level=None, timeout=30, check_same_thread=False
            )
            self._sqlite.execute("BEGIN IMMEDIATE")
        else:
            self._pg = psycopg.connect(backend.database)
            self._pg.execute(
                sql.SQL("SET search_path TO {}").format(sql.Identifier(backend.schema))
            )
            self._pg.execute("SELECT id FROM relay_device FOR UPDATE")

    def release(self) -> None:
        if self._sqlite is not None:
            self._sqlite.execute("ROLLBACK")
            self._sqlite.close()
            self._sqlite = None
        if self._pg is not None:
            self._pg.rollback()
            self._pg.close()
            self._pg = None


def raw(i: int) -> bytes:
    return (
        f"From: {SITE_SENDER}\r\nTo: ops@example.net\r\nSubject: Alarm {i}\r\n"
        f"Message-ID: <gc-{i}@site.example.org>\r\n\r\nAlarm number {i}.\r\n"
    ).encode()


async def post(
    client: httpx.AsyncClient,
    relay: InProcessRelay,
    credential: str,
    i: int,
    *,
    key: str | None = None,
    rcpt: tuple[str, ...] = ("ops@example.net",),
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {credential}", "Content-Type": "message/rfc822"}
    if key is not None:
        headers["Idempotency-Key"] = key
    params = [("mail_from", SITE_SENDER), *(("rcpt_to", r) for r in rcpt)]
    return await client.post(
        f"{relay.api_url}/v1/messages", content=raw(i), headers=headers, params=params
    )


async def queued_up(service: RelayService, count: int) -> None:
    """Until ``count`` submissions wait for a commit (they are inside the group commit)."""
    for _ in range(600):
        if service.store.in_flight.count() >= count:
            await asyncio.sleep(0.2)  # the last one reaches the group commit's queue
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{service.store.in_flight.count()} of {count} submissions queued")


def stored_message_ids(store: RelayStore) -> collections.Counter[str]:
    deliveries = store.list_deliveries(ListFilter(limit=10_000))
    return collections.Counter(d.message_id for d in deliveries)


def start_relay(
    backend: Backend, config: RelayConfig, cert: Path, *, smtp: bool = False
) -> InProcessRelay:
    service = RelayService(backend.open(), config, clock=lambda: NOW, recent_auth=300)
    options = serve_options(cert, api=not smtp, smtp=smtp, worker=False)
    return InProcessRelay(service, options).start()


def add_device(relay: InProcessRelay, name: str, *, quota: int = 100_000, burst: int = 1000) -> str:
    credential, _ = relay.service.add_device(
        name, ["@site.example.org"], quota_per_hour=quota, burst=burst
    )
    return credential


@pytest.fixture
def relay(
    backend: Backend, relay_config: RelayConfig, relay_cert: Path
) -> Iterator[InProcessRelay]:
    running = start_relay(backend, relay_config, relay_cert)
    try:
        yield running
    finally:
        running.stop()
        running.service.store.close()


def wal_frames(database: str, *, reset: bool = False) -> int:
    """The frames in an SQLite database's write-ahead log (every commit adds the pages it
    changed); ``reset`` empties the log first."""
    with contextlib.closing(sqlite3.connect(database, isolation_level=None)) as conn:
        busy, frames, _ = conn.execute(
            f"PRAGMA wal_checkpoint({'TRUNCATE' if reset else 'PASSIVE'})"
        ).fetchone()
    assert busy == 0
    return 0 if reset else int(frames)


def table_writes(schema: str) -> dict[str, tuple[int, int]]:
    """(rows inserted, rows updated) by table of ``schema``, from PostgreSQL's statistics
    (each session reports its writes, all tables together, by the time it ends)."""
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT relname, n_tup_ins, n_tup_upd FROM pg_stat_user_tables WHERE schemaname = %s",
            (schema,),
        ).fetchall()
    return {str(r[0]): (int(r[1]), int(r[2])) for r in rows}


async def test_concurrent_submissions_wait_for_one_shared_commit_and_are_stored_once(
    backend: Backend, relay_config: RelayConfig, relay_cert: Path, ca: TestCA
) -> None:
    relay = start_relay(backend, relay_config, relay_cert)
    try:
        credential = add_device(relay, "site-1")
        async with httpx.AsyncClient(verify=ca.client_context(), timeout=60) as client:
            if backend.schema is None:
                wal_frames(backend.database, reset=True)
            first = await post(client, relay, credential, 0)  # also authenticates the device
            assert first.status_code == 202
            if backend.schema is None:
                one_commit = wal_frames(backend.database)
                wal_frames(backend.database, reset=True)
            blocked = await asyncio.to_thread(WritesBlocked, backend)
            try:
                tasks = [
                    asyncio.create_task(
                        post(client, relay, credential, i, key=f"k{i}" if i % 2 else None)
                    )
                    for i in range(1, 41)
                ]
                await queued_up(relay.service, 40)
                assert not any(t.done() for t in tasks)  # nothing is answered before its commit
            finally:
                await asyncio.to_thread(blocked.release)
            answers = await asyncio.gather(*tasks)
            if backend.schema is None:
                # Two commits (the first to come, alone; then the 39 that queued behind
                # it) write a few more pages than one; 40 commits would write 40 times.
                assert wal_frames(backend.database) < 8 * one_commit
            assert [a.status_code for a in answers] == [202] * 40
            ids = [a.json()["id"] for a in answers]
            assert len(set(ids)) == 40
            again = await asyncio.gather(
                *(post(client, relay, credential, i, key=f"k{i}") for i in range(1, 41, 2))
            )
    finally:
        await relay.astop()
        relay.service.store.close()
    assert [a.json()["id"] for a in again] == ids[::2]  # the first submission, not a new one
    assert all(a.json()["duplicate"] for a in again)
    if backend.schema is not None:
        # The bucket is written once per commit that spent from it (the first submission,
        # then the two rounds of the burst), never per submission nor for a repeat.
        schema = backend.schema

        def reported() -> dict[str, tuple[int, int]] | None:
            writes = table_writes(schema)
            return writes if writes.get("relay_submission", (0, 0))[0] >= 41 else None

        writes = await asyncio.to_thread(wait_until, reported, what="the relay's statistics")
        assert writes["relay_device"][1] <= 4
    store = backend.open()
    try:
        assert stored_message_ids(store) == collections.Counter(
            f"<gc-{i}@site.example.org>" for i in range(41)
        )
        device = store.list_devices()[0]
        for public_id in ids:
            found = store.submission_status(device.id, public_id)
            assert found is not None
            assert [r.status.value for r in found.recipients] == ["queued"]
    finally:
        store.close()


async def test_each_submission_of_a_shared_commit_gets_its_own_answer(
    relay: InProcessRelay, backend: Backend, ca: TestCA
) -> None:
    good = add_device(relay, "site-1")
    tiny = add_device(relay, "tiny", quota=36, burst=3)  # 36/h: one more every 100 s
    gone = add_device(relay, "gone")
    async with httpx.AsyncClient(verify=ca.client_context(), timeout=60) as client:
        for n, credential in enumerate((good, tiny, gone)):  # authenticated a moment ago
            assert (await post(client, relay, credential, 100 + n)).status_code == 202
        # Revoked by another process (the CLI): this relay still has the device in mind.
        assert relay.service.store.revoke_device("gone", NOW)
        blocked = await asyncio.to_thread(WritesBlocked, backend)
        try:
            batch = {
                **{f"good{i}": post(client, relay, good, i) for i in range(8)},
                **{f"tiny{i}": post(client, relay, tiny, 20 + i) for i in range(4)},
                "gone": post(client, relay, gone, 30),
                "same-a": post(client, relay, good, 31, key="one-key"),
                "same-b": post(client, relay, good, 31, key="one-key"),
            }
            tasks = {name: asyncio.create_task(c) for name, c in batch.items()}
            refused = await asyncio.wait_for(  # refused before any transaction: no waiting
                post(client, relay, good, 40, rcpt=()), timeout=30
            )
            await queued_up(relay.service, len(tasks))
        finally:
            await asyncio.to_thread(blocked.release)
        answers = {name: await task for name, task in tasks.items()}
    assert refused.status_code == 422
    assert all(answers[f"good{i}"].status_code == 202 for i in range(8))
    tiny_codes = sorted(answers[f"tiny{i}"].status_code for i in range(4))
    assert tiny_codes == [202, 202, 429, 429]  # 3 tokens, one spent before
    assert {
        answers[f"tiny{i}"].headers.get("Retry-After")
        for i in range(4)
        if answers[f"tiny{i}"].status_code == 429
    } == {"100"}
    assert answers["gone"].status_code == 401
    same = [answers["same-a"].json(), answers["same-b"].json()]
    assert same[0]["id"] == same[1]["id"]
    assert sorted(a["duplicate"] for a in same) == [False, True]
    store = backend.open()
    try:
        stored = stored_message_ids(store)
        tokens = {d.name: d for d in store.list_devices()}
    finally:
        store.close()
    expected = [*range(8), 31, 100, 101, 102]
    expected += [20 + i for i in range(4) if answers[f"tiny{i}"].status_code == 202]
    assert stored == collections.Counter(f"<gc-{i}@site.example.org>" for i in expected)
    assert tokens["gone"].revoked_at == NOW


async def test_the_quota_is_exact_across_two_relays_under_concurrency(
    backend: Backend, relay_config: RelayConfig, relay_cert: Path, ca: TestCA
) -> None:
    """Quota 50 an hour, burst 50, 80 submissions at once through two relays (two
    database sessions, as two API processes): exactly 50 are taken."""
    relays = [start_relay(backend, relay_config, relay_cert) for _ in range(2)]
    try:
        credential = add_device(relays[0], "site-1", quota=50, burst=50)
        async with httpx.AsyncClient(verify=ca.client_context(), timeout=60) as client:
            answers = await asyncio.gather(
                *(post(client, relays[i % 2], credential, i) for i in range(80))
            )
    finally:
        for running in relays:
            running.stop()
            running.service.store.close()
    codes = collections.Counter(a.status_code for a in answers)
    assert codes == {202: 50, 429: 30}
    assert {a.headers["Retry-After"] for a in answers if a.status_code == 429} == {"72"}
    store = backend.open()
    try:
        assert sum(stored_message_ids(store).values()) == 50
        (device,) = store.list_devices()
    finally:
        store.close()
    accepted = {a.json()["id"] for a in answers if a.status_code == 202}
    assert len(accepted) == 50
    assert device.last_used_at == NOW


async def test_smtp_sessions_share_commits_and_keep_their_own_replies(
    backend: Backend, relay_config: RelayConfig, relay_cert: Path, ca: TestCA
) -> None:
    relay = start_relay(backend, relay_config, relay_cert, smtp=True)
    good = add_device(relay, "site-1")
    tiny = add_device(relay, "tiny", quota=60, burst=1)
    sessions: list[aiosmtplib.SMTP] = []
    try:
        for n in range(13):  # more than asyncio's default executor has threads (CPUs + 4)
            smtp = aiosmtplib.SMTP(
                hostname="localhost",
                port=relay.ports["smtp_port"],
                start_tls=False,
                tls_context=ca.client_context(),
                timeout=60,
            )
            await smtp.connect()
            await smtp.starttls()
            await smtp.login(*(("tiny", tiny) if n == 12 else ("site-1", good)))
            sessions.append(smtp)
        await sessions[12].sendmail(SITE_SENDER, ["ops@example.net"], raw(99))  # tiny's token

        async def send(n: int) -> str:
            try:
                _, reply = await sessions[n].sendmail(SITE_SENDER, ["ops@example.net"], raw(n))
            except aiosmtplib.SMTPDataError as exc:
                return f"{exc.code} {exc.message}"
            return reply

        blocked = await asyncio.to_thread(WritesBlocked, backend)
        try:
            tasks = [asyncio.create_task(send(n)) for n in range(13)]
            await queued_up(relay.service, 13)
            assert not any(t.done() for t in tasks)
        finally:
            await asyncio.to_thread(blocked.release)
        replies = await asyncio.gather(*tasks)
    finally:
        for smtp in sessions:
            smtp.close()
        await relay.astop()
        relay.service.store.close()
    assert all("queued as msg_" in r for r in replies[:12]), replies
    assert replies[12].startswith("452 ")
    assert "quota" in replies[12]
    store = backend.open()
    try:
        stored = stored_message_ids(store)
    finally:
        store.close()
    assert stored == collections.Counter(f"<gc-{i}@site.example.org>" for i in [*range(12), 99])


async def test_relays_sharing_many_devices_never_deadlock(
    backend: Backend, relay_config: RelayConfig, relay_cert: Path, ca: TestCA
) -> None:
    """Two relays' shared transactions each hold several devices' buckets; they take
    them in the same order up front, so neither waits for the other in a cycle (on
    PostgreSQL a deadlock would cost a second and fail a submission with a 500)."""
    relays = [start_relay(backend, relay_config, relay_cert) for _ in range(2)]
    try:
        credentials = [add_device(relays[0], f"site-{n}") for n in range(6)]
        async with httpx.AsyncClient(verify=ca.client_context(), timeout=60) as client:
            for n, credential in enumerate(credentials):  # both relays know every device
                for r, relay in enumerate(relays):
                    answer = await post(client, relay, credential, 1000 + 10 * n + r)
                    assert answer.status_code == 202

            def turn(relay: int, i: int) -> str:  # the two relays meet the devices in
                n = i % 6  # opposite orders
                return credentials[n if relay == 0 else 5 - n]

            blocked = await asyncio.to_thread(WritesBlocked, backend)
            try:  # both relays start a large round at the same moment
                tasks = [
                    asyncio.create_task(post(client, relays[i % 2], turn(i % 2, i // 2), i))
                    for i in range(72)
                ]
                for relay in relays:  # (each relay's loop runs at most 40 threads)
                    await queued_up(relay.service, 36)
            finally:
                await asyncio.to_thread(blocked.release)
            answers = await asyncio.gather(*tasks)
            answers += await asyncio.gather(
                *(post(client, relays[i % 2], turn(i % 2, i // 2), i) for i in range(72, 240))
            )
    finally:
        for running in relays:
            await running.astop()
            running.service.store.close()
    assert collections.Counter(a.status_code for a in answers) == {202: 240}
    store = backend.open()
    try:
        stored = stored_message_ids(store)
    finally:
        store.close()
    assert sum(stored.values()) == 240 + 12
    assert max(stored.values()) == 1


async def test_the_admin_view_reads_the_subject_as_the_outbox_would(
    relay: InProcessRelay, backend: Backend
) -> None:
    """The Subject is parsed from its own field, not the whole (signed) header block:
    still the same text, encoded words and folding included."""
    subject = (
        "=?utf-8?q?Feuer_im_Serverraum_=E2=80=93_St=C3=B6rung?=\r\n =?utf-8?q?_Geb=C3=A4ude_B?="
    )
    content = (
        f"From: {SITE_SENDER}\r\nTo: ops@example.net\r\nSubject: {subject}\r\n"
        "Message-ID: <subject-1@site.example.org>\r\n\r\nSmoke.\r\n"
    ).encode()
    service = relay.service
    _, device = service.add_device("site-1", ["@site.example.org"])
    accepted = await asyncio.to_thread(
        service.submit, device, Envelope(SITE_SENDER, ("ops@example.net",)), content
    )
    found = service.store.get_email(accepted.email_id, content=True)
    assert found is not None
    assert found.content is not None
    stored = Mail(
        sender="x@example.net", recipients=("ops@example.net",), content=found.content,
        message_id=found.message_id,
    )  # fmt: skip
    assert found.subject == NewEmail.of(stored).subject == "Feuer im Serverraum – Störung Gebäude B"
