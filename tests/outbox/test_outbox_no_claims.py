"""An engine that does not claim (``EngineOptions(claims=False)``, serve beside its
delivery processes) and the claim that looks before it locks (SQLite).  Real stores,
real engines, aiosmtpd."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

import pytest
from outbox_support import (
    Journal,
    enqueue,
    eventually,
    fast_options,
    mail,
    running,
    smtp_settings,
    statuses,
)

from tocsin.outbox import ClaimedEmail, DeliveryEngine, NewEmail, Status
from tocsin.store import Store, open_store
from tocsin.store.sqlite import SQLiteStore
from tocsin.testing import ThreadedSMTPTestServer

TO = [f"ops{i}@example.net" for i in range(5)]


def _handed_together(store: Store, engine: DeliveryEngine, emails: list[NewEmail]) -> int:
    """Enqueue ``emails`` in one call through the engine's hand-off, as serve's intake
    enqueues a request's emails; how many it took."""
    ticket = engine.handoff.ticket()
    with store.transaction() as tx, ticket.attached(tx):
        tx.enqueue_many(emails)
    ticket.deliver()
    return len(ticket.emails)


def _handed(store: Store, engine: DeliveryEngine, *to: str, subject: str) -> bool:
    """One email through the engine's hand-off; True if it took it."""
    return _handed_together(store, engine, [NewEmail.of(mail(*to, subject=subject))]) == 1


def _owners(journal: Journal) -> set[int]:
    return {email.email_id for email, _, _, _ in journal.sends}


async def test_queued_mail_is_left_to_the_engines_that_claim(store: Store) -> None:
    with ThreadedSMTPTestServer() as smtp:
        settings = smtp_settings(smtp.port)
        serve_side, worker_side = Journal(), Journal()
        serve = DeliveryEngine(
            store, lambda: settings, on_sent=serve_side, options=fast_options(claims=False)
        )
        async with running(serve, taking=True):
            queued = [enqueue(store, TO[0], subject=f"queued {i}") for i in range(3)]
            await asyncio.sleep(0.5)  # ten of the claimer's polls: nothing is claimed
            assert serve_side.sends == []
            assert all(store.counts()[s] == 0 for s in (Status.SENDING, Status.SENT))
            worker = DeliveryEngine(store, lambda: settings, on_sent=worker_side,
                                    options=fast_options())  # fmt: skip
            async with running(worker, taking=True):
                await eventually(lambda: _owners(worker_side) == set(queued), what="the claims")
        assert serve_side.sends == []
        assert len(smtp.messages) == 3


async def test_it_sends_what_is_handed_while_a_connection_is_free(store: Store) -> None:
    with ThreadedSMTPTestServer() as smtp:
        settings = smtp_settings(smtp.port)
        journal = Journal()
        engine = DeliveryEngine(
            store,
            lambda: settings,
            on_sent=journal,
            options=fast_options(claims=False, max_connections=2),
        )
        # The server answers that email's final dot a second late, so it is still in hand
        # when the next one comes (a real server answers in a few ms: it could be done).
        smtp.faults.delay("data_end", 1.0, times=1)
        async with running(engine, taking=True):
            # Idle: it takes an email of five recipients, beyond its room of two...
            assert await asyncio.to_thread(_handed, store, engine, *TO, subject="five")
            # ... and while that one is still in hand, nothing more.
            assert engine.in_flight() == 5
            assert not await asyncio.to_thread(_handed, store, engine, TO[0], subject="busy")
            await eventually(lambda: journal.sends, what="the handed email's verdict")
            await eventually(lambda: engine.in_flight() == 0, what="its room back")
            assert await asyncio.to_thread(_handed, store, engine, TO[1], subject="one")
            await eventually(lambda: len(journal.sends) == 2, what="the second verdict")
        subjects = sorted(str(m.message()["Subject"]) for m in smtp.messages)
        assert subjects == ["five", "one"]
        assert store.counts()[Status.QUEUED] == 1  # "busy": left for a claiming engine


