# Only constants are put into SQL text here; every value is a bound parameter.
# ruff: noqa: S608
"""The relay's own tables in SQL, shared by its SQLite and PostgreSQL stores.

- ``relay_device``: one row per device: its credential's SHA-256 (never the
  credential), its policy, its quota bucket, and when it was revoked.
- ``relay_submission``: one row per accepted message: the id the device sees, the
  outbox email that carries it, and the device's idempotency key.

A submission is one transaction: lock the device's row (PostgreSQL: ``FOR UPDATE``;
SQLite: the write transaction is ``BEGIN IMMEDIATE``), check it is not revoked, take
from its quota bucket, store the email in the outbox, note the submission.  So a 202
means the message is on disk, and two API processes never overspend a quota.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import ClassVar

from tocsin.outbox.model import NewEmail, Status
from tocsin.relay.errors import NotAuthenticated, QuotaExceeded
from tocsin.relay.policy import BucketState, DevicePolicy, take_tokens
from tocsin.store.outbox_sql import Row, Runner, SQLTransaction

__all__ = [
    "Accepted",
    "Device",
    "RecipientStatus",
    "SQLRelay",
    "SubmissionStatus",
    "relay_schema",
]


def relay_schema(*, pk: str, fk: str, real: str) -> list[str]:
    """The DDL with the backend's column types filled in."""
    return [
        f"""CREATE TABLE IF NOT EXISTS relay_device (
            id {pk},
            name TEXT NOT NULL UNIQUE,
            token_hash TEXT NOT NULL UNIQUE,
            senders TEXT NOT NULL,
            max_size INTEGER NOT NULL,
            quota_per_hour INTEGER NOT NULL,
            burst INTEGER NOT NULL,
            bucket_tokens {real} NOT NULL,
            bucket_at {real} NOT NULL,
            created_at {real} NOT NULL,
            last_used_at {real},
            revoked_at {real}
        )""",
        f"""CREATE TABLE IF NOT EXISTS relay_submission (
            id {pk},
            public_id TEXT NOT NULL UNIQUE,
            device_id {fk} NOT NULL REFERENCES relay_device (id),
            email_id {fk} NOT NULL,
            message_id TEXT NOT NULL,
            idempotency_key TEXT,
            created_at {real} NOT NULL,
            UNIQUE (device_id, idempotency_key)
        )""",
    ]


@dataclass(frozen=True, slots=True)
class Device:
    """A device as the operator and the relay see it (never its credential)."""

    id: int
    name: str
    policy: DevicePolicy
    created_at: float
    last_used_at: float | None
    revoked_at: float | None

    @property
    def active(self) -> bool:
        """True while not revoked."""
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class Accepted:
    """A stored submission: the id to ask about it, and whether it was a repeat."""

    public_id: str
    email_id: int
    message_id: str
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class RecipientStatus:
    """Where one recipient of a submission stands (the outbox delivery, for the device)."""

    recipient: str
    status: Status
    attempts: int
    step: str
    reason: str
    error: str
    code: int | None
    server_reply: str
    updated_at: float


@dataclass(frozen=True, slots=True)
class SubmissionStatus:
    """A submission and each of its recipients."""

    public_id: str
    message_id: str
    created_at: float
    recipients: tuple[RecipientStatus, ...]


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


class SQLRelay:
    """Relay storage over a backend's runner (a mixin, like the accounts)."""

    row_lock: ClassVar[str] = ""  # PostgreSQL: " FOR UPDATE"

    def _writing(self) -> AbstractContextManager[Runner]:
        raise NotImplementedError  # supplied by the backend class

    def _reading(self) -> AbstractContextManager[Runner]:
        raise NotImplementedError  # supplied by the backend class

    # ------------------------------------------------------------ devices
    def add_device(self, name: str, token_hash: str, policy: DevicePolicy, now: float) -> Device:
        """Create a device; ``ValueError`` if the name is taken."""
        with self._writing() as runner:
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
        with self._reading() as runner:
            rows = runner.rows(
                f"SELECT {_DEVICE_COLUMNS} FROM relay_device "
                "WHERE token_hash = ? AND revoked_at IS NULL",
                (token_hash,),
            )
        return _device(rows[0]) if rows else None

    def list_devices(self) -> list[Device]:
        """Every device, revoked ones included, by name."""
        with self._reading() as runner:
            rows = runner.rows(f"SELECT {_DEVICE_COLUMNS} FROM relay_device ORDER BY name")
        return [_device(r) for r in rows]

    def revoke_device(self, name: str, now: float) -> bool:
        """Revoke at once (the next request is refused); False if no such active device."""
        with self._writing() as runner:
            changed = runner.run(
                "UPDATE relay_device SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                (now, name),
            )
        return changed > 0

    # ------------------------------------------------------------ submissions
    def accept(
        self,
        *,
        device_id: int,
        cost: int,
        now: float,
        idempotency_key: str | None,
        public_id: str,
        build: Callable[[], NewEmail],
    ) -> Accepted:
        """Take ``cost`` from the quota, enqueue ``build()`` and note it, in one transaction.

        A repeated ``idempotency_key`` returns the first submission (``duplicate``) and
        stores nothing.  Raises :class:`NotAuthenticated` when the device was revoked
        meanwhile, :class:`QuotaExceeded` when its bucket is short.
        """
        with self._writing() as runner:
            rows = runner.rows(
                "SELECT bucket_tokens, bucket_at, quota_per_hour, burst, revoked_at "
                f"FROM relay_device WHERE id = ?{self.row_lock}",
                (device_id,),
            )
            if not rows or rows[0][4] is not None:
                raise NotAuthenticated("the device credential was revoked")
            if idempotency_key is not None:
                seen = runner.rows(
                    "SELECT public_id, email_id, message_id FROM relay_submission "
                    "WHERE device_id = ? AND idempotency_key = ?",
                    (device_id, idempotency_key),
                )
                if seen:
                    return Accepted(str(seen[0][0]), int(seen[0][1]), str(seen[0][2]), True)
            tokens, at, quota, burst, _ = rows[0]
            state, wait = take_tokens(
                BucketState(float(tokens), float(at)),
                cost=cost,
                now=now,
                quota_per_hour=int(quota),
                burst=int(burst),
            )
            if wait > 0:
                raise QuotaExceeded(
                    f"the hourly quota of {quota} emails is used up", retry_after=wait
                )
            email = build()
            email_id = SQLTransaction(runner).enqueue(email, now=now)
            runner.run(
                "UPDATE relay_device SET bucket_tokens = ?, bucket_at = ?, last_used_at = ? "
                "WHERE id = ?",
                (state.tokens, state.at, now, device_id),
            )
            runner.run(
                "INSERT INTO relay_submission (public_id, device_id, email_id, message_id, "
                "idempotency_key, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (public_id, device_id, email_id, email.mail.message_id, idempotency_key, now),
            )
        return Accepted(public_id, email_id, email.mail.message_id)

    def submission_status(self, device_id: int, public_id: str) -> SubmissionStatus | None:
        """A submission of this device with each recipient's delivery, or None."""
        with self._reading() as runner:
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
