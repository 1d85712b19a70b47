"""PostgreSQL: the outbox's INSERTs carry ids taken ahead in blocks (issue 11), so an
enqueue sends them without waiting for the server (:mod:`tocsin.store.id_blocks`).

- the enqueues of a transaction wait for the server once per block, not once per email;
- ids are unique across threads and across stores (processes) on one schema;
- a block taken in a transaction that rolled back is still used, and no id twice;
- a failing INSERT still fails its transaction, or in a group commit its request alone;
- what is stored (emails, deliveries, leases) is what the enqueue answered.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from store_support import PG_URL

from helpers import one_shared_round, pg_store
from tocsin.message import Mail, compose
from tocsin.outbox import ClaimedEmail, NewEmail, Status
from tocsin.services.group_commit import GroupCommit
from tocsin.store import PostgresStore
from tocsin.store.id_blocks import BLOCK, IdBlocks
from tocsin.store.outbox_sql import SQLTransaction

pytestmark = pytest.mark.postgres

OWNER = "engine-test:1"
# A lease's end the server refuses ("out of range for type double precision"): the
# leased deliveries' INSERT, the last statement of an enqueue, fails.
NEVER = 10**400


@pytest.fixture
def store() -> Iterator[PostgresStore]:
    with pg_store() as pg:
        yield pg


@pytest.fixture
def other(store: PostgresStore) -> Iterator[PostgresStore]:
    """A second store on the same schema: another process's."""
    pg = PostgresStore(PG_URL, schema=store.schema, migrate=False)
    try:
        yield pg
    finally:
        pg.close()