async def test_a_request_it_could_take_less_than_half_of_goes_to_the_queue_whole(
    store: Store,
) -> None:
    # A burst's request of many alarms: none of it for serve's engine, all of it for the
    # delivery processes; of a lone alarm's emails it takes what fits its connections.
    with ThreadedSMTPTestServer() as smtp:
        settings = smtp_settings(smtp.port)
        journal = Journal()
        options = fast_options(claims=False, max_connections=2)
        engine = DeliveryEngine(store, lambda: settings, on_sent=journal, options=options)

        def emails(*recipients: list[str], subject: str) -> list[NewEmail]:
            return [
                NewEmail.of(mail(*to, subject=f"{subject} {i}")) for i, to in enumerate(recipients)
            ]

        async def hand(batch: list[NewEmail]) -> int:
            taken = await asyncio.to_thread(_handed_together, store, engine, batch)
            sent = len(journal.sends) + taken
            await eventually(lambda: len(journal.sends) == sent, what="the verdicts")
            await eventually(lambda: engine.in_flight() == 0, what="its room back")
            return taken

        async with running(engine, taking=True):
            assert await hand(emails(*[[to] for to in TO], subject="burst")) == 0
            assert await hand(emails([TO[0]], [TO[1]], subject="pair")) == 2
            assert await hand(emails([TO[0]], [TO[1]], [TO[2]], subject="three")) == 2
            # One email, then one of two recipients: one delivery of three would fit.
            assert await hand(emails([TO[0]], TO[1:3], subject="mixed")) == 0
            await asyncio.sleep(0.3)  # it claims nothing: the rest waits for a worker
        subjects = sorted(str(m.message()["Subject"]) for m in smtp.messages)
        assert subjects == ["pair 0", "pair 1", "three 0", "three 1"]
        assert store.counts()[Status.QUEUED] == 5 + 1 + 3


async def test_standing_in_it_claims_the_queue_until_told_to_stop(store: Store) -> None:
    # Serve's engine while none of its delivery processes runs (tocsin.deploy.workers).
    with ThreadedSMTPTestServer() as smtp:
        settings = smtp_settings(smtp.port)
        journal = Journal()
        # Its naps last 30 s: only stand_in()'s wake-up starts the claims in time.
        options = fast_options(claims=False, settings_interval=30.0)
        engine = DeliveryEngine(store, lambda: settings, on_sent=journal, options=options)
        async with running(engine, taking=True):
            first = enqueue(store, TO[0], subject="queued while a worker runs")
            await asyncio.sleep(0.5)
            assert journal.sends == []
            assert not engine.claiming
            engine.stand_in(True)
            assert engine.claiming
            await eventually(lambda: _owners(journal) == {first}, what="the queued email")
            engine.stand_in(False)  # a worker runs again: the queue is its
            await asyncio.sleep(0.5)  # the claim loop is back in its nap
            later = enqueue(store, TO[1], subject="queued once a worker runs again")
            await asyncio.sleep(0.5)
            assert _owners(journal) == {first}
            assert statuses(store, later) == {TO[1]: Status.QUEUED}
        assert [str(m.message()["Subject"]) for m in smtp.messages] == [
            "queued while a worker runs"
        ]


async def test_new_mail_does_not_make_it_read_the_queue(store: Store) -> None:
    # Serve's intake wakes the engine at each enqueue it does not hand over (and on
    # PostgreSQL every other process's enqueue does too).  New mail is not overdue: an
    # engine that leaves the queue to others reads the queue's earliest due time once
    # a settings interval, not once a request.
    real_next_due = store.next_due
    looks: list[float] = []

    def next_due() -> float | None:
        looks.append(time.monotonic())
        return real_next_due()

    store.next_due = next_due  # type: ignore[method-assign]
    with ThreadedSMTPTestServer() as smtp:
        settings = smtp_settings(smtp.port)
        options = fast_options(claims=False, settings_interval=30.0)
        engine = DeliveryEngine(store, lambda: settings, options=options)
        async with running(engine, taking=True):
            await eventually(lambda: looks, what="the first look at the queue")
            before = len(looks)
            for i in range(20):
                await asyncio.to_thread(enqueue, store, TO[0], subject=f"queued {i}")
                engine.wake()
                await asyncio.sleep(0.02)
            assert len(looks) == before, f"{len(looks) - before} looks for 20 enqueues"
            assert not engine.claiming
            engine.stand_in(True)  # still ends the nap at once
            await eventually(lambda: store.counts()[Status.SENT] == 20, what="the sends")
        assert len(smtp.messages) == 20


