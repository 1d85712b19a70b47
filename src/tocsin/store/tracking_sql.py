# Only constants and "?, ?, ?" placeholder lists are put into SQL text here; every value
# is a bound parameter.  Hence:
# ruff: noqa: S608
"""Tracking in SQL: the online service's later word on deliveries it took.

One row per delivery the relay answered 202 for (see :mod:`tocsin.outbox.tracking`),
created in the same transaction that records the delivery as sent, deleted with it.
``next_check_at`` is NULL once the state is final, so the due index stays small.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tocsin.outbox.model import DeliveryUpdate
from tocsin.outbox.tracking import RemoteState, Tracking, TrackingDue, TrackingUpdate
from tocsin.store.lists import marks

if TYPE_CHECKING:
    from tocsin.store.runner import Database, Runner

__all__ = [
    "TRACKING_COLUMNS",
    "TRACKING_JOIN",
    "SQLTracking",
    "start_tracking",
    "tracking_from_row",
]

TRACKING_COLUMNS = """t.tracking_id, t.state, t.detail, t.code, t.checks, t.checked_at,
    t.next_check_at"""
"""The columns :func:`tracking_from_row` reads, in order (``t`` is the tracking table)."""

TRACKING_JOIN = "LEFT JOIN outbox_tracking t ON t.delivery_id = d.id"
"""Joins the tracking row (if any) of delivery ``d``."""


_START_SQL = """INSERT INTO outbox_tracking (delivery_id, tracking_id, state, checks,
    next_check_at, created_at, updated_at) VALUES (?, ?, 'pending', 0, ?, ?, ?)
    ON CONFLICT (delivery_id) DO UPDATE SET tracking_id = excluded.tracking_id,
    state = 'pending', detail = '', code = NULL, checks = 0, checked_at = NULL,
    next_check_at = excluded.next_check_at, created_at = excluded.created_at,
    updated_at = excluded.updated_at"""
_ANSWER_SQL = """UPDATE outbox_tracking SET state = ?, detail = ?, code = ?,
    checks = checks + 1, checked_at = ?, next_check_at = ?, updated_at = ?
    WHERE delivery_id = ?"""
_POSTPONE_SQL = """UPDATE outbox_tracking SET next_check_at = ?, updated_at = ?
    WHERE delivery_id = ? AND next_check_at IS NOT NULL"""


def start_tracking(
    runner: Runner, updates: Sequence[DeliveryUpdate], *, now: float, first_check: float
) -> None:
    """Begin tracking every sent update that carries a tracking id (a retry restarts it)."""
    rows = [
        (u.delivery_id, u.tracking_id, now + first_check, now, now)
        for u in updates
        if u.tracking_id
    ]
    if rows:
        runner.many(_START_SQL, rows)


def tracking_from_row(values: Sequence[Any]) -> Tracking | None:
    """The :class:`Tracking` in ``values`` (the :data:`TRACKING_COLUMNS`), or None."""
    if values[0] is None:
        return None
    return Tracking(
        tracking_id=str(values[0]),
        state=RemoteState(values[1]),
        detail=str(values[2]),
        code=None if values[3] is None else int(values[3]),
        checks=int(values[4]),
        checked_at=None if values[5] is None else float(values[5]),
        next_check_at=None if values[6] is None else float(values[6]),
    )


class SQLTracking:
    """The tracking methods of a backend, beside :class:`~tocsin.store.outbox_sql.SQLOutbox`."""

    def __init__(self, db: Database, *, claim_lock: str = "") -> None:
        self._db = db
        self.claim_lock = claim_lock  # PostgreSQL: FOR UPDATE SKIP LOCKED (as for the outbox)

    def tracking_due(self, *, now: float, limit: int, lease: float = 60.0) -> list[TrackingDue]:
        """Take up to ``limit`` deliveries whose status is due to be asked for.

        They are not due again for ``lease`` seconds (the answer, once recorded, sets
        the real next time), so several processes on one database ask each only once,
        and those of a process that died are asked again after the lease.
        """
        with self._db.writing() as runner:
            taken = runner.rows(
                "WITH due AS MATERIALIZED (SELECT delivery_id FROM outbox_tracking "
                "WHERE next_check_at IS NOT NULL AND next_check_at <= ? "
                f"ORDER BY next_check_at, delivery_id LIMIT ?{self.claim_lock}) "
                "UPDATE outbox_tracking SET next_check_at = ? "
                "WHERE delivery_id IN (SELECT delivery_id FROM due) "
                "RETURNING delivery_id, tracking_id, checks, created_at",
                (now, max(0, limit), now + lease),
            )
            if not taken:
                return []
            ids = [int(r[0]) for r in taken]
            listed = marks(len(ids))
            recipients: dict[Any, Any] = dict(
                runner.rows(
                    f"SELECT id, recipient FROM outbox_delivery WHERE id IN ({listed})", ids
                )
            )
        return sorted(
            (
                TrackingDue(int(r[0]), str(r[1]), str(recipients[r[0]]), int(r[2]), float(r[3]))
                for r in taken
            ),
            key=lambda d: d.delivery_id,
        )

    def next_tracking_due(self) -> float | None:
        """When the earliest pending tracking is due to be asked for, or None."""
        with self._db.reading() as runner:
            rows = runner.rows(
                "SELECT MIN(next_check_at) FROM outbox_tracking WHERE next_check_at IS NOT NULL"
            )
        return None if not rows or rows[0][0] is None else float(rows[0][0])

    def record_tracking(self, updates: Sequence[TrackingUpdate], *, now: float) -> None:
        """Write what the relay answered (or when to ask again), in one transaction."""
        answered = [u for u in updates if u.answered]
        postponed = [u for u in updates if not u.answered]
        with self._db.writing() as runner:
            if answered:
                runner.many(
                    _ANSWER_SQL,
                    [
                        (u.state.value, u.detail, u.code, now, u.next_check_at, now, u.delivery_id)
                        for u in answered
                    ],
                )
            if postponed:
                runner.many(
                    _POSTPONE_SQL, [(u.next_check_at, now, u.delivery_id) for u in postponed]
                )

    def tracking_counts(self) -> dict[RemoteState, int]:
        """Tracked deliveries per state (every state present, zero included)."""
        with self._db.reading() as runner:
            rows = runner.rows("SELECT state, COUNT(*) FROM outbox_tracking GROUP BY state")
        found = {RemoteState(r[0]): int(r[1]) for r in rows}
        return {s: found.get(s, 0) for s in RemoteState}