@pytest.fixture
def syncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the waits for the server of pipelined transactions (``Pipeline.sync``)."""
    count = [0]
    sync = psycopg.Pipeline.sync

    def counted(self: psycopg.Pipeline) -> None:
        count[0] += 1
        sync(self)

    monkeypatch.setattr(psycopg.Pipeline, "sync", counted)
    return count


class _Lease:
    """A hand-off that leases every email (writes leased rows without an engine)."""

    owner = OWNER

    def __init__(self, until: float | None = None) -> None:
        self.emails: list[ClaimedEmail] = []
        self._until = until

    def lease(self, deliveries: Sequence[int], at: float) -> list[float | None]:
        return [at + 60 if self._until is None else self._until for _ in deliveries]

    def handed(self, email: ClaimedEmail) -> None:
        self.emails.append(email)

    def queued(self) -> None:
        raise AssertionError("everything is leased here")


def _mail(n: int, *to: str) -> Mail:
    return compose(
        sender="alarm@example.com",
        to=list(to) or [f"ops{n}@example.net"],
        subject=f"Fire alarm {n}",
        text="Smoke detector 3 in server room A raised an alarm.\n",
    )


def _enqueue(tx: SQLTransaction, mail: Mail, *, lease: _Lease | None = None, n: int = 0) -> int:
    tx.handoff = lease
    try:
        return tx.enqueue(NewEmail.of(mail), now=1000.0 + n)
    finally:
        tx.handoff = None


def _stored_ids(store: PostgresStore, table: str) -> list[int]:
    with store.transaction() as tx:
        rows = tx.runner.rows(f"SELECT id FROM {table} ORDER BY id")  # noqa: S608 (constant)
    return [int(r[0]) for r in rows]


def test_enqueues_wait_for_the_server_once_per_block_not_once_per_email(
    store: PostgresStore, syncs: list[int]
) -> None:
    lease = _Lease()
    to = [[f"ops{n}@example.net", f"lead{n}@example.net"][: 1 + n % 3 // 2] for n in range(40)]
    mails = [_mail(n, *to[n]) for n in range(40)]
    with store.transaction() as tx:
        before = syncs[0]
        ids = [_enqueue(tx, m, lease=lease if n % 2 else None, n=n) for n, m in enumerate(mails)]
        waited = syncs[0] - before
    # Two sequence names looked up, then one block per table: the 40 emails and the
    # leased deliveries fit in the first blocks.  (With RETURNING: one wait per email,
    # and one more per leased email.)
    assert waited <= 4, waited
    assert len(set(ids)) == 40
    assert ids == sorted(ids)
    # What the enqueues answered is what is stored: each email, its queued deliveries
    # or the leased ones with the ids the hand-off holds, in the order of the recipients.
    handed = {e.email_id: e for e in lease.emails}
    assert len(handed) == 20
    for n, (email_id, mail) in enumerate(zip(ids, mails, strict=True)):
        view = store.get_email(email_id)
        assert view is not None
        assert (view.message_id, view.subject) == (mail.message_id, f"Fire alarm {n}")
        assert [d.recipient for d in view.deliveries] == to[n]
        if n % 2:
            claimed = handed[email_id]
            assert claimed.message_id == mail.message_id
            assert claimed.content == mail.content
            assert [(d.id, d.recipient, d.attempts) for d in claimed.deliveries] == [
                (d.id, d.recipient, 0) for d in view.deliveries
            ]
            for d in view.deliveries:
                assert (d.status, d.lease_owner) == (Status.SENDING, OWNER)
                assert d.next_attempt_at == pytest.approx(1000.0 + n + 60)
        else:
            for d in view.deliveries:
                assert (d.status, d.lease_owner) == (Status.QUEUED, None)
                assert d.next_attempt_at == pytest.approx(1000.0 + n)


def test_ids_are_unique_across_threads_and_stores(
    store: PostgresStore, other: PostgresStore
) -> None:
    """Two stores on one schema (two processes), two threads each, enough emails for
    several blocks each: no email or delivery id twice, and every one stored."""
    per_thread, per_tx = 100, 5  # 400 emails: two blocks per store and table at least

    def work(pg: PostgresStore, thread: int) -> list[tuple[int, ClaimedEmail | None]]:
        done: list[tuple[int, ClaimedEmail | None]] = []
        for first in range(0, per_thread, per_tx):
            lease = _Lease()
            with pg.transaction() as tx:
                for n in range(first, first + per_tx):
                    mail = _mail(n, f"t{thread}n{n}@example.net", f"u{thread}n{n}@example.net")
                    done.append((_enqueue(tx, mail, lease=lease if n % 2 else None), None))
            for email in lease.emails:
                done.append((email.email_id, email))
        return done

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(work, pg, t) for t, pg in enumerate((store, other, store, other))]
        results = [item for f in futures for item in f.result(60)]
    email_ids = [i for i, claimed in results if claimed is None]
    assert len(email_ids) == len(set(email_ids)) == 400
    assert _stored_ids(store, "outbox_email") == sorted(email_ids)
    leased = [d.id for _, claimed in results if claimed is not None for d in claimed.deliveries]
    assert len(leased) == len(set(leased)) == 400
    stored = _stored_ids(store, "outbox_delivery")
    assert len(stored) == len(set(stored)) == 800
    assert set(leased) <= set(stored)
    # Both stores did take ids ahead: their blocks interleave in the sequence.
    assert max(email_ids) - min(email_ids) >= 400


def test_one_id_blocks_shared_by_threads_gives_each_id_once(
    store: PostgresStore, other: PostgresStore
) -> None:
    blocks = IdBlocks(block=7)  # small: many blocks, taken while others take ids
    taken: list[int] = []
    lock = threading.Lock()

    def take(pg: PostgresStore) -> None:
        for count in (1, 3, 8, 2) * 10:
            with pg.transaction() as tx:
                ids = blocks.take(tx.runner, "outbox_email", count)
            assert ids == sorted(ids)
            with lock:
                taken.extend(ids)

    with ThreadPoolExecutor(4) as pool:
        for f in [pool.submit(take, pg) for pg in (store, other, store, other)]:
            f.result(60)
    assert len(taken) == len(set(taken)) == 4 * 10 * 14


def test_a_block_outlives_a_rolled_back_transaction_and_no_id_comes_twice(
    store: PostgresStore, other: PostgresStore, syncs: list[int]
) -> None:
    answered: list[int] = []

    def rolled_back() -> None:
        with store.transaction() as tx:
            answered.append(_enqueue(tx, _mail(1), lease=_Lease()))
            raise RuntimeError("the request rolled back")

    with pytest.raises(RuntimeError, match="rolled back"):
        rolled_back()
    (lost,) = answered
    assert _stored_ids(store, "outbox_email") == []
    # The rest of the block is this store's still: the next email takes the next id,
    # without a round trip for it; and the lost id is not given again.
    with store.transaction() as tx:
        before = syncs[0]
        kept = _enqueue(tx, _mail(2))
        assert syncs[0] == before
    assert kept == lost + 1
    # Meanwhile the sequence is past the block: an email of another store, or one an
    # older Tocsin numbers in its INSERT, lands beyond it.
    with other.transaction() as tx:
        theirs = _enqueue(tx, _mail(3))
        returned = tx.runner.rows(
            "INSERT INTO outbox_email (message_id, sender, subject, content, smtputf8, "
            "priority, created_at) VALUES ('<m@x>', 'a@x', 's', 'c', 0, 1, 1) RETURNING id"
        )
    assert theirs >= lost + BLOCK
    assert int(returned[0][0]) > theirs
    assert _stored_ids(store, "outbox_email") == sorted([kept, theirs, int(returned[0][0])])


def test_a_failing_insert_sent_ahead_still_fails_its_transaction(store: PostgresStore) -> None:
    """The INSERTs are sent without waiting: the enqueue answers, the error comes at the
    commit, and nothing of the transaction is stored."""
    answered: list[int] = []

    def attempt() -> None:
        with store.transaction() as tx:
            tx.put_value("half", "written")
            answered.append(_enqueue(tx, _mail(1), lease=_Lease(until=NEVER)))

    with pytest.raises(psycopg.errors.NumericValueOutOfRange):
        attempt()
    assert answered, "the enqueue waited for its INSERT"
    assert store.get_value("half") is None
    assert _stored_ids(store, "outbox_email") == []
    with store.transaction() as tx:  # the connection goes on
        later = _enqueue(tx, _mail(2))
    assert later > answered[0]
    assert _stored_ids(store, "outbox_email") == [later]


def test_a_failing_insert_in_a_shared_round_fails_its_request_alone(
    store: PostgresStore,
) -> None:
    answered: dict[int, int] = {}
    leases = {i: _Lease(until=NEVER if i == 2 else None) for i in range(4)}

    def job(index: int, tx: SQLTransaction) -> int:
        tx.put_value(f"k{index}", "v")
        email_id = _enqueue(tx, _mail(index), lease=leases[index])
        answered[index] = email_id  # job 2's too: its INSERT fails unseen here
        return email_id

    futures = one_shared_round(GroupCommit(store), job, 4)
    assert sorted(answered) == [0, 1, 2, 3]
    with pytest.raises(psycopg.errors.NumericValueOutOfRange):
        futures[2].result()
    kept = {i: futures[i].result() for i in (0, 1, 3)}
    assert {i for i in range(4) if store.get_value(f"k{i}") == "v"} == {0, 1, 3}
    assert _stored_ids(store, "outbox_email") == sorted(kept.values())
    for i, email_id in kept.items():
        view = store.get_email(email_id)
        assert view is not None
        assert [d.id for d in view.deliveries] == [d.id for d in leases[i].emails[0].deliveries]
