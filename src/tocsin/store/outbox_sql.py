# Only constants and "?, ?, ?" placeholder lists are put into SQL text here; every value
# is a bound parameter.  Hence:
# ruff: noqa: S608
"""The outbox in SQL, shared by the SQLite and PostgreSQL backends.

Both backends speak the same SQL here; a backend supplies only a :class:`Runner`
(placeholders, cursors) inside a write or read transaction, and the lock clause of
its claim (PostgreSQL: ``FOR UPDATE SKIP LOCKED``; SQLite needs none, its write
transaction is ``BEGIN IMMEDIATE``, one writer at a time).

A leased delivery keeps its lease expiry in ``next_attempt_at`` too, so one index
finds both queued deliveries that are due and leases that expired.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from tocsin.outbox.model import (
    ACTIVE,
    ClaimedDelivery,
    ClaimedEmail,
    DeliveryUpdate,
    DeliveryView,
    EmailView,
    ListFilter,
    NewEmail,
    Release,
    Status,
)
from tocsin.outbox.tracking import RETRYABLE_REMOTE, next_check_delay
from tocsin.store.attempts_sql import history_of, keep_attempts, trim_attempts
from tocsin.store.inserts import ROWS_PER_INSERT, returning_rows, send_rows
from tocsin.store.lists import marks, padded
from tocsin.store.runner import Database, Row, Runner
from tocsin.store.tracking_sql import (
    TRACKING_COLUMNS,
    TRACKING_JOIN,
    start_tracking,
    tracking_from_row,
)

if TYPE_CHECKING:
    from tocsin.outbox.handoff import Handed

__all__ = ["SQLOutbox", "SQLTransaction"]


def _iso(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_ACTIVE_SQL = "('queued', 'sending')"
_VIEW_COLUMNS = (
    """d.id, d.email_id, d.recipient, d.status, d.priority, d.attempts,
    d.next_attempt_at, d.lease_owner, d.last_step, d.last_reason, d.last_error, d.last_code,
    d.server_reply, e.message_id, e.subject, d.queued_at, d.created_at, d.updated_at,
    d.link, """
    + TRACKING_COLUMNS
)
_VIEW_FROM = f"FROM outbox_delivery d JOIN outbox_email e ON e.id = d.email_id {TRACKING_JOIN}"
# Every sent delivery of a commit in one statement (v.column1…5: id, step, code, reply, link;
# both backends name VALUES columns so): one round trip and one plan, not one per row.
_SENT_SQL = """UPDATE outbox_delivery SET status = 'sent', attempts = attempts + 1,
    next_attempt_at = NULL, lease_owner = NULL, lease_expires_at = NULL,
    last_step = v.column2, last_reason = '', last_error = '', last_code = v.column3,
    server_reply = v.column4, link = v.column5, updated_at = ?
    FROM (VALUES {rows}) AS v
    WHERE outbox_delivery.id = v.column1 AND outbox_delivery.status IN ('queued', 'sending')"""
_SENT_ROW = "(CAST(? AS BIGINT), ?, CAST(? AS INTEGER), ?, ?)"
_SENT_CHUNK = 500  # rows per statement: 2,501 parameters, far below either backend's limit
_OUTCOME_SQL = """UPDATE outbox_delivery SET status = ?, attempts = attempts + ?,
    next_attempt_at = ?, lease_owner = NULL, lease_expires_at = NULL, last_step = ?,
    last_reason = ?, last_error = ?, last_code = ?, server_reply = ?, link = ?, updated_at = ?
    WHERE id = ? AND status = 'sending' AND lease_owner = ?"""
_RELEASE_SQL = """UPDATE outbox_delivery SET status = 'queued', next_attempt_at = ?,
    lease_owner = NULL, lease_expires_at = NULL, updated_at = ?
    WHERE id = ? AND status = 'sending' AND lease_owner = ?"""

_EMAIL_COLUMNS = "message_id, sender, subject, content, smtputf8, priority, created_at"
_EMAIL_ROW = "?, ?, ?, ?, ?, ?, ?"
_QUEUED_COLUMNS = (
    "email_id, recipient, status, priority, next_attempt_at, queued_at, created_at, updated_at"
)
_QUEUED_ROW = "?, ?, 'queued', ?, ?, ?, ?, ?"
_LEASED_COLUMNS = """email_id, recipient, status, priority, next_attempt_at, lease_owner,
    lease_expires_at, queued_at, created_at, updated_at"""
_LEASED_ROW = "?, ?, 'sending', ?, ?, ?, ?, ?, ?, ?"


def _view(row: Row) -> DeliveryView:
    return DeliveryView(
        id=int(row[0]),
        email_id=int(row[1]),
        recipient=str(row[2]),
        status=Status(row[3]),
        priority=int(row[4]),
        attempts=int(row[5]),
        next_attempt_at=None if row[6] is None else float(row[6]),
        lease_owner=row[7],
        last_step=str(row[8]),
        last_reason=str(row[9]),
        last_error=str(row[10]),
        last_code=None if row[11] is None else int(row[11]),
        server_reply=str(row[12]),
        message_id=str(row[13]),
        subject=str(row[14]),
        queued_at=float(row[15]),
        created_at=float(row[16]),
        updated_at=float(row[17]),
        link=str(row[18]),
        remote=tracking_from_row(row[19:]),
    )


class SQLTransaction:
    """An open write transaction: enqueue emails and touch the key-value table.

    ``handoff`` (set by :meth:`tocsin.outbox.handoff.HandoffTicket.attached`) lets an
    enqueue write its deliveries leased to the running engine, which receives them in
    memory after the commit instead of claiming them (see :mod:`tocsin.outbox.handoff`).
    """

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.handoff: Handed | None = None

    def enqueue(self, email: NewEmail, *, now: float | None = None) -> int:
        """Store the email once and a delivery per recipient (queued, or leased to the
        engine through ``handoff``); return its id (see :meth:`enqueue_many`)."""
        return self.enqueue_many([email], now=now)[0]

    def enqueue_many(self, emails: Sequence[NewEmail], *, now: float | None = None) -> list[int]:
        """Store each email once and a delivery per recipient (queued, or leased to the
        engine through ``handoff``); return their ids, in order.

        One statement per table for up to :data:`~tocsin.store.inserts.ROWS_PER_INSERT`
        rows, whatever the number of emails.  Where the backend gives ids ahead
        (PostgreSQL), nothing here waits for the server: a failed INSERT fails the
        transaction later (see :class:`Runner`).  Raises ``ValueError`` (nothing
        written) for an email without recipients or with a recipient twice."""
        for email in emails:
            recipients = email.mail.recipients
            if not recipients:
                raise ValueError("an email needs at least one recipient")
            if len(set(recipients)) != len(recipients):
                raise ValueError("a recipient appears twice in the same email")
        at = time.time() if now is None else now
        ids = self._insert_emails(emails, at)
        ticket = self.handoff
        queued: list[tuple[NewEmail, int]] = []
        leased: list[tuple[NewEmail, int, float]] = []
        sizes = [len(email.mail.recipients) for email in emails]
        leases = ticket.lease(sizes, at) if ticket is not None else [None] * len(emails)
        for email, email_id, until in zip(emails, ids, leases, strict=True):
            if until is None:
                queued.append((email, email_id))
            else:
                leased.append((email, email_id, until))
        if queued:  # nobody reads these ids: the database numbers them
            rows = [
                (email_id, r, email.priority, at, at, at, at)
                for email, email_id in queued
                for r in email.mail.recipients
            ]
            send_rows(self.runner, "outbox_delivery", _QUEUED_COLUMNS, _QUEUED_ROW, rows)
            self.runner.mail_queued()
            if ticket is not None:
                ticket.queued()
        if leased:
            assert ticket is not None  # leases come from it
            for claimed in self._leased(leased, at, owner=ticket.owner):
                ticket.handed(claimed)
        return ids

    def _insert_emails(self, emails: Sequence[NewEmail], at: float) -> list[int]:
        rows = [
            (
                e.mail.message_id,
                e.mail.sender,
                e.subject,
                e.mail.content,
                int(e.mail.smtputf8),
                e.priority,
                at,
            )
            for e in emails
        ]
        ids = self.runner.new_ids("outbox_email", len(rows))
        if ids is not None:
            send_rows(self.runner, "outbox_email", _EMAIL_COLUMNS, _EMAIL_ROW, rows, ids=ids)
            return ids
        # SQLite numbers them: RETURNING's rows come in no promised order, so each id is
        # matched by its Message-ID; a batch that repeats one goes a row at a time.
        distinct = len({row[0] for row in rows}) == len(rows)
        returned = returning_rows(
            self.runner, "outbox_email", _EMAIL_COLUMNS, _EMAIL_ROW, rows,
            returning="id, message_id", size=ROWS_PER_INSERT if distinct else 1,
        )  # fmt: skip
        if distinct:
            by_message_id = {str(r[1]): int(r[0]) for r in returned}
            return [by_message_id[row[0]] for row in rows]
        return [int(r[0]) for r in returned]  # one row a statement: in the rows' order

    def _leased(
        self, leased: Sequence[tuple[NewEmail, int, float]], at: float, *, owner: str
    ) -> list[ClaimedEmail]:
        """Write the deliveries as a claim leaves them (``sending``, leased to ``owner``
        until each email's lease end, which ``next_attempt_at`` holds too); the emails,
        ready to send."""
        rows = [
            (email_id, r, email.priority, until, owner, until, at, at, at)
            for email, email_id, until in leased
            for r in email.mail.recipients
        ]
        ids = self.runner.new_ids("outbox_delivery", len(rows))
        if ids is not None:
            send_rows(self.runner, "outbox_delivery", _LEASED_COLUMNS, _LEASED_ROW, rows, ids=ids)
            made = {(row[0], row[1]): i for i, row in zip(ids, rows, strict=True)}
        else:  # (email_id, recipient) is unique: it names each id RETURNING gives
            returned = returning_rows(
                self.runner, "outbox_delivery", _LEASED_COLUMNS, _LEASED_ROW, rows,
                returning="id, email_id, recipient",
            )  # fmt: skip
            made = {(int(r[1]), str(r[2])): int(r[0]) for r in returned}
        return [
            ClaimedEmail(
                email_id=email_id,
                sender=email.mail.sender,
                content=email.mail.content,
                message_id=email.mail.message_id,
                smtputf8=email.mail.smtputf8,
                priority=email.priority,
                deliveries=tuple(
                    ClaimedDelivery(made[(email_id, r)], r, 0, at) for r in email.mail.recipients
                ),
            )
            for email, email_id, _ in leased
        ]

    def get_value(self, key: str) -> str | None:
        """The stored text for ``key``, or None."""
        rows = self.runner.rows("SELECT value FROM kv WHERE key = ?", (key,))
        return None if not rows else str(rows[0][0])

    def put_value(self, key: str, value: str) -> None:
        """Store ``value`` under ``key`` when the transaction commits."""
        self.runner.run(
            "INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) "
            "DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            (key, value, _iso(time.time())),
        )


class SQLOutbox:
    """The outbox methods of a backend; see :class:`tocsin.outbox.OutboxStore`."""

    def __init__(
        self,
        db: Database,
        *,
        claim_lock: str = "",
        claim_index: str = "",
        looks_first: bool = False,
    ) -> None:
        self._db = db
        self.claim_lock = claim_lock  # appended to the claim's SELECT
        self.claim_index = claim_index  # after the claim's FROM: an index hint, if needed
        # A claim first reads whether anything is due, outside a write transaction: on
        # SQLite an idle engine's polls then never take the one write lock from the
        # intake of another process (which would wait in SQLite's sleeping busy handler).
        self.looks_first = looks_first

    @contextmanager
    def transaction(self) -> Iterator[SQLTransaction]:
        """A write transaction, committed at the end of the block."""
        with self._db.writing() as runner:
            yield SQLTransaction(runner)

    def claim(self, *, owner: str, now: float, limit: int, lease: float) -> list[ClaimedEmail]:
        """Lease up to ``limit`` due deliveries, most urgent first, grouped by email."""
        until = now + lease
        if self.looks_first and not self._any_due(now):
            return []
        with self._db.writing() as runner:
            rows = runner.rows(
                f"WITH due AS MATERIALIZED (SELECT id FROM outbox_delivery{self.claim_index} "
                f"WHERE status IN {_ACTIVE_SQL} AND next_attempt_at <= ? "
                f"ORDER BY priority, next_attempt_at, id LIMIT ?{self.claim_lock}) "
                "UPDATE outbox_delivery SET status = 'sending', lease_owner = ?, "
                "lease_expires_at = ?, next_attempt_at = ?, updated_at = ? "
                "WHERE id IN (SELECT id FROM due) "
                "RETURNING id, email_id, recipient, attempts, queued_at",
                (now, limit, owner, until, until, now),
            )
            if not rows:
                return []
            by_email: dict[int, list[ClaimedDelivery]] = {}
            for row in sorted(rows, key=lambda r: int(r[0])):
                by_email.setdefault(int(row[1]), []).append(
                    ClaimedDelivery(int(row[0]), str(row[2]), int(row[3]), float(row[4]))
                )
            email_ids = padded(list(by_email))  # few texts (SQLite keeps them compiled)
            emails = runner.rows(
                "SELECT id, sender, content, message_id, smtputf8, priority FROM outbox_email "
                f"WHERE id IN ({marks(len(email_ids))})",
                email_ids,
                binary=True,  # the contents as bytes, not hex text (PostgreSQL)
                fresh_plan=True,  # a storm grows the table: see Runner.rows
            )
        claimed = [
            ClaimedEmail(
                email_id=int(e[0]),
                sender=str(e[1]),
                content=bytes(e[2]),
                message_id=str(e[3]),
                smtputf8=bool(e[4]),
                priority=int(e[5]),
                deliveries=tuple(by_email[int(e[0])]),
            )
            for e in emails
        ]
        claimed.sort(key=lambda c: (c.priority, c.deliveries[0].queued_at, c.email_id))
        return claimed

    def renew(self, *, owner: str, now: float, lease: float) -> int:
        """Extend every lease ``owner`` holds to ``now + lease``."""
        until = now + lease
        with self._db.writing() as runner:
            return runner.run(
                "UPDATE outbox_delivery SET next_attempt_at = ?, lease_expires_at = ? "
                "WHERE status = 'sending' AND lease_owner = ?",
                (until, until, owner),
            )

    def lease_owners(self) -> list[str]:
        """The distinct owners of the leases held right now."""
        with self._db.reading() as runner:
            rows = runner.rows(
                "SELECT DISTINCT lease_owner FROM outbox_delivery "
                "WHERE status = 'sending' AND lease_owner IS NOT NULL"
            )
        return sorted(str(r[0]) for r in rows)

    def expire_leases(self, owners: Sequence[str], *, now: float) -> int:
        """End the leases of dead ``owners`` now: due at once, no attempt spent."""
        if not owners:
            return 0
        with self._db.writing() as runner:
            return runner.run(
                "UPDATE outbox_delivery SET next_attempt_at = ?, lease_expires_at = ? "
                f"WHERE status = 'sending' AND lease_owner IN ({marks(len(owners))})",
                (now, now, *owners),
            )

    def give_back(self, emails: Sequence[ClaimedEmail], *, owner: str, now: float) -> None:
        """Queue again, due now, the deliveries of ``emails`` that ``owner`` still holds
        leased: a hand-off whose commit failed (nothing matches) or whose commit's answer
        was lost (the rows were stored).  A row matches only with the email's own
        Message-ID: SQLite may give a rolled-back row's id to a later one."""
        params = [
            (now, now, d.id, owner, e.email_id, e.message_id) for e in emails for d in e.deliveries
        ]
        if not params:
            return
        with self._db.writing() as runner:
            runner.many(
                "UPDATE outbox_delivery SET status = 'queued', next_attempt_at = ?, "
                "lease_owner = NULL, lease_expires_at = NULL, updated_at = ? "
                "WHERE id = ? AND status = 'sending' AND lease_owner = ? AND email_id = "
                "(SELECT id FROM outbox_email WHERE id = ? AND message_id = ?)",
                params,
            )
            runner.mail_queued()

    def record(
        self,
        updates: Sequence[DeliveryUpdate],
        releases: Sequence[Release] = (),
        *,
        owner: str,
        now: float,
    ) -> None:
        """Write outcomes (each also as an attempt in the log) and give back claims, in
        one transaction.  Nothing here waits for an answer: on PostgreSQL the statements
        ride with the COMMIT in one round trip (issue 11), their errors raised there."""
        sent = [u for u in updates if u.status is Status.SENT]
        other = [u for u in updates if u.status is not Status.SENT]
        with self._db.writing() as runner:
            for start in range(0, len(sent), _SENT_CHUNK):
                chunk = sent[start : start + _SENT_CHUNK]  # (padding it cost more than it saved)
                params: list[object] = [now]
                for u in chunk:
                    params += (u.delivery_id, u.step, u.code, u.server_reply, u.link)
                runner.send(_SENT_SQL.format(rows=", ".join([_SENT_ROW] * len(chunk))), params)
            start_tracking(runner, sent, now=now, first_check=next_check_delay(0))
            if other:
                runner.many(_OUTCOME_SQL, [_outcome_params(u, owner, now) for u in other])
            keep_attempts(runner, [u.delivery_id for u in updates], now=now)
            trim_attempts(runner, [u.delivery_id for u in other])
            if releases:
                runner.many(
                    _RELEASE_SQL,
                    [(r.next_attempt_at, now, r.delivery_id, owner) for r in releases],
                )

    def _any_due(self, now: float) -> bool:
        with self._db.reading() as runner:
            return bool(
                runner.rows(
                    f"SELECT 1 FROM outbox_delivery{self.claim_index} "
                    f"WHERE status IN {_ACTIVE_SQL} AND next_attempt_at <= ? LIMIT 1",
                    (now,),
                )
            )

    def next_due(self) -> float | None:
        """The earliest ``next_attempt_at`` of a queued or leased delivery."""
        with self._db.reading() as runner:
            rows = runner.rows(
                f"SELECT MIN(next_attempt_at) FROM outbox_delivery WHERE status IN {_ACTIVE_SQL}"
            )
        return None if not rows or rows[0][0] is None else float(rows[0][0])

    def counts(self) -> dict[Status, int]:
        """Deliveries per status."""
        with self._db.reading() as runner:
            rows = runner.rows("SELECT status, COUNT(*) FROM outbox_delivery GROUP BY status")
        found = {Status(r[0]): int(r[1]) for r in rows}
        return {s: found.get(s, 0) for s in Status}

    def oldest_queued_at(self) -> float | None:
        """The queue time of the oldest delivery still waiting."""
        with self._db.reading() as runner:
            rows = runner.rows(
                f"SELECT MIN(queued_at) FROM outbox_delivery WHERE status IN {_ACTIVE_SQL}"
            )
        return None if not rows or rows[0][0] is None else float(rows[0][0])

    def list_deliveries(self, query: ListFilter) -> list[DeliveryView]:
        """Deliveries matching ``query``, newest first."""
        where, params = _filter_sql(query)
        with self._db.reading() as runner:
            rows = runner.rows(
                f"SELECT {_VIEW_COLUMNS} {_VIEW_FROM} {where} "
                "ORDER BY d.created_at DESC, d.id DESC LIMIT ?",
                (*params, max(0, query.limit)),
            )
        return [_view(r) for r in rows]

    def get_email(self, email_id: int, *, content: bool = False) -> EmailView | None:
        """One email with all its deliveries."""
        body = "e.content" if content else "NULL"
        with self._db.reading() as runner:
            rows = runner.rows(
                "SELECT e.id, e.message_id, e.sender, e.subject, e.priority, "
                f"LENGTH(e.content), e.created_at, {body} FROM outbox_email e WHERE e.id = ?",
                (email_id,),
            )
            if not rows:
                return None
            deliveries = runner.rows(
                f"SELECT {_VIEW_COLUMNS} {_VIEW_FROM} WHERE d.email_id = ? ORDER BY d.id",
                (email_id,),
            )
            history = history_of(runner, email_id)
        e = rows[0]
        return EmailView(
            id=int(e[0]),
            message_id=str(e[1]),
            sender=str(e[2]),
            subject=str(e[3]),
            priority=int(e[4]),
            size=int(e[5]),
            created_at=float(e[6]),
            deliveries=tuple(
                dataclasses.replace(v, history=history.get(v.id, ()))
                for v in map(_view, deliveries)
            ),
            content=None if e[7] is None else bytes(e[7]),
        )

    def retry(self, email_id: int, *, now: float, statuses: Sequence[Status]) -> int:
        """Queue the email's deliveries in ``statuses`` again, with a fresh age."""
        chosen = [s.value for s in statuses if s not in ACTIVE]
        if not chosen:
            return 0
        # A mail the online service took but could not deliver counts as failed too.
        lost = ", ".join(f"'{s.value}'" for s in RETRYABLE_REMOTE)
        with self._db.writing() as runner:
            ids = [
                int(r[0])
                for r in runner.rows(
                    f"SELECT id FROM outbox_delivery WHERE email_id = ? AND (status IN "
                    f"({marks(len(chosen))}) OR (status = 'sent' AND id IN (SELECT "
                    f"delivery_id FROM outbox_tracking WHERE state IN ({lost}))))",
                    (email_id, *chosen),
                )
            ]
            if not ids:
                return 0
            runner.run(f"DELETE FROM outbox_tracking WHERE delivery_id IN ({marks(len(ids))})", ids)
            runner.mail_queued()
            return runner.run(
                "UPDATE outbox_delivery SET status = 'queued', attempts = 0, "
                "next_attempt_at = ?, queued_at = ?, lease_owner = NULL, "
                f"lease_expires_at = NULL, updated_at = ? WHERE id IN ({marks(len(ids))})",
                (now, now, now, *ids),
            )

    def purge(self, *, before: float, statuses: Sequence[Status]) -> int:
        """Delete finished deliveries last changed before ``before``, then orphan emails."""
        chosen = [s.value for s in statuses if s not in ACTIVE]
        if not chosen:
            return 0
        with self._db.writing() as runner:
            deleted = runner.run(
                f"DELETE FROM outbox_delivery WHERE status IN ({marks(len(chosen))}) "
                "AND updated_at < ?",
                (*chosen, before),
            )
            runner.run(
                "DELETE FROM outbox_email WHERE NOT EXISTS "
                "(SELECT 1 FROM outbox_delivery d WHERE d.email_id = outbox_email.id)"
            )
        return deleted


def _outcome_params(u: DeliveryUpdate, owner: str, now: float) -> tuple[object, ...]:
    return (
        u.status.value,
        1 if u.spent else 0,
        u.next_attempt_at if u.status is Status.QUEUED else None,
        u.step,
        u.reason,
        u.error,
        u.code,
        u.server_reply,
        u.link,
        now,
        u.delivery_id,
        owner,
    )


def _filter_sql(query: ListFilter) -> tuple[str, list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    if query.statuses:
        clauses.append(f"d.status IN ({marks(len(query.statuses))})")
        params += [s.value for s in query.statuses]
    if query.older_than is not None:
        clauses.append("d.created_at < ?")
        params.append(query.older_than)
    if query.newer_than is not None:
        clauses.append("d.created_at >= ?")
        params.append(query.newer_than)
    if query.recipient:
        clauses.append("LOWER(d.recipient) LIKE ? ESCAPE '\\'")
        escaped = query.recipient.lower().replace("\\", "\\\\").replace("%", "\\%")
        params.append("%" + escaped.replace("_", "\\_") + "%")
    if query.email_id is not None:
        clauses.append("d.email_id = ?")
        params.append(query.email_id)
    if query.remote_states:
        clauses.append(f"t.state IN ({marks(len(query.remote_states))})")
        params += [s.value for s in query.remote_states]
    if not clauses:
        return "", params
    return "WHERE " + " AND ".join(clauses), params
