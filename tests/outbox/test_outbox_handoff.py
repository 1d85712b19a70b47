"""The outbox side of the hand-off (:mod:`tocsin.outbox.handoff`), on both backends: what
happens to leased rows when their commit fails, when its answer is lost, and when the
engine stops between the lease and the landing.  Real stores, a real engine, aiosmtpd."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

import pytest
from outbox_support import PG_URL, eventually, fast_options, mail, smtp_settings

from tocsin.outbox import ClaimedEmail, DeliveryEngine, NewEmail, Status
from tocsin.outbox.handoff import HandoffTicket
from tocsin.store import Store, open_store
from tocsin.store.postgres import PostgresStore
from tocsin.testing import ThreadedSMTPTestServer

TO = "ops@example.net"
OWNER = "handoff-test:1"


def _second_connection(store: Store) -> Store:
    """The "intake" side with a connection of its own, as in ``serve`` under load."""
    if isinstance(store, PostgresStore):
        return PostgresStore(PG_URL, schema=store.schema, migrate=False)
    return open_store(store.path)  # type: ignore[attr-defined]


def _row(store: Store, email_id: int) -> tuple[Status, str | None]:
    view = store.get_email(email_id)
    assert view is not None
    (d,) = view.deliveries
    return d.status, d.lease_owner


def _enqueue(store: Store, ticket: HandoffTicket, subject: str) -> int:
    with store.transaction() as tx, ticket.attached(tx):
        return tx.enqueue(NewEmail.of(mail(TO, subject=subject)))


def _enqueue_then_fail(store: Store, ticket: HandoffTicket | _AlwaysLease) -> None:
    with store.transaction() as tx:
        tx.handoff = ticket
        tx.enqueue(NewEmail.of(mail(TO, subject="rolled back")))
        raise RuntimeError("the request failed after its enqueue")


async def test_a_failed_commit_gives_the_room_back_and_stores_nothing(store: Store) -> None:
    with ThreadedSMTPTestServer() as smtp:
        settings = smtp_settings(smtp.port)
        # batch_size 2: room for one delivery in hand, so a leaked reservation shows.
        engine = DeliveryEngine(
            store, lambda: settings, options=fast_options(poll_interval=30.0, batch_size=2)
        )
        stop = asyncio.Event()
        task = asyncio.create_task(engine.run(stop))
        try:
            await eventually(lambda: engine.taking() is not None, what="the engine to run")
            ticket = engine.handoff.ticket()
            with pytest.raises(RuntimeError, match="failed after"):
                _enqueue_then_fail(store, ticket)
            assert ticket.emails  # leased ...
            ticket.abandon(store)  # ... and given back
            assert sum(store.counts().values()) == 0
            second = engine.handoff.ticket()
            email_id = await asyncio.to_thread(_enqueue, store, second, "next")
            assert second.emails, "the failed ticket's reservation was never given back"
            assert not second.deliver()
            await eventually(lambda: len(smtp.messages) == 1, what="the next email")
            await eventually(lambda: _row(store, email_id)[0] is Status.SENT, what="record")
        finally:
            stop.set()
            await asyncio.wait_for(task, 20)
        assert [m.message().get("Subject") for m in smtp.messages] == ["next"]


async def test_a_commit_whose_answer_was_lost_is_given_back_and_sent_once(store: Store) -> None:
    with ThreadedSMTPTestServer() as smtp:
        settings = smtp_settings(smtp.port)
        engine = DeliveryEngine(store, lambda: settings, options=fast_options(poll_interval=0.1))
        stop = asyncio.Event()
        task = asyncio.create_task(engine.run(stop))
        try:
            await eventually(lambda: engine.taking() is not None, what="the engine to run")
            ticket = engine.handoff.ticket()
            email_id = await asyncio.to_thread(_enqueue, store, ticket, "stored after all")
            assert _row(store, email_id) == (Status.SENDING, engine.owner)
            # The caller saw the commit fail (a connection lost in COMMIT): it abandons.
            ticket.abandon(store)
            assert _row(store, email_id) == (Status.QUEUED, None)  # not renewed for ever
            await eventually(lambda: len(smtp.messages) == 1, what="the claimed email")
            await eventually(lambda: _row(store, email_id)[0] is Status.SENT, what="record")
            await asyncio.sleep(0.3)
        finally:
            stop.set()
            await asyncio.wait_for(task, 20)
        assert len(smtp.messages) == 1


async def test_give_back_never_touches_another_emails_row(store: Store) -> None:
    """A rolled-back hand-off's ids may be reused (SQLite): only its own Message-ID matches."""
    ghost, later = _AlwaysLease(), _AlwaysLease()
    with pytest.raises(RuntimeError, match="failed after"):
        _enqueue_then_fail(store, ghost)
    with store.transaction() as tx:
        tx.handoff = later
        email_id = tx.enqueue(NewEmail.of(mail(TO, subject="a later email")))
    store.give_back(ghost.handed_emails, owner=OWNER, now=time.time())
    assert _row(store, email_id) == (Status.SENDING, OWNER)
    store.give_back(later.handed_emails, owner=OWNER, now=time.time())  # its own: matches
    assert _row(store, email_id) == (Status.QUEUED, None)


class _AlwaysLease:
    """A hand-off that leases everything (to write leased rows without an engine)."""

    owner = OWNER

    def __init__(self) -> None:
        self.handed_emails: list[ClaimedEmail] = []

    def lease(self, deliveries: Sequence[int], at: float) -> list[float | None]:
        return [time.time() + 60 for _ in deliveries]

    def handed(self, email: ClaimedEmail) -> None:
        self.handed_emails.append(email)

    def queued(self) -> None:
        raise AssertionError("everything is leased here")


async def test_an_engine_stopping_before_the_landing_gives_the_rows_back(store: Store) -> None:
    intake = _second_connection(store)
    leased, go = threading.Event(), threading.Event()
    with ThreadedSMTPTestServer() as smtp:
        settings = smtp_settings(smtp.port)
        engine = DeliveryEngine(store, lambda: settings, options=fast_options(poll_interval=30.0))
        stop = asyncio.Event()
        task = asyncio.create_task(engine.run(stop))
        try:
            await eventually(lambda: engine.taking() is not None, what="the engine to run")
            ticket = engine.handoff.ticket()

            def commit() -> int:
                with intake.transaction() as tx, ticket.attached(tx):
                    email_id = tx.enqueue(NewEmail.of(mail(TO, subject="late landing")))
                    leased.set()
                    go.wait(10)
                assert not ticket.deliver()  # lands on a stopping engine
                return email_id

            committing = asyncio.create_task(asyncio.to_thread(commit))
            await asyncio.to_thread(leased.wait, 10)
            stop.set()  # the engine stops between the lease and the landing
            await eventually(lambda: engine.taking() is None, what="the engine to stop taking")
            await asyncio.sleep(0.2)
            assert not task.done()  # it waits for the ticket it leased to
            go.set()
            email_id = await committing
            await asyncio.wait_for(task, 20)
            assert _row(store, email_id) == (Status.QUEUED, None)  # given back, due
            assert smtp.messages == []
            # The next run sends it, once.
            engine = DeliveryEngine(store, lambda: settings, options=fast_options())
            stop = asyncio.Event()
            task = asyncio.create_task(engine.run(stop))
            await eventually(lambda: len(smtp.messages) == 1, what="the given-back email")
            await eventually(lambda: _row(store, email_id)[0] is Status.SENT, what="record")
        finally:
            go.set()
            stop.set()
            await asyncio.wait_for(task, 20)
            intake.close()
        assert len(smtp.messages) == 1
