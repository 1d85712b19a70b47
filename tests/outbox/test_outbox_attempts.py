"""Each delivery attempt in the delivery log: the engine's outcomes against a real SMTP
test server, kept per attempt (SQLite and PostgreSQL), at most 20 per delivery, never
for an outcome whose lease was lost, and gone with their delivery."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from outbox_support import all_done, enqueue, eventually, fast_options, running, smtp_settings

from tocsin.outbox import DeliveryEngine, DeliveryUpdate, Status
from tocsin.store import Store
from tocsin.store.attempts_sql import KEEP
from tocsin.testing import SMTPTestServer

A = "a@example.net"
NOW = 1_700_000_000.0


async def test_two_deferrals_then_sent_are_three_attempts_with_their_answers(
    store: Store,
) -> None:
    async with SMTPTestServer() as srv:
        srv.faults.reply_at("rcpt", "451 4.2.0 mailbox busy", times=2)
        email_id = enqueue(store, A)
        engine = DeliveryEngine(store, lambda: smtp_settings(srv.port), options=fast_options())
        async with running(engine):
            await eventually(lambda: all_done(store), what="delivery")
    view = store.get_email(email_id)
    assert view is not None
    (delivery,) = view.deliveries
    history = [(a.attempt, a.status, a.step, a.code) for a in delivery.history]
    assert history == [
        (1, Status.QUEUED, "rcpt_to", 451),
        (2, Status.QUEUED, "rcpt_to", 451),
        (3, Status.SENT, delivery.last_step, 250),
    ]
    answers = [a.answer for a in delivery.history]
    assert all(a.endswith("451 4.2.0 mailbox busy") for a in answers[:2]), answers
    assert answers[2] == delivery.server_reply == "250 2.0.0 OK queued"
    assert [a.reason for a in delivery.history][:2] == ["recipient_deferred"] * 2
    times = [a.at for a in delivery.history]
    assert times == sorted(times)
    assert times[-1] == delivery.updated_at


def _fail(store: Store, delivery_id: int, n: int, *, owner: str = "w") -> None:
    """Claim the delivery and record a temporary failure number ``n`` as ``owner``."""
    (claimed,) = store.claim(owner="w", now=NOW + n, limit=1, lease=60)
    assert claimed.deliveries[0].id == delivery_id
    update = DeliveryUpdate(
        delivery_id, Status.QUEUED, next_attempt_at=NOW + n, step="rcpt_to",
        reason="recipient_deferred", code=451, server_reply=f"451 busy {n}", link="primary",
    )  # fmt: skip
    store.record([update], owner=owner, now=NOW + n + 0.5)


def test_only_the_newest_attempts_are_kept(store: Store) -> None:
    email_id = enqueue(store, A, now=NOW)
    view = store.get_email(email_id)
    assert view is not None
    delivery_id = view.deliveries[0].id
    for n in range(1, KEEP + 6):
        _fail(store, delivery_id, n)
    view = store.get_email(email_id)
    assert view is not None
    (delivery,) = view.deliveries
    assert delivery.attempts == KEEP + 5
    assert [a.attempt for a in delivery.history] == list(range(6, KEEP + 6))
    assert delivery.history[-1].answer == f"451 busy {KEEP + 5}"
    assert {a.link for a in delivery.history} == {"primary"}


def test_an_outcome_whose_lease_was_lost_leaves_no_attempt(store: Store) -> None:
    email_id = enqueue(store, A, now=NOW)
    view = store.get_email(email_id)
    assert view is not None
    _fail(store, view.deliveries[0].id, 1, owner="another-worker")  # not the lease holder
    view = store.get_email(email_id)
    assert view is not None
    assert (view.deliveries[0].attempts, view.deliveries[0].history) == (0, ())


def test_a_batch_of_any_length_records_each_delivery_once(store: Store) -> None:
    # The attempts' copy names a batch's deliveries in a list padded to a power of two
    # with copies of the last one (tocsin.store.lists): a copy must not count an
    # attempt twice, log it twice, or reach a delivery of another batch.
    emails = [enqueue(store, A, now=NOW) for _ in range(1 + 2 + 3 + 5 + 9)]
    claimed = store.claim(owner="w", now=NOW, limit=len(emails), lease=60)
    ids = [d.id for c in claimed for d in c.deliveries]
    assert len(ids) == len(emails)
    start = 0
    for size in (1, 2, 3, 5, 9):
        batch = [
            DeliveryUpdate(i, Status.SENT, step="data_end", code=250,
                           server_reply=f"250 ok {i}", link="primary")
            for i in ids[start : start + size]
        ]  # fmt: skip
        store.record(batch, owner="w", now=NOW + size)
        start += size
        done = [store.get_email(e) for e in emails[:start]]
        deliveries = [v.deliveries[0] for v in done if v is not None]
        assert [(d.status, d.attempts, len(d.history)) for d in deliveries] == [
            (Status.SENT, 1, 1)
        ] * start
        assert [d.history[0].answer for d in deliveries] == [f"250 ok {i}" for i in ids[:start]]
        queued = [store.get_email(e) for e in emails[start:]]
        assert {v.deliveries[0].status for v in queued if v is not None} <= {Status.SENDING}


def test_attempts_go_with_their_delivery_when_the_log_is_purged(
    sqlite_store: Store, tmp_path: Path
) -> None:
    email_id = enqueue(sqlite_store, A, now=NOW)
    view = sqlite_store.get_email(email_id)
    assert view is not None
    delivery_id = view.deliveries[0].id
    sqlite_store.claim(owner="w", now=NOW, limit=1, lease=60)
    sent = DeliveryUpdate(delivery_id, Status.SENT, step="data_end", code=250,
                          server_reply="250 ok")  # fmt: skip
    sqlite_store.record([sent], owner="w", now=NOW + 1)
    assert sqlite_store.purge(before=NOW + 2, statuses=[Status.SENT]) == 1
    database = next(tmp_path.rglob("*.db"))
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT COUNT(*) FROM outbox_attempt").fetchone() == (0,)
