"""One conformance suite for the outbox, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import pytest
from outbox_support import PG_URL, enqueue, mail, statuses, unique_schema

from tocsin.outbox import (
    ClaimedEmail,
    DeliveryUpdate,
    ListFilter,
    NewEmail,
    Priority,
    Release,
    Status,
)
from tocsin.store import Store, open_store
from tocsin.store.postgres import PostgresStore

NOW = 1_700_000_000.0
OWNER = "worker-a"


def test_enqueue_stores_the_bytes_once_and_a_delivery_per_recipient(store: Store) -> None:
    m = mail("a@example.net", "b@example.net")
    with store.transaction() as tx:
        email_id = tx.enqueue(NewEmail.of(m, Priority.FIRE), now=NOW)
    view = store.get_email(email_id, content=True)
    assert view is not None
    assert view.content == m.content
    assert view.message_id == m.message_id
    assert view.subject == "Fire alarm: server room A"
    assert view.size == len(m.content)
    assert [(d.recipient, d.status, d.attempts) for d in view.deliveries] == [
        ("a@example.net", Status.QUEUED, 0),
        ("b@example.net", Status.QUEUED, 0),
    ]
    assert {d.priority for d in view.deliveries} == {Priority.FIRE}
    assert store.counts()[Status.QUEUED] == 2
    assert store.get_email(email_id + 1000) is None


def test_enqueue_commits_with_the_callers_state_or_not_at_all(store: Store) -> None:
    def fail_after_enqueueing() -> None:
        with store.transaction() as tx:
            tx.put_value("event:1", "accepted")
            tx.enqueue(NewEmail.of(mail("a@example.net")), now=NOW)
            raise RuntimeError("the caller failed after enqueueing")

    with pytest.raises(RuntimeError):
        fail_after_enqueueing()
    assert store.get_value("event:1") is None
    assert store.counts()[Status.QUEUED] == 0

    with store.transaction() as tx:
        tx.put_value("event:1", "accepted")
        assert tx.get_value("event:1") == "accepted"
        tx.enqueue(NewEmail.of(mail("a@example.net")), now=NOW)
    assert store.get_value("event:1") == "accepted"
    assert store.counts()[Status.QUEUED] == 1


def test_enqueue_refuses_duplicate_recipients(store: Store) -> None:
    m = mail("a@example.net")
    twice = type(m)(m.sender, ("a@example.net", "a@example.net"), m.content, m.message_id)
    with pytest.raises(ValueError, match="twice"), store.transaction() as tx:
        tx.enqueue(NewEmail.of(twice))
    nobody = type(m)(m.sender, (), m.content, m.message_id)
    with pytest.raises(ValueError, match="recipient"), store.transaction() as tx:
        tx.enqueue(NewEmail.of(nobody))
    assert sum(store.counts().values()) == 0


class _LeaseEveryOther:
    """A hand-off that leases the 1st, 3rd, ... email and has the rest queued."""

    owner = OWNER

    def __init__(self) -> None:
        self.emails: list[ClaimedEmail] = []
        self.asked = 0
        self.queued_told = 0

    def lease(self, deliveries: Sequence[int], at: float) -> list[float | None]:
        leases: list[float | None] = []
        for _ in deliveries:
            self.asked += 1
            leases.append(at + 60 if self.asked % 2 else None)
        return leases

    def handed(self, email: ClaimedEmail) -> None:
        self.emails.append(email)

    def queued(self) -> None:
        self.queued_told += 1


def _recipients(store: Store, email_id: int) -> list[tuple[str, Status]]:
    view = store.get_email(email_id)
    assert view is not None
    return [(d.recipient, d.status) for d in view.deliveries]


def test_enqueue_many_answers_each_emails_own_id_in_order(store: Store) -> None:
    # One statement per table for all of them (issue 11); SQLite's RETURNING gives the
    # ids in no promised order, so they are matched to the emails, here checked by the
    # recipients and bytes each id holds, and by a Message-ID repeated in the batch.
    mails = [mail(f"ops{i}@example.net", f"deputy{i}@example.net") for i in range(5)]
    first = mails[0]
    twin = type(first)(first.sender, ("twin@example.net",), b"twin bytes", first.message_id)
    for batch in ([NewEmail.of(m) for m in mails], [NewEmail.of(m) for m in (first, twin)]):
        with store.transaction() as tx:
            ids = tx.enqueue_many(batch, now=NOW)
        assert len(set(ids)) == len(batch)
        for email_id, email in zip(ids, batch, strict=True):
            view = store.get_email(email_id, content=True)
            assert view is not None
            assert view.content == email.mail.content
            assert [d.recipient for d in view.deliveries] == list(email.mail.recipients)


def test_enqueue_many_leases_and_queues_through_the_handoff(store: Store) -> None:
    emails = [NewEmail.of(mail(f"ops{i}@example.net", "desk@example.net")) for i in range(4)]
    lease = _LeaseEveryOther()
    with store.transaction() as tx:
        tx.handoff = lease
        ids = tx.enqueue_many(emails, now=NOW)
        tx.handoff = None
    assert [e.email_id for e in lease.emails] == [ids[0], ids[2]]
    assert lease.queued_told == 1  # once for the call, whatever the number queued
    for email_id, want in zip(ids, [Status.SENDING, Status.QUEUED] * 2, strict=True):
        assert {status for _, status in _recipients(store, email_id)} == {want}
    for claimed in lease.emails:  # what the engine is handed is what is stored
        view = store.get_email(claimed.email_id)
        assert view is not None
        stored = [(d.id, d.recipient) for d in view.deliveries]
        assert [(d.id, d.recipient) for d in claimed.deliveries] == stored


def test_enqueue_many_refuses_a_bad_email_and_writes_none(store: Store) -> None:
    good = mail("a@example.net")
    twice = type(good)(good.sender, ("b@example.net", "b@example.net"), good.content, "<x@y>")
    with pytest.raises(ValueError, match="twice"), store.transaction() as tx:
        tx.enqueue_many([NewEmail.of(good), NewEmail.of(twice)], now=NOW)
    assert sum(store.counts().values()) == 0
    with store.transaction() as tx:
        assert tx.enqueue_many([], now=NOW) == []


def test_key_value_table(store: Store) -> None:
    assert store.get_value("k") is None
    store.put_value("k", "1")
    store.put_value("k", "2")
    assert store.get_value("k") == "2"


def test_claim_takes_the_most_urgent_due_deliveries_grouped_by_email(store: Store) -> None:
    warning = enqueue(store, "w@example.net", priority=Priority.WARNING, now=NOW - 60)
    fire = enqueue(store, "f1@example.net", "f2@example.net", priority=Priority.FIRE, now=NOW)
    later = enqueue(store, "l@example.net", priority=Priority.FIRE, now=NOW + 30)
    claimed = store.claim(owner=OWNER, now=NOW, limit=2, lease=60)
    assert [c.email_id for c in claimed] == [fire]
    assert [d.recipient for d in claimed[0].deliveries] == ["f1@example.net", "f2@example.net"]
    assert claimed[0].mail().recipients == ("f1@example.net", "f2@example.net")
    rest = store.claim(owner=OWNER, now=NOW, limit=10, lease=60)
    assert [c.email_id for c in rest] == [warning]  # `later` is not due yet
    assert statuses(store, later) == {"l@example.net": Status.QUEUED}
    assert store.counts()[Status.SENDING] == 3


def test_a_lease_hides_a_delivery_until_it_expires(store: Store) -> None:
    email_id = enqueue(store, "a@example.net", now=NOW)
    assert len(store.claim(owner="dead-worker", now=NOW, limit=10, lease=30)) == 1
    assert store.claim(owner=OWNER, now=NOW + 29, limit=10, lease=30) == []
    assert store.next_due() == pytest.approx(NOW + 30)
    again = store.claim(owner=OWNER, now=NOW + 30, limit=10, lease=30)
    assert [c.email_id for c in again] == [email_id]
    assert again[0].deliveries[0].attempts == 0  # a dead worker's claim spends nothing
    view = store.get_email(email_id)
    assert view is not None
    assert view.deliveries[0].lease_owner == OWNER


def test_renew_extends_only_the_owners_leases(store: Store) -> None:
    enqueue(store, "a@example.net", now=NOW)
    enqueue(store, "b@example.net", now=NOW)
    store.claim(owner=OWNER, now=NOW, limit=1, lease=30)
    store.claim(owner="other", now=NOW, limit=1, lease=30)
    assert store.renew(owner=OWNER, now=NOW + 20, lease=30) == 1
    due = store.claim(owner="third", now=NOW + 31, limit=10, lease=30)
    assert [d.recipient for c in due for d in c.deliveries] == ["b@example.net"]


def test_record_writes_every_outcome(store: Store) -> None:
    email_id = enqueue(
        store, "ok@example.org", "no@example.org", "later@example.org", "gone@example.org", now=NOW
    )
    (claimed,) = store.claim(owner=OWNER, now=NOW, limit=10, lease=60)
    ids = {d.recipient: d.id for d in claimed.deliveries}
    store.record(
        [
            DeliveryUpdate(ids["ok@example.org"], Status.SENT, step="data", code=250,
                           server_reply="250 2.0.0 Ok: queued as 4AbC"),
            DeliveryUpdate(ids["no@example.org"], Status.FAILED, None, True, "rcpt_to",
                           "recipient_rejected", "rcpt_to: 550 no such user", 550),
            DeliveryUpdate(ids["later@example.org"], Status.QUEUED, NOW + 5, True, "rcpt_to",
                           "recipient_deferred", "rcpt_to: 451 later", 451),
            DeliveryUpdate(ids["gone@example.org"], Status.DEAD, None, True, "connect",
                           "timeout", "given up"),
        ],
        owner=OWNER,
        now=NOW + 1,
    )  # fmt: skip
    view = store.get_email(email_id)
    assert view is not None
    by = {d.recipient: d for d in view.deliveries}
    assert by["ok@example.org"].status is Status.SENT
    assert by["ok@example.org"].server_reply == "250 2.0.0 Ok: queued as 4AbC"
    assert by["ok@example.org"].next_attempt_at is None
    assert by["no@example.org"].status is Status.FAILED
    assert (by["no@example.org"].last_step, by["no@example.org"].last_reason) == (
        "rcpt_to",
        "recipient_rejected",
    )
    assert by["no@example.org"].last_code == 550
    assert by["later@example.org"].status is Status.QUEUED
    assert by["later@example.org"].next_attempt_at == pytest.approx(NOW + 5)
    assert by["later@example.org"].lease_owner is None
    assert by["gone@example.org"].status is Status.DEAD
    assert all(d.attempts == 1 for d in view.deliveries)
    assert all(d.updated_at == pytest.approx(NOW + 1) for d in view.deliveries)


def test_a_pause_and_a_release_spend_no_attempt(store: Store) -> None:
    email_id = enqueue(store, "a@example.org", "b@example.org", now=NOW)
    (claimed,) = store.claim(owner=OWNER, now=NOW, limit=10, lease=60)
    a, b = (d.id for d in claimed.deliveries)
    store.record(
        [DeliveryUpdate(a, Status.QUEUED, NOW, False, "auth", "auth_failed", "auth: 535")],
        [Release(b, NOW)],
        owner=OWNER,
        now=NOW,
    )
    view = store.get_email(email_id)
    assert view is not None
    assert [(d.status, d.attempts, d.last_reason) for d in view.deliveries] == [
        (Status.QUEUED, 0, "auth_failed"),
        (Status.QUEUED, 0, ""),
    ]
    assert len(store.claim(owner=OWNER, now=NOW, limit=10, lease=60)) == 1


def test_a_lost_lease_keeps_a_success_but_not_a_failure(store: Store) -> None:
    email_id = enqueue(store, "a@example.org", "b@example.org", now=NOW)
    (mine,) = store.claim(owner=OWNER, now=NOW, limit=10, lease=1)
    (theirs,) = store.claim(owner="other", now=NOW + 2, limit=10, lease=60)
    assert [d.id for d in mine.deliveries] == [d.id for d in theirs.deliveries]
    a, b = (d.id for d in mine.deliveries)
    store.record(
        [DeliveryUpdate(a, Status.SENT, server_reply="250 ok"),
         DeliveryUpdate(b, Status.FAILED, reason="recipient_rejected")],
        owner=OWNER,
        now=NOW + 3,
    )  # fmt: skip
    assert statuses(store, email_id) == {
        "a@example.org": Status.SENT,
        "b@example.org": Status.SENDING,
    }


def test_list_filters_by_status_recipient_and_age(store: Store) -> None:
    old = enqueue(store, "Ops@example.net", now=NOW - 3600)
    new = enqueue(store, "boss@example.net", "ops2@example.net", now=NOW)
    (claimed,) = store.claim(owner=OWNER, now=NOW - 3600, limit=1, lease=60)
    store.record(
        [DeliveryUpdate(claimed.deliveries[0].id, Status.DEAD, reason="timeout")],
        owner=OWNER,
        now=NOW,
    )
    everything = store.list_deliveries(ListFilter())
    assert [d.email_id for d in everything] == [new, new, old]
    dead = store.list_deliveries(ListFilter(statuses=(Status.DEAD,)))
    assert [(d.email_id, d.recipient) for d in dead] == [(old, "Ops@example.net")]
    ops = store.list_deliveries(ListFilter(recipient="ops"))
    assert sorted(d.recipient for d in ops) == ["Ops@example.net", "ops2@example.net"]
    assert store.list_deliveries(ListFilter(recipient="%")) == []
    assert [d.email_id for d in store.list_deliveries(ListFilter(older_than=NOW - 60))] == [old]
    newer = store.list_deliveries(ListFilter(newer_than=NOW - 60, limit=1))
    assert len(newer) == 1
    assert newer[0].email_id == new


def test_retry_queues_dead_and_failed_deliveries_as_new(store: Store) -> None:
    email_id = enqueue(store, "a@example.org", "b@example.org", "c@example.org", now=NOW - 90000)
    (claimed,) = store.claim(owner=OWNER, now=NOW, limit=10, lease=60)
    a, b, c = (d.id for d in claimed.deliveries)
    store.record(
        [DeliveryUpdate(a, Status.SENT), DeliveryUpdate(b, Status.DEAD, reason="timeout"),
         DeliveryUpdate(c, Status.FAILED, reason="recipient_rejected")],
        owner=OWNER,
        now=NOW,
    )  # fmt: skip
    assert store.retry(email_id, now=NOW + 10, statuses=[Status.DEAD]) == 1
    view = store.get_email(email_id)
    assert view is not None
    by = {d.recipient: d for d in view.deliveries}
    assert by["b@example.org"].status is Status.QUEUED
    assert by["b@example.org"].attempts == 0
    assert by["b@example.org"].queued_at == pytest.approx(NOW + 10)  # a fresh maximum age
    assert (by["a@example.org"].status, by["c@example.org"].status) == (Status.SENT, Status.FAILED)
    assert store.retry(email_id, now=NOW, statuses=[Status.QUEUED, Status.SENDING]) == 0


def test_purge_deletes_old_finished_deliveries_and_orphan_emails(store: Store) -> None:
    done = enqueue(store, "a@example.org", now=NOW - 10 * 86400)
    mixed = enqueue(store, "b@example.org", "c@example.org", now=NOW - 10 * 86400)
    claims = store.claim(owner=OWNER, now=NOW - 10 * 86400, limit=10, lease=60)
    ids = {d.recipient: d.id for c in claims for d in c.deliveries}
    store.record(
        [
            DeliveryUpdate(ids["a@example.org"], Status.SENT),
            DeliveryUpdate(ids["b@example.org"], Status.SENT),
        ],
        [Release(ids["c@example.org"], NOW)],
        owner=OWNER,
        now=NOW - 8 * 86400,
    )
    assert store.purge(before=NOW - 9 * 86400, statuses=[Status.SENT]) == 0
    assert store.purge(before=NOW - 7 * 86400, statuses=[Status.SENT, Status.QUEUED]) == 2
    assert store.get_email(done) is None
    view = store.get_email(mixed)
    assert view is not None
    assert [d.recipient for d in view.deliveries] == ["c@example.org"]


def _claim_all(
    make_store: object, owner: str, found: list[int], barrier: threading.Barrier
) -> None:
    store = make_store()  # type: ignore[operator]
    try:
        barrier.wait(timeout=10)
        while batch := store.claim(owner=owner, now=NOW, limit=7, lease=60):
            found.extend(d.id for c in batch for d in c.deliveries)
    finally:
        store.close()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_two_workers_never_claim_the_same_delivery(tmp_path: Path, backend: str) -> None:
    schema = unique_schema()
    url: str | Path = PG_URL if backend == "postgres" else tmp_path / "tocsin.db"
    first = open_store(url, schema=schema)
    try:
        for i in range(60):
            enqueue(first, f"r{i}@example.org", f"s{i}@example.org", now=NOW)
        found: dict[str, list[int]] = {"a": [], "b": []}
        barrier = threading.Barrier(2)
        workers = [
            threading.Thread(
                target=_claim_all,
                args=(lambda: open_store(url, schema=schema), o, found[o], barrier),
            )
            for o in found
        ]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=60)
        assert not any(w.is_alive() for w in workers)
        assert not set(found["a"]) & set(found["b"])
        assert len(found["a"]) + len(found["b"]) == 120
    finally:
        if isinstance(first, PostgresStore):
            first.drop_schema()
        first.close()
