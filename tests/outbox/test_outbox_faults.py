"""The engine against scripted SMTP servers: every fault ends in the right status, retry
schedule and recorded reason, and no accepting recipient ever gets a message twice."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import replace

import pytest
from outbox_support import (
    FAST_RETRY,
    Journal,
    all_done,
    enqueue,
    eventually,
    fast_options,
    recipients_of,
    running,
    smtp_settings,
    statuses,
)

from tocsin.errors import ConfigurationProblem
from tocsin.outbox import DeliveryEngine, DeliveryView, RetryPolicy, Status
from tocsin.secret import Secret
from tocsin.settings import EmailSettings, Encryption
from tocsin.store import Store
from tocsin.testing import SMTPTestServer

A, B = "a@example.net", "b@example.net"


def no_duplicates(srv: SMTPTestServer) -> None:
    """Each (Message-ID, recipient) pair reached the server at most once."""
    pairs = Counter((m.message().get("Message-ID"), r) for m in srv.messages for r in m.rcpt_tos)
    assert max(pairs.values(), default=1) == 1, pairs


def engine_for(
    store: Store, settings: EmailSettings, journal: Journal, **options: object
) -> DeliveryEngine:
    return DeliveryEngine(store, lambda: settings, options=fast_options(**options), on_sent=journal)


def deliveries(store: Store, email_id: int) -> dict[str, DeliveryView]:
    view = store.get_email(email_id)
    assert view is not None
    return {d.recipient: d for d in view.deliveries}


def assert_retry_scheduled(journal: Journal, recipient: str, policy: RetryPolicy) -> None:
    """The first verdict for ``recipient`` queued it again within the first back-off."""
    for email, verdict, _, at in journal.sends:
        for d, update in zip(email.deliveries, verdict.updates, strict=True):
            if d.recipient == recipient and update.status is Status.QUEUED:
                assert update.next_attempt_at is not None
                wait = update.next_attempt_at - at
                assert policy.first * (1 - policy.jitter) - 0.05 <= wait <= policy.first + 0.01
                assert update.spent
                return
    raise AssertionError(f"no retry was scheduled for {recipient}")


async def test_one_message_for_all_recipients_and_the_queue_id_kept(sqlite_store: Store) -> None:
    journal = Journal()
    async with SMTPTestServer() as srv:
        email_id = enqueue(sqlite_store, A, B)
        async with running(engine_for(sqlite_store, smtp_settings(srv.port), journal)):
            await eventually(lambda: all_done(sqlite_store), what="delivery")
    assert statuses(sqlite_store, email_id) == {A: Status.SENT, B: Status.SENT}
    assert recipients_of(srv.messages) == [(A, B)]  # rendered once, one transaction
    view = sqlite_store.get_email(email_id, content=True)
    assert view is not None
    assert view.content is not None
    assert srv.messages[0].raw.replace(b"\r\n", b"\n") == view.content.replace(b"\r\n", b"\n")
    assert all(d.server_reply == "250 2.0.0 OK queued" for d in view.deliveries)
    assert all(d.attempts == 1 for d in view.deliveries)


async def test_421_at_connect_is_retried_after_a_back_off(sqlite_store: Store) -> None:
    journal = Journal()
    async with SMTPTestServer() as srv:
        srv.faults.reply_at("connect", "421 4.3.2 too busy, come back later", times=1)
        email_id = enqueue(sqlite_store, A)
        async with running(engine_for(sqlite_store, smtp_settings(srv.port), journal)):
            await eventually(lambda: all_done(sqlite_store), what="delivery")
        no_duplicates(srv)
    first = journal.updates()[0]
    assert (first.status, first.step, first.reason, first.code) == (
        Status.QUEUED,
        "connect",
        "server_busy",
        421,
    )
    assert_retry_scheduled(journal, A, FAST_RETRY)
    assert statuses(sqlite_store, email_id) == {A: Status.SENT}
    assert deliveries(sqlite_store, email_id)[A].attempts == 2
    assert len(srv.messages) == 1


async def test_451_at_rcpt_retries_only_that_recipient(sqlite_store: Store) -> None:
    journal = Journal()
    async with SMTPTestServer() as srv:
        srv.faults.reply_at("rcpt", "451 4.2.0 mailbox busy", recipient=B, times=1)
        email_id = enqueue(sqlite_store, A, B)
        async with running(engine_for(sqlite_store, smtp_settings(srv.port), journal)):
            await eventually(lambda: all_done(sqlite_store), what="delivery")
        no_duplicates(srv)
    assert recipients_of(srv.messages) == [(A,), (B,)]
    by = deliveries(sqlite_store, email_id)
    assert (by[A].status, by[A].attempts) == (Status.SENT, 1)
    assert (by[B].status, by[B].attempts) == (Status.SENT, 2)
    first_b = next(u for u in journal.updates() if u.delivery_id == by[B].id)
    assert (first_b.reason, first_b.step, first_b.code) == ("recipient_deferred", "rcpt_to", 451)
    assert_retry_scheduled(journal, B, FAST_RETRY)


async def test_552_at_data_fails_at_once(sqlite_store: Store) -> None:
    journal = Journal()
    async with SMTPTestServer() as srv:
        srv.faults.reply_at("data_end", "552 5.3.4 message too big for policy")
        email_id = enqueue(sqlite_store, A, B)
        async with running(engine_for(sqlite_store, smtp_settings(srv.port), journal)):
            await eventually(lambda: all_done(sqlite_store), what="a verdict")
        assert srv.messages == []
    by = deliveries(sqlite_store, email_id)
    for d in by.values():
        assert (d.status, d.attempts, d.last_step, d.last_reason, d.last_code) == (
            Status.FAILED,
            1,
            "data",
            "message_rejected",
            552,
        )
        assert "message too big" in d.last_error
    assert len(journal.sends) == 1  # never retried


async def test_one_of_two_recipients_refused(sqlite_store: Store) -> None:
    journal = Journal()
    async with SMTPTestServer() as srv:
        srv.faults.reply_at("rcpt", "550 5.1.1 no such user", recipient=B)
        email_id = enqueue(sqlite_store, A, B)
        async with running(engine_for(sqlite_store, smtp_settings(srv.port), journal)):
            await eventually(lambda: all_done(sqlite_store), what="a verdict")
        no_duplicates(srv)
    assert recipients_of(srv.messages) == [(A,)]
    by = deliveries(sqlite_store, email_id)
    assert by[A].status is Status.SENT
    assert (by[B].status, by[B].last_reason, by[B].last_code) == (
        Status.FAILED,
        "recipient_rejected",
        550,
    )
    assert "no such user" in by[B].last_error


async def test_connection_dropped_during_data_is_retried(sqlite_store: Store) -> None:
    journal = Journal()
    async with SMTPTestServer() as srv:
        srv.faults.drop_during_data(after_lines=3, times=1)
        email_id = enqueue(sqlite_store, A, B)
        async with running(engine_for(sqlite_store, smtp_settings(srv.port), journal)):
            await eventually(lambda: all_done(sqlite_store), what="delivery")
        no_duplicates(srv)
    first = journal.updates()[0]
    assert (first.status, first.step, first.reason) == (Status.QUEUED, "data", "disconnected")
    assert_retry_scheduled(journal, A, FAST_RETRY)
    assert statuses(sqlite_store, email_id) == {A: Status.SENT, B: Status.SENT}
    assert recipients_of(srv.messages) == [(A, B)]


async def test_a_server_slower_than_the_deadline_times_out_and_is_retried(
    sqlite_store: Store,
) -> None:
    journal = Journal()
    settings = smtp_settings(0, timeout=1.0, deadline=1.0)
    async with SMTPTestServer() as srv:
        srv.faults.delay("mail", 3.0, times=1)  # before any recipient: cannot duplicate
        email_id = enqueue(sqlite_store, A)
        engine = engine_for(sqlite_store, replace(settings, port=srv.port), journal)
        async with running(engine):
            await eventually(lambda: all_done(sqlite_store), what="delivery", timeout=15)
        no_duplicates(srv)
    first = journal.updates()[0]
    assert (first.status, first.reason) == (Status.QUEUED, "timeout")
    assert 0.9 <= journal.sends[0][2] <= 2.5  # the attempt was cut at the deadline
    assert statuses(sqlite_store, email_id) == {A: Status.SENT}
    assert len(srv.messages) == 1


async def test_too_old_becomes_dead_with_the_reason(sqlite_store: Store) -> None:
    journal = Journal()
    policy = RetryPolicy(first=0.05, cap=0.1, jitter=0.0, max_age=0.6)
    async with SMTPTestServer() as srv:
        srv.faults.reply_at("mail", "451 4.3.0 queue full")
        email_id = enqueue(sqlite_store, A)
        engine = engine_for(sqlite_store, smtp_settings(srv.port), journal, retry=policy)
        async with running(engine):
            await eventually(lambda: all_done(sqlite_store), what="dead", timeout=10)
    d = deliveries(sqlite_store, email_id)[A]
    assert (d.status, d.last_reason, d.last_code) == (Status.DEAD, "sender_deferred", 451)
    assert "given up" in d.last_error
    assert d.attempts >= 3
    assert d.updated_at - d.queued_at >= 0.6


async def test_auth_refused_pauses_without_spending_attempts_then_resumes(
    sqlite_store: Store,
) -> None:
    journal = Journal()
    paused: list[ConfigurationProblem] = []
    async with SMTPTestServer(tls="starttls", username="tocsin", password="right") as srv:
        current = smtp_settings(
            srv.port,
            host="localhost",
            encryption=Encryption.STARTTLS,
            ca_file=str(srv.ca.ca_path),
            username="tocsin",
            password=Secret("wrong"),
        )
        settings = {"now": current}
        engine = DeliveryEngine(
            sqlite_store,
            lambda: settings["now"],
            options=fast_options(),
            on_pause=paused.append,
            on_sent=journal,
        )
        first = enqueue(sqlite_store, A)
        async with running(engine):
            await eventually(lambda: engine.paused and engine.paused.reason == "auth_failed")
            second = enqueue(sqlite_store, B)
            engine.wake()
            held = await eventually(
                lambda: (d := deliveries(sqlite_store, first)[A]).last_reason and d,
                what="the held delivery recorded",
            )
            assert (held.status, held.attempts, held.last_reason) == (
                Status.QUEUED,
                0,
                "auth_failed",
            )
            auth_tries = sum(c.upper().startswith("AUTH") for c in srv.commands)
            assert auth_tries == 1  # paused: no more logins with the wrong password
            settings["now"] = replace(current, password=Secret("right"))
            await eventually(lambda: all_done(sqlite_store), what="resumed delivery")
        assert [type(p).__name__ for p in paused] == ["AuthFailed"]
        assert sorted(recipients_of(srv.messages)) == [(A,), (B,)]
        assert all(m.login == "tocsin" for m in srv.messages)
    assert deliveries(sqlite_store, first)[A].attempts == 1
    assert deliveries(sqlite_store, second)[B].attempts == 1


async def test_disabled_email_sends_nothing_until_enabled(sqlite_store: Store) -> None:
    journal = Journal()
    async with SMTPTestServer() as srv:
        settings = {"now": smtp_settings(srv.port, enabled=False)}
        engine = DeliveryEngine(
            sqlite_store, lambda: settings["now"], options=fast_options(), on_sent=journal
        )
        email_id = enqueue(sqlite_store, A)
        async with running(engine):
            await eventually(lambda: engine.paused and engine.paused.reason == "disabled")
            await asyncio.sleep(0.3)
            assert srv.connections == 0
            assert statuses(sqlite_store, email_id) == {A: Status.QUEUED}
            settings["now"] = replace(settings["now"], enabled=True)
            await eventually(lambda: all_done(sqlite_store), what="delivery")
        assert len(srv.messages) == 1


@pytest.mark.parametrize("fault", ["dead", "kept"])
async def test_an_expired_lease_makes_the_delivery_due_again(
    sqlite_store: Store, fault: str
) -> None:
    journal = Journal()
    async with SMTPTestServer() as srv:
        email_id = enqueue(sqlite_store, A)
        lease = 0.3 if fault == "dead" else 60
        assert sqlite_store.claim(owner="crashed-worker", now=time.time(), limit=10, lease=lease)
        async with running(engine_for(sqlite_store, smtp_settings(srv.port), journal)):
            if fault == "dead":
                await eventually(lambda: all_done(sqlite_store), what="delivery after expiry")
            else:
                await asyncio.sleep(0.5)
        if fault == "dead":
            assert statuses(sqlite_store, email_id) == {A: Status.SENT}
            assert len(srv.messages) == 1
        else:
            assert statuses(sqlite_store, email_id) == {A: Status.SENDING}
            assert srv.messages == []
