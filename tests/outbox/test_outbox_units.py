"""Back-off, verdicts, priority, metrics, the service and the engine's stop, above the wire."""

from __future__ import annotations

import asyncio
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from outbox_support import Journal, all_done, enqueue, eventually, fast_options, mail, running

from tocsin.errors import AuthFailed, ConnectFailed, MessageRejected, Reason, Step
from tocsin.message import Mail
from tocsin.outbox import (
    ClaimedDelivery,
    ClaimedEmail,
    DeliveryEngine,
    DeliveryUpdate,
    OutboxMetrics,
    Priority,
    RetryPolicy,
    Status,
    priority_for,
)
from tocsin.outbox.verdict import judge_error, judge_result
from tocsin.services.outbox import EmailNotFound, OutboxService
from tocsin.settings import EmailSettings
from tocsin.store import Store
from tocsin.transports.base import (
    DeliveryResult,
    MockTransport,
    Outcome,
    RecipientResult,
    accept_all,
)

SETTINGS = EmailSettings(enabled=True, sender_address="alarm@example.com", host="mx.example.com")


@given(
    attempts=st.integers(min_value=1, max_value=10_000),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_backoff_grows_to_the_cap_with_bounded_jitter(attempts: int, seed: int) -> None:
    policy = RetryPolicy(first=5, factor=2, cap=900, jitter=0.3)
    spread = policy.spread(random.Random(seed))
    assert 0.7 <= spread <= 1.0
    delay = policy.delay(attempts, spread)
    ideal = min(900.0, 5.0 * 2.0 ** min(attempts - 1, 64))
    assert ideal * 0.7 <= delay <= ideal
    assert policy.delay(1) == 5.0  # the first retry comes within seconds


def test_the_last_attempt_is_at_the_maximum_age_then_dead() -> None:
    policy = RetryPolicy(first=600, cap=600, jitter=0, max_age=3600)
    assert policy.next_attempt(attempts=1, queued_at=0, now=100) == 700
    assert policy.next_attempt(attempts=9, queued_at=0, now=3500) == 3600
    assert policy.next_attempt(attempts=10, queued_at=0, now=3600) is None
    with pytest.raises(ValueError, match="jitter"):
        RetryPolicy(jitter=1.0)


def test_priorities_put_fire_and_sabotage_first() -> None:
    assert priority_for("fire", "alarm") is Priority.FIRE
    assert priority_for("sabotage", "alarm") is Priority.FIRE
    assert priority_for("armed", "alarm") is Priority.ALARM
    assert priority_for("always", "warning") is Priority.WARNING
    assert priority_for("system", "warning") is Priority.SYSTEM
    assert Priority.FIRE < Priority.ALARM < Priority.WARNING < Priority.SYSTEM


def _claimed(*recipients: str, attempts: int = 0) -> ClaimedEmail:
    m = mail(*recipients)
    deliveries = tuple(ClaimedDelivery(i, r, attempts, 0.0) for i, r in enumerate(recipients))
    return ClaimedEmail(1, m.sender, m.content, m.message_id, False, 10, deliveries)


def test_verdicts_for_each_kind_of_answer() -> None:
    policy = RetryPolicy(first=10, cap=10, jitter=0, max_age=100)
    email = _claimed("a@example.net", "b@example.net", "c@example.net", "d@example.net")
    result = DeliveryResult(
        (
            RecipientResult("a@example.net", Outcome.ACCEPTED, code=250, server_message="ok"),
            RecipientResult("b@example.net", Outcome.PERMANENT, Reason.RECIPIENT_REJECTED,
                            Step.RCPT_TO, 550, "unknown"),
            RecipientResult("c@example.net", Outcome.TEMPORARY, Reason.RECIPIENT_DEFERRED,
                            Step.RCPT_TO, 451, "later"),
            RecipientResult("d@example.net", Outcome.PERMANENT, Reason.AUTH_REQUIRED,
                            Step.RCPT_TO, 530, "auth first"),
        ),
        "250 2.0.0 queued as X1",
    )  # fmt: skip
    verdict = judge_result(email, result, now=50, policy=policy)
    a, b, c, d = verdict.updates
    assert (a.status, a.server_reply) == (Status.SENT, "250 2.0.0 queued as X1")
    assert (b.status, b.reason, b.code, b.error) == (
        Status.FAILED,
        "recipient_rejected",
        550,
        "rcpt_to: 550 unknown",
    )
    assert (c.status, c.next_attempt_at, c.spent) == (Status.QUEUED, 60, True)
    assert (d.status, d.spent, d.reason) == (Status.QUEUED, False, "auth_required")
    assert isinstance(verdict.pause, AuthFailed)
    late = judge_result(email, result, now=100, policy=policy)
    assert late.updates[2].status is Status.DEAD
    assert "given up after 1 attempts" in late.updates[2].error


def test_verdicts_name_the_link_and_a_send_that_went_out_draws_no_jitter() -> None:
    policy = RetryPolicy()
    email = _claimed("a@example.net", "b@example.net")
    result = DeliveryResult(
        (
            RecipientResult("a@example.net", Outcome.ACCEPTED, code=250, server_message="ok"),
            RecipientResult("b@example.net", Outcome.TEMPORARY, Reason.RECIPIENT_DEFERRED,
                            Step.RCPT_TO, 451, "later"),
        ),
        "250 ok",
    )  # fmt: skip
    outcomes = [
        judge_result(email, result, now=0, policy=policy, link="backup-1"),
        judge_error(email, ConnectFailed("gone", step=Step.DATA, reason=Reason.DISCONNECTED),
                    now=0, policy=policy, link="backup-1"),
        judge_error(email, AuthFailed("no", step=Step.AUTH, reason=Reason.AUTH_FAILED),
                    now=0, policy=policy, link="backup-1"),
        judge_error(email, MessageRejected("no", step=Step.DATA, reason=Reason.MESSAGE_REJECTED),
                    now=0, policy=policy, link="backup-1"),
    ]  # fmt: skip
    assert {u.link for verdict in outcomes for u in verdict.updates} == {"backup-1"}
    # All accepted: the random retry factor is not drawn (one per send, only for retries).
    rng = random.Random(7)
    before = rng.getstate()
    accepted = DeliveryResult(
        tuple(RecipientResult(r, Outcome.ACCEPTED, code=250) for r in ("a@example.net",)), "250"
    )
    judge_result(_claimed("a@example.net"), accepted, now=0, policy=policy, rng=rng)
    assert rng.getstate() == before
    judge_result(email, result, now=0, policy=policy, rng=rng)  # b is retried: one draw
    assert rng.getstate() != before


def test_verdicts_for_errors() -> None:
    policy = RetryPolicy()
    email = _claimed("a@example.net", "b@example.net")
    drop = ConnectFailed("gone", step=Step.DATA, reason=Reason.DISCONNECTED)
    retry = judge_error(email, drop, now=0, policy=policy, rng=random.Random(1))
    assert {u.status for u in retry.updates} == {Status.QUEUED}
    assert len({u.next_attempt_at for u in retry.updates}) == 1  # retried together
    big = MessageRejected("no", step=Step.MAIL_FROM, reason=Reason.MESSAGE_REJECTED, code=552)
    assert {u.status for u in judge_error(email, big, now=0, policy=policy).updates} == {
        Status.FAILED
    }
    auth = AuthFailed("no", step=Step.AUTH, reason=Reason.AUTH_FAILED, code=535)
    paused = judge_error(email, auth, now=7, policy=policy)
    assert paused.pause is auth
    assert all(not u.spent and u.next_attempt_at == 7 for u in paused.updates)
    bug = judge_error(email, KeyError("x"), now=0, policy=policy)
    assert {u.reason for u in bug.updates} == {"internal_error"}
    assert {u.status for u in bug.updates} == {Status.QUEUED}


async def test_a_fire_alarm_overtakes_a_backlog(sqlite_store: Store) -> None:
    order: list[str] = []

    async def slow(m: Mail) -> DeliveryResult:
        order.append(m.recipients[0])
        await asyncio.sleep(0.001)
        return accept_all(m)

    for i in range(30):
        enqueue(sqlite_store, f"w{i}@example.net", priority=Priority.WARNING)
    enqueue(sqlite_store, "fire@example.net", priority=Priority.FIRE)
    engine = DeliveryEngine(
        sqlite_store,
        lambda: SETTINGS,
        options=fast_options(batch_size=10, max_connections=1),
        transport_factory=lambda _s: MockTransport(slow),
    )
    async with running(engine):
        await eventually(lambda: all_done(sqlite_store))
    assert order[0] == "fire@example.net"
    assert len(order) == 31


async def test_stop_gives_back_unsent_claims_and_metrics_count(sqlite_store: Store) -> None:
    release = asyncio.Event()

    async def stuck(m: Mail) -> DeliveryResult:
        await release.wait()
        return accept_all(m)

    for i in range(5):
        enqueue(sqlite_store, f"r{i}@example.net")
    metrics = OutboxMetrics(sqlite_store)
    journal = Journal()
    engine = DeliveryEngine(
        sqlite_store,
        lambda: SETTINGS,
        options=fast_options(max_connections=1),
        transport_factory=lambda _s: MockTransport(stuck),
        metrics=metrics,
        on_sent=journal,
    )
    async with running(engine):
        await eventually(lambda: sqlite_store.counts()[Status.SENDING] == 5)
        release.set()
        await eventually(lambda: journal.sends)
    counts = sqlite_store.counts()
    assert counts[Status.SENDING] == 0  # nothing left leased by a stopped engine
    assert counts[Status.SENT] + counts[Status.QUEUED] == 5
    text = metrics.exposition().decode()
    assert f'tocsin_outbox_deliveries{{status="sent"}} {float(counts[Status.SENT])}' in text
    assert f"tocsin_outbox_sent_total {float(counts[Status.SENT])}" in text
    assert "tocsin_outbox_send_seconds_count" in text
    assert "tocsin_outbox_oldest_queued_age_seconds" in text


def test_service_list_show_retry_purge(sqlite_store: Store) -> None:
    clock = [1_700_000_000.0]
    service = OutboxService(sqlite_store, clock=lambda: clock[0])
    woken: list[bool] = []
    service.on_enqueue = lambda: woken.append(True)
    email_id = service.enqueue(mail("a@example.net"), Priority.FIRE)
    assert woken == [True]
    assert [d.recipient for d in service.list(recipient="A@EXAMPLE")] == ["a@example.net"]
    assert service.list(older_than=60) == []
    (claimed,) = sqlite_store.claim(owner="w", now=clock[0], limit=5, lease=60)
    sqlite_store.record(
        [DeliveryUpdate(claimed.deliveries[0].id, Status.DEAD, reason="timeout")],
        owner="w",
        now=clock[0],
    )
    assert service.retry(email_id) == 1
    assert service.show(email_id).deliveries[0].status is Status.QUEUED
    with pytest.raises(EmailNotFound):
        service.show(email_id + 1)
    with pytest.raises(ValueError, match="finished"):
        service.purge(older_than_days=1, statuses=[Status.QUEUED])
    clock[0] += 3 * 86400
    assert service.purge(older_than_days=1) == 0  # still queued: never purged
    assert service.counts()[Status.QUEUED] == 1
