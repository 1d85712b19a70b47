# Only constants are put into SQL text here; every value is a bound parameter.
# ruff: noqa: S608
"""The relay's own tables in SQL, shared by its SQLite and PostgreSQL stores.

- ``relay_device``: one row per device: its credential's SHA-256 (never the
  credential), its policy, its quota bucket, and when it was revoked.
- ``relay_submission``: one row per accepted message: the id the device sees, the
  outbox email that carries it, and the device's idempotency key.

Submissions are written in a :class:`RelayTransaction`, which concurrent submissions
share (group commit, see :mod:`tocsin.services.group_commit`; each one in a savepoint):

1. when it begins, it reads the quota bucket of every device with a submission in
   flight (:class:`InFlight`), in one statement in id order, and on PostgreSQL locks
   their rows (``FOR NO KEY UPDATE``; SQLite's write transaction is ``BEGIN
   IMMEDIATE``, one writer at a time).  Always taking the locks up front and in the
   same order is what keeps two API processes whose transactions each hold several
   devices from deadlocking;
2. each submission checks the device is not revoked, answers a repeated idempotency
   key with the first submission, takes from the bucket *in memory*, stores the email
   in the outbox and notes the submission;
3. just before the commit, every bucket that was spent from is written back once.

So a 202 means the message is on disk, two API processes never overspend a quota, and
a round of N submissions of one device costs one locked read and one update of its
row, not N of each (the row lock was what serialised concurrent submissions).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from tocsin.outbox.model import NewEmail, Status
from tocsin.relay.errors import NotAuthenticated, QuotaExceeded
from tocsin.relay.policy import BucketState, DevicePolicy, take_tokens
from tocsin.relay.records import Accepted, Device, RecipientStatus, SubmissionStatus
from tocsin.store.lists import marks
from tocsin.store.outbox_sql import SQLTransaction
from tocsin.store.runner import Database, Row, Runner

__all__ = ["InFlight", "RelayTransaction", "SQLRelay", "relay_transaction"]


_DEVICE_COLUMNS = (
    "id, name, senders, max_size, quota_per_hour, burst, created_at, last_used_at, revoked_at"
)


def _device(row: Row) -> Device:
    policy = DevicePolicy(
        senders=tuple(str(row[2]).split()),
        max_size=int(row[3]),
        quota_per_hour=int(row[4]),
        burst=int(row[5]),
    )
    return Device(
        int(row[0]),
        str(row[1]),
        policy,
        float(row[6]),
        None if row[7] is None else float(row[7]),
        None if row[8] is None else float(row[8]),
    )


class InFlight:
    """How many submissions of each device are on their way into a transaction.

    A :class:`RelayTransaction` reads (and locks) these devices' buckets when it begins;
    a shared transaction thus holds every device its round will spend from before it
    runs the first submission, whichever round a submission ends up in.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count: Counter[int] = Counter()

    @contextmanager
    def holding(self, device_id: int) -> Iterator[None]:
        """Count a submission of ``device_id`` as in flight for the block."""
        with self._lock:
            self._count[device_id] += 1
        try:
            yield
        finally:
            with self._lock:
                self._count[device_id] -= 1
                if self._count[device_id] <= 0:
                    del self._count[device_id]

    def devices(self) -> list[int]:
        """The devices with a submission in flight, by id."""
        with self._lock:
            return sorted(self._count)

    def count(self) -> int:
        """How many submissions are in flight, all devices together."""
        with self._lock:
            return sum(self._count.values())


@dataclass(frozen=True, slots=True)
class _Bucket:
    """A device's row as a transaction holds it: its bucket, limits and revocation."""

    state: BucketState
    quota_per_hour: int
    burst: int
    revoked: bool
    used_at: float | None = None  # set once a submission of this transaction spent from it


_BUCKET_SQL = (
    "SELECT id, bucket_tokens, bucket_at, quota_per_hour, burst, revoked_at "
    "FROM relay_device WHERE id IN ({marks}) ORDER BY id{lock}"
)
# Every spent bucket of a transaction in one statement (v.column1…4: id, tokens, at,
# used; both backends name VALUES columns so).  psycopg's executemany would go through
# its pipeline mode, dearer than the one round trip this is.  At most one row per
# submission of the round, so far below either backend's parameter limit.
_FLUSH_SQL = """UPDATE relay_device SET bucket_tokens = v.column2, bucket_at = v.column3,
    last_used_at = v.column4 FROM (VALUES {rows}) AS v WHERE relay_device.id = v.column1"""
