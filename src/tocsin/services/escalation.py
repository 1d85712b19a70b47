"""Escalating unacknowledged alarms: group policies, scheduling and firing the timers.

:func:`plan_escalation` gives the intake a raised alarm's timers (one per step and
reminder, see :func:`tocsin.escalation.plan_timers`), which it writes in the
transaction that stores the alarm.  :meth:`EscalationService.fire_due` — run
every few seconds by :func:`run_escalation` in ``tocsin serve`` / ``tocsin worker``
— claims the due timers (PostgreSQL: ``FOR UPDATE SKIP LOCKED``) and, in the same
transaction, enqueues the escalation or reminder emails and marks the timers fired.
So each step fires once with several workers, and a crash or restart before the
commit leaves the timer pending for the next round.

An acknowledgement or a clear cancels the alarm's pending timers; a timer found due
for an alarm acknowledged or cleared meanwhile is cancelled instead of fired.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from tocsin.errors import FailureLog
from tocsin.escalation import (
    EscalationPolicy,
    EscalationState,
    PolicyError,
    Timer,
    TimerKind,
    TimerState,
    effective_escalation,
    escalation_state,
)
from tocsin.model import Event, NotificationRow, NotificationStatus, StoredEvent, User, email_id
from tocsin.outbox import NewEmail
from tocsin.quiet import breaks_through, is_quiet
from tocsin.services.escalation_schedule import (
    cancel_escalation,
    plan_escalation,
    skip_quiet_step,
)
from tocsin.services.events import EventsService
from tocsin.services.intake import hour_of, priority_of
from tocsin.services.outbox import OutboxService
from tocsin.services.sites import NotFound, SitesService, SiteView
from tocsin.store import AckSQL, AnyStore, EscalationSQL, EventSQL, SiteSQL, SQLTransaction

__all__ = [
    "EscalationService",
    "EscalationState",
    "FireReport",
    "cancel_escalation",
    "plan_escalation",
    "run_escalation",
]

log = logging.getLogger("tocsin.escalation")
_failures = FailureLog(log)
_BATCH = 50


@dataclass(frozen=True, slots=True)
class FireReport:
    """What one :meth:`EscalationService.fire_due` round did."""

    fired: int = 0
    cancelled: int = 0
    emails: int = 0


class EscalationService:
    """Group escalation policies and the timers of escalated alarms on ``store``."""

    def __init__(
        self,
        store: AnyStore,
        *,
        sites: SitesService,
        events: EventsService,
        outbox: OutboxService,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._sites = sites
        self._events = events
        self._outbox = outbox
        self._clock = clock
        self._claim_lock = store.outbox.claim_lock

    # ------------------------------------------------------------------ policies
    def policies(self) -> dict[str, EscalationPolicy]:
        """Every group's own policy, by group id."""
        return dict(self._sites.view().policies)

    def effective(self, group_id: str) -> tuple[str, EscalationPolicy] | None:
        """(the group it comes from, the policy) in ``group_id``; raises :class:`NotFound`."""
        view = self._sites.view()
        if group_id not in view.tree:
            raise NotFound("group", group_id)
        return effective_escalation(view.tree, view.policies, group_id)

    def set_policy(self, group_id: str, policy: EscalationPolicy | None) -> None:
        """Give ``group_id`` its own ``policy`` (``None``: inherit again).

        Raises :class:`NotFound` for an unknown group, :class:`PolicyError` naming an
        unknown user.
        """
        with self._store.transaction() as tx:
            view = self._sites.view_in(SiteSQL(tx.runner))
            if group_id not in view.tree:
                raise NotFound("group", group_id)
            if policy is not None:
                check_users(policy, view)
            EscalationSQL(tx.runner).set_policy(group_id, policy, now=self._clock())

    # ------------------------------------------------------------------ state
    def state_of(self, event_ids: Sequence[str]) -> dict[str, EscalationState]:
        """The escalation of these events (events without timers are absent)."""
        with self._store.site_reading() as site:
            timers = EscalationSQL(site.runner).timers_of(event_ids)
        return {k: escalation_state(v) for k, v in timers.items()}

    # ------------------------------------------------------------------ firing
    def fire_due(self, now: float | None = None) -> FireReport:
        """Fire (or cancel) every timer due by ``now``; blocking.

        Nothing happens while no sender address is set up: the timers wait.
        """
        at = self._clock() if now is None else now
        renderer = self._events.renderer()
        if renderer is None:
            return FireReport()
        fired = cancelled = emails = 0
        while True:
            with self._store.transaction() as tx:
                sql = EscalationSQL(tx.runner, claim_lock=self._claim_lock)
                due = sql.claim_due(now=at, limit=_BATCH)
                for timer in due:
                    sent = self._fire(tx, sql, timer, at)
                    if sent is None:
                        cancelled += 1
                    else:
                        fired += 1
                        emails += sent
            if len(due) < _BATCH:
                break
        if emails:
            self._outbox.notify()
        return FireReport(fired, cancelled, emails)

    def _fire(self, tx: SQLTransaction, sql: EscalationSQL, timer: Timer, now: float) -> int | None:
        """Fire one claimed timer: the emails queued, or ``None`` when it was cancelled."""
        events = EventSQL(tx.runner)
        stored = events.get_event(timer.event_id)
        if stored is None or not stored.is_open or AckSQL(tx.runner).of([timer.event_id]):
            sql.cancel([timer.event_id], now=now)
            return None
        view = self._sites.view_in(SiteSQL(tx.runner))
        told = events.told_of([timer.event_id]).get(timer.event_id, frozenset())
        if timer.kind is TimerKind.STEP:
            ids = [u for u in timer.user_ids if u not in told]
        else:
            ids = sorted(told)
        users = [u for u in (view.user(i) for i in ids) if u is not None and u.enabled]
        awake = _awake(users, stored.event, now)
        if timer.kind is TimerKind.STEP and users and not awake:
            skip_quiet_step(tx.runner, timer.event_id, timer.seq, now)  # no waiting for them
        users = awake
        sent = self._send(tx, events, view, stored, timer, users, now)
        sql.mark(timer, TimerState.FIRED, now=now)
        log.info(
            "event %s: %s %d fired (%d emails)", timer.event_id, timer.kind, timer.number, sent
        )
        return sent

    def _send(
        self,
        tx: SQLTransaction,
        events: EventSQL,
        view: SiteView,
        stored: StoredEvent,
        timer: Timer,
        users: Sequence[User],
        now: float,
    ) -> int:
        renderer = self._events.renderer()
        assert renderer is not None
        event = stored.event
        reminder = timer.kind is TimerKind.REMIND
        rows: list[NotificationRow] = []
        queued = 0
        for user in users:
            try:
                rendered = renderer.escalation(
                    event,
                    user,
                    minutes=timer.minutes,
                    reminder=reminder,
                    number=timer.number,
                    tree=view.tree,
                    date=datetime.fromtimestamp(now, UTC),
                )
            except ValueError as exc:  # an unusable address: the others still go
                log.warning("event %s: no escalation email for %s: %s", event.id, user.id, exc)
                continue
            email = NewEmail(rendered.mail, int(priority_of(event)), rendered.subject)
            outbox_id = tx.enqueue(email, now=now)
            queued += 1
            if not reminder:  # told now: the clear and the acknowledgement note reach them
                rows.append(_told(event, user, outbox_id, now))
        events.insert_notifications(rows)
        return queued


