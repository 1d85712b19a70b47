"""Retention: events (and what became of their emails) are kept for a number of days.

Every accepted event stores one ``event`` row and a ``notification`` per user, so a
flapping sensor would grow the database without end.  :func:`purge_events` deletes
the events received more than N days ago, with their notifications, except what is
still needed:

- an alarm that is still active (a raise not cleared yet): its "cleared" email needs it;
- an event with a notification held back for a summary, or with an email still
  waiting in the outbox;
- a raise whose clearing event stays: an incident goes as a whole, once its end is old.

It works in batches (:data:`BATCH_SIZE` events looked at per transaction, each query
going by an index), so even a purge of millions of rows never holds the write lock
for long.  The outbox (the delivery log, with the email bodies) has its own purge
(``tocsin outbox purge``); the hourly run applies the same period to its finished
deliveries.

The period is :data:`DEFAULT_DAYS` (90: a quarter of history for the event log,
enough to look back at a season's incidents) unless the admin sets another (1 to
3650 days) with ``tocsin event retention --days N``; it is kept in the store's
key-value table, so every process and node uses the same.  :func:`run_retention`
is what the minutely timer (:func:`tocsin.services.summaries.tick`) calls: it purges
about once an hour, shared through the store by every process on the database.
The hourly counters of the cap are pruned by the timer itself (48 hours).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final

from tocsin.outbox import Status
from tocsin.services.inputs import refuse
from tocsin.store import AnyStore, EventSQL

__all__ = [
    "BATCH_SIZE",
    "DEFAULT_DAYS",
    "MAX_DAYS",
    "MIN_DAYS",
    "RETRY_AFTER",
    "RUN_EVERY",
    "PurgeReport",
    "RetentionStatus",
    "check_days",
    "count_old",
    "iso",
    "purge_events",
    "retention_status",
    "run_retention",
    "set_retention_days",
]

log = logging.getLogger("tocsin.retention")

DAY: Final = 86400.0
DEFAULT_DAYS: Final = 90
MIN_DAYS: Final = 1
MAX_DAYS: Final = 3650
BATCH_SIZE: Final = 1000
"""Events looked at per transaction: tens of milliseconds of write lock each (measured:
1,000 events with 3 notifications each in 40-80 ms on SQLite, 200 ms on PostgreSQL)."""
RUN_EVERY: Final = 3600.0
"""Seconds between two automatic purges."""
RETRY_AFTER: Final = 300.0
"""Seconds before an automatic purge that failed is tried again."""
RUN_BUDGET: Final = 20.0
"""Seconds one automatic purge may take; a larger one goes on at the next tick."""
CONTINUE_AFTER: Final = 60.0
"""Seconds before an automatic purge that ran out of its budget goes on."""
PAUSE: Final = 0.01
"""Seconds between two batches, so waiting writers (the intake) get the lock."""

_FINISHED: Final = (Status.SENT, Status.FAILED, Status.DEAD)
_KEY: Final = "event_retention"
_STATE_KEY: Final = "event_retention_state"
_WHOLE: Final = re.compile(r"\s*\+?\d{1,9}\s*")


@dataclass(frozen=True, slots=True)
class PurgeReport:
    """What a purge did (or, with ``dry_run``, would do).

    ``examined``: events received before ``cutoff`` looked at; ``events`` and
    ``notifications``: deleted; ``kept``: old events kept because they are still
    needed; ``finished``: False when the time budget ended it early (the rest goes
    next time).
    """

    older_than_days: int
    cutoff: float
    dry_run: bool
    examined: int = 0
    events: int = 0
    notifications: int = 0
    batches: int = 0
    finished: bool = True

    @property
    def kept(self) -> int:
        """Old events kept: active alarms and events a pending email or summary needs."""
        return self.examined - self.events

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready form (API, CLI ``--json``)."""
        return {
            "older_than_days": self.older_than_days,
            "cutoff": iso(self.cutoff),
            "dry_run": self.dry_run,
            "events": self.events,
            "notifications": self.notifications,
            "kept": self.kept,
            "batches": self.batches,
            "finished": self.finished,
        }