async def test_mail_overdue_for_the_claimers_is_claimed_after_all(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    # Due for two minutes, and the engines that claim have not taken it (hung, or far
    # behind): the engine that leaves the queue to them sends it, and says so.
    with ThreadedSMTPTestServer() as smtp:
        settings = smtp_settings(smtp.port)
        journal = Journal()
        engine = DeliveryEngine(
            store, lambda: settings, on_sent=journal, options=fast_options(claims=False)
        )
        assert engine.options.overdue_after == 30.0
        async with running(engine, taking=True):
            late = enqueue(store, TO[0], subject="left behind", now=time.time() - 120)
            await eventually(lambda: _owners(journal) == {late}, what="the overdue email")
            assert not engine.claiming  # it only helped out
        assert "mail has been due for over 30 s" in caplog.text
        assert [str(m.message()["Subject"]) for m in smtp.messages] == ["left behind"]


async def test_a_failing_look_at_the_queue_claims_nothing_and_is_logged(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    # The look for overdue mail fails (the database unreadable for a while): the engine
    # says so, claims nothing on a guess, keeps running, and claims once it reads again.
    real_next_due = store.next_due
    failing = threading.Event()
    failing.set()

    def next_due() -> float | None:
        if failing.is_set():
            raise OSError("disk I/O error (a test's)")
        return real_next_due()

    store.next_due = next_due  # type: ignore[method-assign]
    with ThreadedSMTPTestServer() as smtp:
        settings = smtp_settings(smtp.port)
        journal = Journal()
        engine = DeliveryEngine(
            store, lambda: settings, on_sent=journal, options=fast_options(claims=False)
        )
        async with running(engine, taking=True):
            late = enqueue(store, TO[0], subject="left behind", now=time.time() - 120)
            await eventually(
                lambda: "reading the queue failed" in caplog.text, what="the failure logged"
            )
            await asyncio.sleep(0.3)  # six settings rounds, each failing to look
            assert journal.sends == []
            assert store.counts()[Status.QUEUED] == 1
            failing.clear()
            await eventually(lambda: _owners(journal) == {late}, what="the overdue email")
        assert "disk I/O error (a test's)" in caplog.text


def test_a_claim_with_nothing_due_never_waits_for_the_write_lock(
    sqlite_store: Store,
) -> None:
    # Another process in a write transaction (the intake of serve committing an event):
    # an idle engine's poll must not queue behind it, nor make it wait in turn.
    assert isinstance(sqlite_store, SQLiteStore)
    enqueue(sqlite_store, TO[0], subject="not due yet", now=4_000_000_000.0)
    writer = sqlite3.connect(sqlite_store.path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    found: list[list[ClaimedEmail]] = []
    claim = threading.Thread(
        target=lambda: found.append(
            sqlite_store.claim(owner="poll", now=1_000.0, limit=10, lease=60.0)
        )
    )
    try:
        claim.start()
        claim.join(5.0)  # without looking first it waits (busy_timeout: 30 s)
        assert not claim.is_alive()
        assert found == [[]]
    finally:
        writer.execute("ROLLBACK")
        writer.close()
        claim.join(40.0)


def test_a_claim_with_mail_due_still_claims_it(sqlite_store: Store) -> None:
    assert isinstance(sqlite_store, SQLiteStore)
    email_id = enqueue(sqlite_store, TO[0], subject="due")
    (claimed,) = sqlite_store.claim(owner="poll", now=4_000_000_000.0, limit=10, lease=60.0)
    assert claimed.email_id == email_id
    other = open_store(sqlite_store.path)  # the lease is in the file, for every process
    try:
        assert other.counts()[Status.SENDING] == 1
    finally:
        other.close()