def _awake(users: Sequence[User], event: Event, now: float) -> list[User]:
    """``users`` without those in quiet hours at ``now`` (all of them for fire, sabotage).

    A step skips a quiet user (the next step comes at once if nobody of it is awake);
    a reminder is not sent to a quiet user, and is not made up later.
    """
    if breaks_through(event.category):
        return list(users)
    at = datetime.fromtimestamp(now, UTC)
    return [u for u in users if not is_quiet(u.quiet_hours, u.time_zone, at)]


def _told(event: Event, user: User, outbox_id: int, now: float) -> NotificationRow:
    return NotificationRow(
        event_id=event.id,
        user_id=user.id,
        status=NotificationStatus.SENT,
        reason="escalated",
        hour=hour_of(now),
        email_id=email_id(event.id, user.id),
        outbox_id=outbox_id,
        summary_id=None,
        created_at=now,
    )


def check_users(policy: EscalationPolicy, view: SiteView) -> None:
    """Raise :class:`PolicyError` if a step names a user the site does not have."""
    unknown = sorted(u for u in policy.users() if view.user(u) is None)
    if unknown:
        raise PolicyError("escalation_unknown_user", "steps", user=unknown[0])


async def run_escalation(
    service: EscalationService, stop_event: asyncio.Event, *, interval: float = 15.0
) -> None:
    """Run :meth:`EscalationService.fire_due` every ``interval`` s until ``stop_event``."""
    while not stop_event.is_set():
        try:
            report = await asyncio.to_thread(service.fire_due)
            if report.fired or report.cancelled:
                log.info(
                    "escalation: %d timers fired (%d emails), %d cancelled",
                    report.fired,
                    report.emails,
                    report.cancelled,
                )
        except Exception:
            _failures.failed("the escalation round failed; trying again in %s s", interval)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop_event.wait(), timeout=interval)
