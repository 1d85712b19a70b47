# Only constants and "?, ?, ?" placeholder lists are put into SQL text here; every value
# is a bound parameter.  Hence:
# ruff: noqa: S608
"""Events, notifications and the hourly counters in SQL, shared by both backends.

The tables are made by the migrations (see :mod:`tocsin.store.migrations`).
:class:`EventSQL` works on any runner, so the event intake writes events, notifications
and counters in the same transaction that enqueues the emails::

    with store.transaction() as tx:
        events = EventSQL(tx.runner)
        events.insert_events(...)
        tx.enqueue_many(...)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from tocsin.model import (
    Category,
    Event,
    NotificationRow,
    Severity,
    State,
    StoredEvent,
)
from tocsin.store.inserts import send_rows
from tocsin.store.lists import marks, padded_chunks
from tocsin.store.runner import Row, Runner

__all__ = ["EventSQL", "PurgeBatch"]


@dataclass(frozen=True, slots=True)
class PurgeBatch:
    """One batch of :meth:`EventSQL.purge_batch`: what it looked at and what went.

    ``last`` is the (received_at, id) of the last event looked at: where the next
    batch starts (None when there was nothing left before the cut-off).
    """

    examined: int
    last: tuple[float, str] | None
    events: int
    notifications: int


_EVENT_COLUMNS: Final = (
    "id, client_event_id, group_id, device, sensor, category, severity, state, occurred_at, "
    "value, unit, threshold, text, clears, received_at, is_open, fingerprint"
)
# The ids as an IN list (padded: few statement texts, which SQLite keeps compiled),
# planned by PostgreSQL at each call (Runner.rows' ``fresh_plan``): for the ids in
# hand, the index is probed whatever the table's size.  The earlier form, ids as
# VALUES rows joined in, made PostgreSQL hash them and read the whole table, 0.6 ms
# a request of 100 events at a few thousand rows and 12 ms at 100,000 (issue 11).
_BY_CLIENT_ID_SQL: Final = (
    f"SELECT {_EVENT_COLUMNS} FROM event WHERE client_event_id IN ({{marks}})"
)


_NOTIFICATION_COLUMNS: Final = (
    "event_id, user_id, status, reason, hour, email_id, outbox_id, summary_id, created_at"
)


_EVENT_ROW: Final = marks(17)
_NOTIFICATION_ROW: Final = marks(9)
_CHUNK: Final = 500  # ids per IN (...) list: far below either backend's parameter limit
_HELD_SQL: Final = (
    "SELECT DISTINCT event_id FROM notification WHERE status = 'held' AND event_id IN ({marks})"
)
_PENDING_SQL: Final = (
    "SELECT DISTINCT n.event_id FROM notification n JOIN outbox_delivery d "
    "ON d.email_id = n.outbox_id WHERE d.status IN ('queued', 'sending') "
    "AND n.event_id IN ({marks})"
)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _stored_event(row: Row) -> StoredEvent:
    event = Event(
        id=str(row[0]),
        client_event_id=None if row[1] is None else str(row[1]),
        group_id=str(row[2]),
        device=str(row[3]),
        sensor=str(row[4]),
        category=Category(row[5]),
        severity=Severity(row[6]),
        state=State(row[7]),
        occurred_at=datetime.fromtimestamp(float(row[8]), UTC),
        value=_float(row[9]),
        unit=str(row[10]),
        threshold=_float(row[11]),
        text=str(row[12]),
        clears=None if row[13] is None else str(row[13]),
    )
    return StoredEvent(event, float(row[14]), bool(row[15]), str(row[16]))


def _notification(row: Row) -> NotificationRow:
    return NotificationRow(
        event_id=str(row[0]),
        user_id=str(row[1]),
        status=str(row[2]),
        reason=str(row[3]),
        hour=int(row[4]),
        email_id=str(row[5]),
        outbox_id=None if row[6] is None else int(row[6]),
        summary_id=None if row[7] is None else str(row[7]),
        created_at=float(row[8]),
    )


def _event_params(event: Event, fingerprint: str, received_at: float) -> tuple[object, ...]:
    return (
        event.id,
        event.client_event_id,
        event.group_id,
        event.device,
        event.sensor,
        event.category.value,
        event.severity.value,
        event.state.value,
        event.occurred_at.timestamp(),
        event.value,
        event.unit,
        event.threshold,
        event.text,
        event.clears,
        received_at,
        int(event.state is State.RAISED),
        fingerprint,
    )


class EventSQL:
    """Every event, notification and counter query, on one runner."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    def events_by_client_id(self, client_ids: Sequence[str]) -> dict[str, StoredEvent]:
        """The stored events with these client event ids, by client event id."""
        return self.ask_events_by_client_id(client_ids)()

    def ask_events_by_client_id(
        self, client_ids: Sequence[str]
    ) -> Callable[[], dict[str, StoredEvent]]:
        """:meth:`events_by_client_id`, asked now and answered with the next wait (see
        :meth:`~tocsin.store.runner.Runner.ask`)."""
        if not client_ids:
            return dict
        if len(client_ids) == 1:  # a lone event: the plain form, one text, kept planned
            sql = f"SELECT {_EVENT_COLUMNS} FROM event WHERE client_event_id = ?"
            asks = [self.runner.ask(sql, client_ids)]
        else:  # (a webhook may name 10,000: in lists of at most _CHUNK)
            asks = [
                self.runner.ask(
                    _BY_CLIENT_ID_SQL.format(marks=marks(len(ids))), ids, fresh_plan=True
                )
                for ids in padded_chunks(client_ids, _CHUNK)
            ]

        def answer() -> dict[str, StoredEvent]:
            found = [_stored_event(r) for asked in asks for r in asked()]
            return {s.event.client_event_id: s for s in found if s.event.client_event_id}

        return answer

    def get_event(self, event_id: str) -> StoredEvent | None:
        """One event, or None."""
        rows = self.runner.rows(f"SELECT {_EVENT_COLUMNS} FROM event WHERE id = ?", (event_id,))
        return _stored_event(rows[0]) if rows else None

    def open_raises(
        self, group_id: str, device: str, sensor: str, category: Category
    ) -> list[StoredEvent]:
        """Raises of this sensor not cleared yet, newest first."""
        rows = self.runner.rows(
            f"SELECT {_EVENT_COLUMNS} FROM event WHERE is_open = 1 AND group_id = ? "
            "AND device = ? AND sensor = ? AND category = ? ORDER BY received_at DESC, id DESC",
            (group_id, device, sensor, category.value),
        )
        return [_stored_event(r) for r in rows]

    def open_of_group(self, group_id: str) -> list[StoredEvent]:
        """Every raise of ``group_id`` not cleared yet, newest first."""
        rows = self.runner.rows(
            f"SELECT {_EVENT_COLUMNS} FROM event WHERE is_open = 1 AND group_id = ? "
            "ORDER BY received_at DESC, id DESC",
            (group_id,),
        )
        return [_stored_event(r) for r in rows]

    def close(self, event_ids: Sequence[str]) -> None:
        """Mark raises as cleared (sent: on PostgreSQL, not waited for)."""
        if event_ids:
            self.runner.send(
                f"UPDATE event SET is_open = 0 WHERE id IN ({marks(len(event_ids))})",
                tuple(event_ids),
            )

    def insert_events(self, events: Sequence[tuple[Event, str]], *, received_at: float) -> None:
        """Store accepted events, each with its fingerprint; a raise is stored open.

        Sent, many to a statement (:mod:`tocsin.store.inserts`): a duplicate id fails
        at the next sync, or the commit."""
        rows = [_event_params(event, fingerprint, received_at) for event, fingerprint in events]
        send_rows(self.runner, "event", _EVENT_COLUMNS, _EVENT_ROW, rows)

    def recent_events(self, *, limit: int, before: float | None = None) -> list[StoredEvent]:
        """The newest events (received before ``before``, if given), newest first."""
        where, params = ("WHERE received_at < ?", [before]) if before is not None else ("", [])
        rows = self.runner.rows(
            f"SELECT {_EVENT_COLUMNS} FROM event {where} "
            "ORDER BY received_at DESC, id DESC LIMIT ?",
            (*params, max(0, limit)),
        )
        return [_stored_event(r) for r in rows]

    # ------------------------------------------------------------ notifications
    def told_of(self, event_ids: Sequence[str]) -> dict[str, frozenset[str]]:
        """Per event id, the users emailed about it (status ``sent``)."""
        if not event_ids:
            return {}
        rows = self.runner.rows(
            "SELECT event_id, user_id FROM notification WHERE status = 'sent' "
            f"AND event_id IN ({marks(len(event_ids))})",
            tuple(event_ids),
        )
        told: dict[str, set[str]] = {}
        for event_id, user_id in rows:
            told.setdefault(str(event_id), set()).add(str(user_id))
        return {k: frozenset(v) for k, v in told.items()}

    def insert_notifications(self, rows: Sequence[NotificationRow]) -> None:
        """Record what became of events' emails (sent, many to a statement)."""
        params = [
            (
                r.event_id,
                r.user_id,
                r.status,
                r.reason,
                r.hour,
                r.email_id,
                r.outbox_id,
                r.summary_id,
                r.created_at,
            )
            for r in rows
        ]
        send_rows(self.runner, "notification", _NOTIFICATION_COLUMNS, _NOTIFICATION_ROW, params)

    def notifications_of(self, event_ids: Sequence[str]) -> list[NotificationRow]:
        """The notifications of these events, by event then user."""
        if not event_ids:
            return []
        rows = self.runner.rows(
            f"SELECT {_NOTIFICATION_COLUMNS} FROM notification "
            f"WHERE event_id IN ({marks(len(event_ids))}) ORDER BY event_id, user_id",
            tuple(event_ids),
        )
        return [_notification(r) for r in rows]

    def held_user_ids(self, *, before_hour: int, reasons_any_hour: Sequence[str] = ()) -> list[str]:
        """Users with held notifications from before ``before_hour`` (or with these reasons)."""
        extra = f" OR reason IN ({marks(len(reasons_any_hour))})" if reasons_any_hour else ""
        rows = self.runner.rows(
            "SELECT DISTINCT user_id FROM notification WHERE status = 'held' "
            f"AND (hour < ?{extra}) ORDER BY user_id",
            (before_hour, *reasons_any_hour),
        )
        return [str(r[0]) for r in rows]

    def held_events(
        self,
        user_id: str,
        *,
        before_hour: int,
        reasons_any_hour: Sequence[str] = (),
        limit: int,
    ) -> list[Event]:
        """The events held back for ``user_id`` that a summary may now report, oldest first."""
        extra = f" OR n.reason IN ({marks(len(reasons_any_hour))})" if reasons_any_hour else ""
        columns = ", ".join(f"e.{c.strip()}" for c in _EVENT_COLUMNS.split(","))
        rows = self.runner.rows(
            f"SELECT {columns} FROM notification n JOIN event e ON e.id = n.event_id "
            f"WHERE n.user_id = ? AND n.status = 'held' AND (n.hour < ?{extra}) "
            "ORDER BY e.occurred_at, e.id LIMIT ?",
            (user_id, before_hour, *reasons_any_hour, limit),
        )
        return [_stored_event(r).event for r in rows]

    def settle_held(
        self, user_id: str, event_ids: Sequence[str], *, status: str, summary_id: str | None
    ) -> int:
        """Mark held notifications of ``user_id`` as summarized (or dropped)."""
        if not event_ids:
            return 0
        return self.runner.run(
            "UPDATE notification SET status = ?, summary_id = ? WHERE user_id = ? "
            f"AND status = 'held' AND event_id IN ({marks(len(event_ids))})",
            (status, summary_id, user_id, *event_ids),
        )

    # ------------------------------------------------------------ the hourly cap
    def hour_count(self, group_id: str, category: Category, hour: int) -> int:
        """Notifications counted for (group, category) in ``hour``."""
        rows = self.runner.rows(
            "SELECT sent FROM hourly_count WHERE group_id = ? AND category = ? AND hour = ?",
            (group_id, category.value, hour),
        )
        return int(rows[0][0]) if rows else 0

    def add_to_count(self, group_id: str, category: Category, hour: int, n: int = 1) -> None:
        """Count ``n`` more notifications for (group, category) in ``hour`` (sent)."""
        self.runner.send(
            "INSERT INTO hourly_count (group_id, category, hour, sent) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (group_id, category, hour) DO UPDATE "
            "SET sent = hourly_count.sent + excluded.sent",
            (group_id, category.value, hour, n),
        )

    def prune_counts(self, *, before_hour: int) -> int:
        """Forget counters of hours before ``before_hour``."""
        return self.runner.run("DELETE FROM hourly_count WHERE hour < ?", (before_hour,))

    # ------------------------------------------------------------ retention
    def count_before(self, before: float) -> int:
        """Events received before ``before`` (needed or not): what a purge looks at."""
        rows = self.runner.rows("SELECT COUNT(*) FROM event WHERE received_at < ?", (before,))
        return int(rows[0][0])

    def purge_batch(
        self,
        *,
        before: float,
        after: tuple[float, str] | None,
        limit: int,
        dry_run: bool = False,
    ) -> PurgeBatch:
        """Delete the events received before ``before`` that nothing needs any more, with
        their notifications, looking at the next ``limit`` events after ``after`` (oldest
        first); with ``dry_run`` only count them.  Run it in a write transaction.

        An event is needed while it is an active alarm (a raise not cleared), has a
        notification held for a summary, or an email still waiting in the outbox; a
        raise also while an event clearing it stays (received since ``before``, or
        needed): an incident goes as a whole, once its end is old.  Every query here
        goes by an index, on at most ``limit`` ids (a plan of one big query with
        correlated subqueries scanned whole tables on PostgreSQL).
        """
        where, params = ("", []) if after is None else ("AND (received_at, id) > (?, ?)", after)
        rows = self.runner.rows(
            f"SELECT id, received_at, is_open FROM event WHERE received_at < ? {where} "
            "ORDER BY received_at, id LIMIT ?",
            (before, *params, max(1, limit)),
        )
        if not rows:
            return PurgeBatch(0, None, 0, 0)
        last = (float(rows[-1][1]), str(rows[-1][0]))
        closed = [str(r[0]) for r in rows if not r[2]]
        clearing = self._in(
            "SELECT id, clears, received_at FROM event WHERE clears IN ({marks})", closed
        )
        old_clears = [str(c[0]) for c in clearing if float(c[2]) < before]
        needed = self._needed([*closed, *old_clears])
        kept = needed | {
            str(c[1]) for c in clearing if float(c[2]) >= before or str(c[0]) in needed
        }
        ids = [i for i in closed if i not in kept]
        if not ids:
            return PurgeBatch(len(rows), last, 0, 0)
        listed = marks(len(ids))
        if dry_run:
            found = self.runner.rows(
                f"SELECT COUNT(*) FROM notification WHERE event_id IN ({listed})", ids
            )
            return PurgeBatch(len(rows), last, len(ids), int(found[0][0]))
        notes = self.runner.run(f"DELETE FROM notification WHERE event_id IN ({listed})", ids)
        events = self.runner.run(f"DELETE FROM event WHERE id IN ({listed})", ids)
        return PurgeBatch(len(rows), last, events, notes)

    def _needed(self, event_ids: Sequence[str]) -> set[str]:
        """Of these (closed) events, those held for a summary or with an email waiting."""
        rows = self._in(_HELD_SQL, event_ids) + self._in(_PENDING_SQL, event_ids)
        return {str(r[0]) for r in rows}

    def _in(self, sql: str, ids: Sequence[str]) -> list[Row]:
        """Rows of ``sql`` (with ``{marks}`` for the ids), in chunks of :data:`_CHUNK` ids."""
        found: list[Row] = []
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            found += self.runner.rows(sql.format(marks=marks(len(chunk))), chunk)
        return found