@dataclass(frozen=True, slots=True)
class RetentionStatus:
    """The retention period and what the automatic purge did last."""

    days: int
    is_default: bool
    last_run: float | None = None
    last_events: int = 0
    last_notifications: int = 0
    last_deliveries: int = 0
    next_run: float | None = None
    last_error: str = ""

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready form (CLI ``--json``)."""
        return {
            "days": self.days,
            "default": self.is_default,
            "last_run": None if self.last_run is None else iso(self.last_run),
            "last_events": self.last_events,
            "last_notifications": self.last_notifications,
            "last_deliveries": self.last_deliveries,
            "next_run": None if self.next_run is None else iso(self.next_run),
            "last_error": self.last_error,
        }


def iso(timestamp: float) -> str:
    """``timestamp`` as ISO 8601 UTC, to the second (``2026-05-03T03:00:00Z``)."""
    return (
        datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    )


# ---------------------------------------------------------------------- the period
def check_days(value: object, *, field: str = "days") -> int:
    """``value`` (an int, or its digits as text) as a number of days from 1 to 3650.

    Raises :class:`~tocsin.services.inputs.InputRefused` naming ``field``.
    """
    if value is None or value == "":
        raise refuse(field, "field_missing")
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _WHOLE.fullmatch(value):
        number = int(value)
    if number is None or not MIN_DAYS <= number <= MAX_DAYS:
        raise refuse(field, "field_range", low=MIN_DAYS, high=MAX_DAYS)
    return number


def _stored_days(store: AnyStore) -> int | None:
    raw = store.get_value(_KEY)
    if raw is None:
        return None
    try:
        return check_days(json.loads(raw).get("days"))
    except Exception:  # hand-edited or from a future version: keep the default, say so
        log.warning("ignoring the stored event retention %r; using %d days", raw, DEFAULT_DAYS)
        return None


def set_retention_days(store: AnyStore, days: object) -> int:
    """Keep events for ``days`` days from now on (see :func:`check_days`); returns it."""
    checked = check_days(days)
    store.put_value(_KEY, json.dumps({"days": checked}))
    return checked


def retention_status(store: AnyStore) -> RetentionStatus:
    """The period in force (and whether it is the default), and the last automatic run."""
    days = _stored_days(store)
    state = _state(store)
    return RetentionStatus(
        days=DEFAULT_DAYS if days is None else days,
        is_default=days is None,
        last_run=_number(state.get("last_run")),
        last_events=int(state.get("last_events") or 0),
        last_notifications=int(state.get("last_notifications") or 0),
        last_deliveries=int(state.get("last_deliveries") or 0),
        next_run=_number(state.get("next_run")),
        last_error=str(state.get("last_error") or ""),
    )


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _state(store: AnyStore) -> dict[str, Any]:
    raw = store.get_value(_STATE_KEY)
    try:
        state = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return state if isinstance(state, dict) else {}


# ---------------------------------------------------------------------- purging
def purge_events(
    store: AnyStore,
    *,
    older_than_days: object = None,
    now: float | None = None,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
    budget: float | None = None,
    pause: float = PAUSE,
    on_batch: Callable[[PurgeReport], None] | None = None,
) -> PurgeReport:
    """Delete events received more than ``older_than_days`` days before ``now`` (default:
    the retention period) that nothing needs any more, with their notifications.

    Works in transactions of ``batch_size`` events looked at, calling ``on_batch`` with
    the running totals after each commit; stops after ``budget`` seconds, if given
    (``finished`` is then False).  With ``dry_run`` nothing is deleted: the report
    counts what would be.  Raises :class:`~tocsin.services.inputs.InputRefused` for a
    bad number of days, and the store's errors (what was committed stays deleted).
    """
    if older_than_days is None:
        stored = _stored_days(store)
        days = DEFAULT_DAYS if stored is None else stored
    else:
        days = check_days(older_than_days, field="older_than_days")
    at = time.time() if now is None else now
    report = PurgeReport(days, at - days * DAY, dry_run)
    deadline = None if budget is None else time.monotonic() + budget
    after: tuple[float, str] | None = None
    while True:
        with store.site_reading() if dry_run else store.site_writing() as site:
            batch = EventSQL(site.runner).purge_batch(
                before=report.cutoff, after=after, limit=batch_size, dry_run=dry_run
            )
        if batch.last is None:
            return report
        report = replace(
            report,
            examined=report.examined + batch.examined,
            events=report.events + batch.events,
            notifications=report.notifications + batch.notifications,
            batches=report.batches + 1,
        )
        if on_batch is not None:
            on_batch(report)
        after = batch.last
        if batch.examined < batch_size:
            return report
        if deadline is not None and time.monotonic() >= deadline:
            return replace(report, finished=False)
        time.sleep(pause)


def count_old(store: AnyStore, *, older_than_days: int, now: float | None = None) -> int:
    """Events received more than ``older_than_days`` days ago (for a progress bar)."""
    at = time.time() if now is None else now
    with store.site_reading() as site:
        return EventSQL(site.runner).count_before(at - older_than_days * DAY)


# ---------------------------------------------------------------------- the timer
def run_retention(
    store: AnyStore,
    now: float | None = None,
    *,
    budget: float = RUN_BUDGET,
    batch_size: int = BATCH_SIZE,
) -> PurgeReport | None:
    """Purge with the retention period if the last automatic purge is an hour ago.

    Returns None when it is not time yet.  The schedule is in the store, so processes
    sharing a database share it (and a restart does not purge again at once).  A
    purge that fails is tried again :data:`RETRY_AFTER` seconds later (the error is
    raised to the caller, who logs it); one that ran out of its ``budget`` goes on
    at the next tick.
    """
    at = time.time() if now is None else now
    state = _state(store)
    due = _number(state.get("next_run"))
    # A next run beyond one interval can only come from a clock that went back: ignore it.
    if due is not None and at < due <= at + RUN_EVERY:
        return None
    try:
        report = purge_events(store, now=at, budget=budget, batch_size=batch_size)
        # The delivery log (with the email bodies) keeps as long as the event log: its
        # finished deliveries go by the same cutoff (waiting ones never do).
        deliveries = store.purge(before=report.cutoff, statuses=_FINISHED)
    except Exception as exc:
        with contextlib.suppress(Exception):  # the store may be what failed
            _put_state(store, state, next_run=at + RETRY_AFTER, last_error=str(exc)[:300])
        raise
    _put_state(
        store,
        state,
        next_run=at + (RUN_EVERY if report.finished else CONTINUE_AFTER),
        last_run=at,
        last_events=report.events,
        last_notifications=report.notifications,
        last_deliveries=deliveries,
        last_error="",
    )
    return report


def _put_state(store: AnyStore, state: dict[str, Any], **changes: object) -> None:
    state.update(changes)
    store.put_value(_STATE_KEY, json.dumps(state, sort_keys=True))