_BUCKET_ROW = f"(CAST(? AS BIGINT), {', '.join(['CAST(? AS DOUBLE PRECISION)'] * 3)})"


class RelayTransaction(SQLTransaction):
    """An open write transaction of the relay: the outbox, plus the quota buckets of the
    devices it submits for, spent in memory and written back by :meth:`flush`.

    ``row_lock`` is the backend's lock clause for device rows (PostgreSQL: ``FOR NO KEY
    UPDATE``, which still lets other transactions insert rows that reference the device).
    """

    def __init__(self, runner: Runner, *, row_lock: str = "") -> None:
        super().__init__(runner)
        self._row_lock = row_lock
        # Buckets read outside any savepoint (or by a submission that went through):
        # their row locks last until the commit, so the values stay true until then.
        self._buckets: dict[int, _Bucket | None] = {}

    def lock_devices(self, device_ids: Iterable[int]) -> None:
        """Read the buckets of ``device_ids`` (locking their rows), in id order."""
        wanted = sorted(set(device_ids) - self._buckets.keys())
        if wanted:
            self._buckets.update(self._read(wanted))

    def _read(self, device_ids: list[int]) -> dict[int, _Bucket | None]:
        listed = marks(len(device_ids))
        rows = self.runner.rows(_BUCKET_SQL.format(marks=listed, lock=self._row_lock), device_ids)
        found: dict[int, _Bucket | None] = dict.fromkeys(device_ids)
        for row in rows:
            found[int(row[0])] = _Bucket(
                BucketState(float(row[1]), float(row[2])),
                int(row[3]),
                int(row[4]),
                row[5] is not None,
            )
        return found

    def accept(
        self,
        *,
        device_id: int,
        cost: int,
        now: float,
        idempotency_key: str | None,
        public_id: str,
        email: NewEmail,
    ) -> Accepted:
        """Take ``cost`` from the device's bucket, enqueue ``email`` and note the submission.

        A repeated ``idempotency_key`` returns the first submission (``duplicate``) and
        stores nothing.  Raises :class:`NotAuthenticated` when the device was revoked
        meanwhile, :class:`QuotaExceeded` when its bucket is short; then nothing of this
        submission is kept (the caller rolls back to its savepoint).
        """
        # A bucket read here, inside the caller's savepoint, is remembered only if this
        # submission goes through: a rollback to the savepoint also drops its row lock.
        bucket = self._buckets.get(device_id) or self._read([device_id])[device_id]
        if bucket is None or bucket.revoked:
            raise NotAuthenticated("the device credential was revoked")
        if idempotency_key is not None:
            seen = self.runner.rows(
                "SELECT public_id, email_id, message_id FROM relay_submission "
                "WHERE device_id = ? AND idempotency_key = ?",
                (device_id, idempotency_key),
            )
            if seen:
                self._buckets[device_id] = bucket
                return Accepted(str(seen[0][0]), int(seen[0][1]), str(seen[0][2]), True)
        state, wait = take_tokens(
            bucket.state,
            cost=cost,
            now=max(now, bucket.state.at),  # never refill the same moment twice
            quota_per_hour=bucket.quota_per_hour,
            burst=bucket.burst,
        )
        if wait > 0:
            raise QuotaExceeded(
                f"the hourly quota of {bucket.quota_per_hour} emails is used up",
                retry_after=wait,
            )
        email_id = self.enqueue(email, now=now)
        self.runner.run(
            "INSERT INTO relay_submission (public_id, device_id, email_id, message_id, "
            "idempotency_key, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (public_id, device_id, email_id, email.mail.message_id, idempotency_key, now),
        )
        self._buckets[device_id] = replace(bucket, state=state, used_at=now)
        return Accepted(public_id, email_id, email.mail.message_id)

    def flush(self) -> None:
        """Write back every bucket spent from, in one statement; the commit follows."""
        params: list[object] = []
        for device_id, b in sorted(self._buckets.items()):
            if b is not None and b.used_at is not None:
                params += (device_id, b.state.tokens, b.state.at, b.used_at)
        if params:
            rows = ", ".join([_BUCKET_ROW] * (len(params) // 4))
            self.runner.run(_FLUSH_SQL.format(rows=rows), params)


def relay_transaction(tx: SQLTransaction) -> RelayTransaction:
    """``tx`` as the relay transaction it is (a relay store's transactions all are).

    Raises ``TypeError`` for a transaction of another store.
    """
    if not isinstance(tx, RelayTransaction):
        raise TypeError("submissions are stored in a relay store's transaction")
    return tx


class SQLRelay:
    """The relay's repository (devices, submissions) over a backend's database."""

    def __init__(self, db: Database, in_flight: InFlight, *, row_lock: str = "") -> None:
        self._db = db
        self.in_flight = in_flight
        self.row_lock = row_lock  # PostgreSQL: " FOR NO KEY UPDATE"

    # ------------------------------------------------------------ devices
    def add_device(self, name: str, token_hash: str, policy: DevicePolicy, now: float) -> Device:
        """Create a device; ``ValueError`` if the name is taken."""
        with self._db.writing() as runner:
            if runner.rows("SELECT 1 FROM relay_device WHERE name = ?", (name,)):
                raise ValueError(f"a device named {name!r} exists already")
            runner.run(
                "INSERT INTO relay_device (name, token_hash, senders, max_size, quota_per_hour, "
                "burst, bucket_tokens, bucket_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    token_hash,
                    " ".join(policy.senders),
                    policy.max_size,
                    policy.quota_per_hour,
                    policy.burst,
                    float(policy.burst),
                    now,
                    now,
                ),
            )
            row = runner.rows(f"SELECT {_DEVICE_COLUMNS} FROM relay_device WHERE name = ?", (name,))
        return _device(row[0])

    def device_by_token(self, token_hash: str) -> Device | None:
        """The active device with that credential hash, or None."""
        with self._db.reading() as runner:
            rows = runner.rows(
                f"SELECT {_DEVICE_COLUMNS} FROM relay_device "
                "WHERE token_hash = ? AND revoked_at IS NULL",
                (token_hash,),
            )
        return _device(rows[0]) if rows else None

    def list_devices(self) -> list[Device]:
        """Every device, revoked ones included, by name."""
        with self._db.reading() as runner:
            rows = runner.rows(f"SELECT {_DEVICE_COLUMNS} FROM relay_device ORDER BY name")
        return [_device(r) for r in rows]

    def revoke_device(self, name: str, now: float) -> bool:
        """Revoke at once (the next request is refused); False if no such active device."""
        with self._db.writing() as runner:
            changed = runner.run(
                "UPDATE relay_device SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                (now, name),
            )
        return changed > 0

    # ------------------------------------------------------------ submissions
    @contextmanager
    def relay_transaction(self) -> Iterator[RelayTransaction]:
        """A write transaction that has read (and locked) the bucket of every device with
        a submission in flight, and writes back the buckets it spent from at the end."""
        with self._db.writing() as runner:
            tx = RelayTransaction(runner, row_lock=self.row_lock)
            tx.lock_devices(self.in_flight.devices())
            yield tx
            tx.flush()

    def accept(
        self,
        *,
        device_id: int,
        cost: int,
        now: float,
        idempotency_key: str | None,
        public_id: str,
        email: NewEmail,
    ) -> Accepted:
        """One submission in a transaction of its own (see :meth:`RelayTransaction.accept`;
        the service shares transactions between concurrent submissions instead)."""
        with self.in_flight.holding(device_id), self.relay_transaction() as tx:
            return tx.accept(
                device_id=device_id,
                cost=cost,
                now=now,
                idempotency_key=idempotency_key,
                public_id=public_id,
                email=email,
            )

    def submission_status(self, device_id: int, public_id: str) -> SubmissionStatus | None:
        """A submission of this device with each recipient's delivery, or None."""
        with self._db.reading() as runner:
            head = runner.rows(
                "SELECT email_id, message_id, created_at FROM relay_submission "
                "WHERE public_id = ? AND device_id = ?",
                (public_id, device_id),
            )
            if not head:
                return None
            rows = runner.rows(
                "SELECT recipient, status, attempts, last_step, last_reason, last_error, "
                "last_code, server_reply, updated_at FROM outbox_delivery "
                "WHERE email_id = ? ORDER BY id",
                (head[0][0],),
            )
        recipients = tuple(
            RecipientStatus(
                str(r[0]),
                Status(r[1]),
                int(r[2]),
                str(r[3]),
                str(r[4]),
                str(r[5]),
                None if r[6] is None else int(r[6]),
                str(r[7]),
                float(r[8]),
            )
            for r in rows
        )
        return SubmissionStatus(public_id, str(head[0][1]), float(head[0][2]), recipients)
