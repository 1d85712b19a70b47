"""What runs every minute: summaries of held-back emails, and Tocsin's own trouble as events.

**Summaries.**  The hourly cap and a user's quiet hours hold emails back
(:mod:`tocsin.services.intake` records them as ``held`` notifications).  Once the hour
they were held in is over (the cap), or the user's quiet hours have ended, :func:`tick`
sends each user *one* summary of everything held for them (count, first, last, worst
severity), in the same transaction that marks those notifications ``summarized`` —
nothing is lost and nothing is summarised twice.  While a user is quiet their summary
waits, unless it holds a fire or sabotage alarm.  Emails held because no sender
address was set up are summarised as soon as there is one.

**Tocsin's own trouble.**  :func:`raise_system_event` and :func:`clear_system_event`
report a problem by a stable code as a ``system`` event through the same intake
path (stored, routed to every enabled user with ``system`` email on, queued in the
outbox).  One notice per problem: raising an open problem again sends nothing.
:func:`tick` also runs :class:`ProblemCheck` s and raises or clears their problems, so
a problem that goes away gets its "resolved" notice.  Built in: email waiting in the
outbox for too long while email is enabled (``delivery_delayed``), and emails that
could not be delivered in the last day (``email_undelivered``).

**Housekeeping.**  Every tick forgets the cap's counters of hours over 48 hours
ago; about once an hour it deletes the events past the retention period
(:func:`tocsin.services.retention.run_retention`).  A failure there is logged and
retried later; it never stops the summaries.

Wiring (``tocsin serve`` / ``tocsin worker``)::

    engine = DeliveryEngine(..., on_pause=outbox_pause_notifier(services))
    tasks += [run_summaries(services, stop, checks=default_checks(engine=engine))]
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from tocsin.errors import ConfigurationProblem, FailureLog
from tocsin.model import Event, NotificationStatus, Severity, User
from tocsin.outbox import DeliveryView, ListFilter, NewEmail, PauseState, Status
from tocsin.outbox.tracking import MAX_TRACKING_AGE, RETRYABLE_REMOTE
from tocsin.quiet import breaks_through, is_quiet
from tocsin.routing import RoutingReason, summarize
from tocsin.services.context import Services
from tocsin.services.intake import NO_SENDER, hour_of, priority_of
from tocsin.services.retention import run_retention
from tocsin.store import EventSQL, SiteSQL

__all__ = [
    "DELIVERY_DELAYED",
    "DELIVERY_PAUSED",
    "EMAIL_UNDELIVERED",
    "ProblemCheck",
    "TickReport",
    "clear_system_event",
    "default_checks",
    "delivery_delay_check",
    "engine_check",
    "off_the_loop",
    "outbox_pause_notifier",
    "raise_system_event",
    "run_summaries",
    "send_summaries",
    "tick",
    "undelivered_check",
]

log = logging.getLogger("tocsin.summaries")
_failures = FailureLog(log)  # a full disk: one line a minute, no traceback

DELIVERY_DELAYED = "delivery_delayed"
DELIVERY_PAUSED = "delivery_paused"
EMAIL_UNDELIVERED = "email_undelivered"
_UNDELIVERED_SHOWN = 10  # recipients named in the notice; the delivery log has them all
SUMMARY_LIMIT = 5000
"""At most this many events per summary email; the rest go into the next one."""
_CODE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_ANY_HOUR = (NO_SENDER, RoutingReason.QUIET_HOURS.value)
"""Held for these reasons, an email is summarised as soon as it may be, not after its hour."""


@dataclass(frozen=True, slots=True)
class ProblemCheck:
    """A source of Tocsin's own problems: which ``codes`` it watches, and which are current.

    ``current`` returns code → text (what is wrong and what to do) for the problems
    it sees now.  A watched code that is open but no longer current gets cleared.
    """

    codes: frozenset[str]
    current: Callable[[], Mapping[str, str]]


@dataclass(frozen=True, slots=True)
class TickReport:
    """What one :func:`tick` did."""

    summaries: int = 0
    events_summarized: int = 0
    raised: tuple[str, ...] = ()
    cleared: tuple[str, ...] = ()
    errors: tuple[str, ...] = field(default=())
    events_purged: int = 0


def _check_code(code: str) -> str:
    if not _CODE.fullmatch(code):
        raise ValueError(f"a problem code is 1-64 of a-z 0-9 _ . - (got {code!r})")
    return code


def raise_system_event(
    services: Services, code: str, text: str, *, severity: Severity = Severity.ALARM
) -> str:
    """Report Tocsin's own problem ``code`` (e.g. ``delivery_paused``) with ``text``.

    ``text``'s first line becomes the subject; say what is wrong and what to do.
    Returns the event id; while the problem is open, the open event's (nothing sent).
    Blocking (one store transaction).  Raises ``ValueError`` for a malformed code.
    """
    event_id = services.events.report_system(_check_code(code), text, severity=severity)
    assert event_id is not None
    return event_id


def clear_system_event(services: Services, code: str, text: str = "") -> str | None:
    """Report that Tocsin's problem ``code`` is gone; the "resolved" notice goes to those
    told of it.  Returns its event id, or None if the problem was not open."""
    message = text or f"The problem '{code}' is gone; Tocsin works normally again."
    return services.events.report_system(_check_code(code), message, cleared=True)


# ---------------------------------------------------------------------- checks
def delivery_delay_check(services: Services, *, threshold: float = 900.0) -> ProblemCheck:
    """``delivery_delayed``: while email is enabled, an email waited over ``threshold`` s."""

    def current() -> dict[str, str]:
        if not services.settings.load().enabled:
            return {}  # the admin turned email off: the outbox waits on purpose
        oldest = services.store.oldest_queued_at()
        if oldest is None or time.time() - oldest < threshold:
            return {}
        counts = services.store.counts()
        waiting = counts[Status.QUEUED] + counts[Status.SENDING]
        minutes = int((time.time() - oldest) // 60)
        return {
            DELIVERY_DELAYED: (
                f"Email delivery has been failing for {minutes} minutes; "
                f"{waiting} emails are waiting.\n"
                "Open the delivery log in Tocsin for the reason, and check the email "
                "settings and the mail server. Tocsin keeps trying and sends everything "
                "once delivery works again."
            )
        }

    return ProblemCheck(frozenset({DELIVERY_DELAYED}), current)


def undelivered_check(services: Services, *, window: float = 86_400.0) -> ProblemCheck:
    """``email_undelivered``: an email was refused for good (5xx), given up on (dead), or
    bounced / given up by the online service within the last ``window`` seconds.

    A recipient who does not get alarms must not go unnoticed: the notice names them
    and the server's words, and clears once a day has passed without such a failure.
    """

    def current() -> dict[str, str]:
        since = time.time() - window
        lost = [
            v
            for v in services.store.list_deliveries(
                ListFilter(statuses=(Status.FAILED, Status.DEAD), newer_than=since - window)
            )
            if v.updated_at >= since
        ]
        lost += [
            v
            for v in services.store.list_deliveries(
                ListFilter(remote_states=RETRYABLE_REMOTE, newer_than=since - MAX_TRACKING_AGE)
            )
            if v.remote is not None and (v.remote.checked_at or 0) >= since
        ]
        if not lost:
            return {}
        lines = [f"- {v.recipient}: {_lost_reason(v)}" for v in lost[:_UNDELIVERED_SHOWN]]
        if len(lost) > _UNDELIVERED_SHOWN:
            lines.append(f"- … and {len(lost) - _UNDELIVERED_SHOWN} more")
        return {
            EMAIL_UNDELIVERED: (
                f"{len(lost)} emails could not be delivered in the last 24 hours.\n"
                + "\n".join(lines)
                + "\nCheck these addresses in Tocsin's user list; the delivery log shows every "
                "one and can send it again once the cause is fixed."
            )
        }

    return ProblemCheck(frozenset({EMAIL_UNDELIVERED}), current)


def _lost_reason(view: DeliveryView) -> str:
    if view.remote is not None and view.status is Status.SENT:
        said = view.remote.said or "no details"
        return f"the online service reports {view.remote.state.value}: {said}"
    said = view.last_error or view.server_reply or view.last_reason or "no details"
    return f"{view.status.value}: {said}"


class _PausedEngine(Protocol):
    @property
    def paused(self) -> PauseState | None: ...


def engine_check(engine: _PausedEngine) -> ProblemCheck:
    """``delivery_paused``: the delivery engine paused for a configuration problem."""

    def current() -> dict[str, str]:
        state = engine.paused
        if state is None or state.error is None:
            return {}  # running, or paused on purpose (email disabled)
        return {DELIVERY_PAUSED: _pause_text(state.error)}

    return ProblemCheck(frozenset({DELIVERY_PAUSED}), current)


def default_checks(
    services: Services, *, engine: _PausedEngine | None = None
) -> tuple[ProblemCheck, ...]:
    """The built-in checks (and the engine's, when there is one in this process)."""
    checks = [delivery_delay_check(services), undelivered_check(services)]
    if engine is not None:
        checks.append(engine_check(engine))
    return tuple(checks)


def _pause_text(error: ConfigurationProblem) -> str:
    return (
        f"Email delivery is paused: {error}\n"
        "Every email would fail the same way, so Tocsin stopped trying until the email "
        "settings change. Fix them (the test email shows each step), and the queued emails "
        "go out at once."
    )


def outbox_pause_notifier(services: Services) -> Callable[[ConfigurationProblem], None]:
    """An ``on_pause`` callback for the delivery engine: report the pause at once.

    Called on the engine's event loop, it hands the store work to a thread.
    """

    def on_pause(error: ConfigurationProblem) -> None:
        def report() -> None:
            try:
                raise_system_event(services, DELIVERY_PAUSED, _pause_text(error))
            except Exception:
                _failures.failed("reporting the delivery pause failed")

        off_the_loop(report)

    return on_pause


def off_the_loop(work: Callable[[], None]) -> None:
    """Run ``work`` (store work) in a thread when called on an event loop, else now."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        work()
    else:
        loop.run_in_executor(None, work)


def _sync_problems(
    services: Services, checks: Sequence[ProblemCheck]
) -> tuple[list[str], list[str]]:
    raised: list[str] = []
    cleared: list[str] = []
    open_now = services.events.open_system_problems()
    for check in checks:
        current = check.current()
        for code, text in current.items():
            if code not in open_now:
                raise_system_event(services, code, text)
                raised.append(code)
        for code in sorted(check.codes & open_now.keys()):
            if code not in current:
                clear_system_event(services, code)
                cleared.append(code)
    return raised, cleared


# ---------------------------------------------------------------------- summaries
def send_summaries(services: Services, now: float | None = None) -> tuple[int, int]:
    """Send each user one summary of what was held back before this hour.

    Returns (summaries queued, events summarised).  Nothing happens while no sender
    address is set up: the held notifications wait.
    """
    at = time.time() if now is None else now
    renderer = services.events.renderer()
    if renderer is None:
        return 0, 0
    hour = hour_of(at)
    with services.store.site_reading() as site:
        user_ids = EventSQL(site.runner).held_user_ids(before_hour=hour, reasons_any_hour=_ANY_HOUR)
    summaries = events = 0
    for user_id in user_ids:
        count = _summarize_user(services, user_id, hour=hour, now=at)
        summaries += count > 0
        events += count
    if summaries:
        services.outbox.notify()
    return summaries, events


def _summarize_user(services: Services, user_id: str, *, hour: int, now: float) -> int:
    """One user's summary, queued and marked in one transaction; the events it covers."""
    renderer = services.events.renderer()
    if renderer is None:
        return 0
    with services.store.transaction() as tx:
        sql = EventSQL(tx.runner)
        view = services.sites.view_in(SiteSQL(tx.runner))
        held = sql.held_events(
            user_id, before_hour=hour, reasons_any_hour=_ANY_HOUR, limit=SUMMARY_LIMIT
        )
        ids = [e.id for e in held]
        user = view.user(user_id)
        if not held or user is None or not user.enabled:
            sql.settle_held(user_id, ids, status=NotificationStatus.DROPPED, summary_id=None)
            return 0
        if _waits(user, held, now):
            return 0
        summary = summarize(user_id, held)
        try:
            rendered = renderer.summary(
                summary, user, tree=view.tree, date=datetime.fromtimestamp(now, UTC)
            )
        except ValueError as exc:
            log.warning("no summary for user %s: %s", user_id, exc)
            sql.settle_held(user_id, ids, status=NotificationStatus.FAILED, summary_id=None)
            return 0
        priority = min(priority_of(e) for e in held)
        tx.enqueue(NewEmail(rendered.mail, int(priority), rendered.subject), now=now)
        sql.settle_held(user_id, ids, status=NotificationStatus.SUMMARIZED, summary_id=summary.id)
    return len(held)


def _waits(user: User, held: Sequence[Event], now: float) -> bool:
    """True while ``user`` is in quiet hours and nothing held would break through them
    (a fire alarm the hourly cap held back is summarised at once all the same)."""
    if any(breaks_through(e.category) for e in held):
        return False
    return is_quiet(user.quiet_hours, user.time_zone, datetime.fromtimestamp(now, UTC))


# ---------------------------------------------------------------------- the timer
def tick(
    services: Services,
    now: float | None = None,
    *,
    checks: Sequence[ProblemCheck] | None = None,
) -> TickReport:
    """One round: system problems (``checks``, default :func:`default_checks`), then
    summaries, then forgetting old hourly counters and (about hourly, see
    :func:`~tocsin.services.retention.run_retention`) old events.  A failing check or
    purge is logged and listed in ``errors``; the rest of the round still runs.
    Blocking; run it every minute."""
    at = time.time() if now is None else now
    errors: list[str] = []
    raised: list[str] = []
    cleared: list[str] = []
    try:
        raised, cleared = _sync_problems(
            services, default_checks(services) if checks is None else checks
        )
    except Exception as exc:  # a broken check must not stop the summaries
        _failures.failed("checking Tocsin's own problems failed")
        errors.append(f"checks: {exc}")
    summaries, events = send_summaries(services, at)
    with services.store.site_writing() as site:
        EventSQL(site.runner).prune_counts(before_hour=hour_of(at) - 48)
    purged = None
    try:
        purged = run_retention(services.store, at)  # about once an hour, not every tick
    except Exception as exc:  # retried later by run_retention's own schedule
        _failures.failed("deleting old events failed")
        errors.append(f"retention: {exc}")
    return TickReport(
        summaries,
        events,
        tuple(raised),
        tuple(cleared),
        tuple(errors),
        events_purged=purged.events if purged else 0,
    )


async def run_summaries(
    services: Services,
    stop_event: asyncio.Event,
    *,
    interval: float = 60.0,
    checks: Sequence[ProblemCheck] | None = None,
) -> None:
    """Run :func:`tick` every ``interval`` seconds (in a thread) until ``stop_event`` is set."""
    while not stop_event.is_set():
        try:
            report = await asyncio.to_thread(tick, services, checks=checks)
            if report.summaries or report.raised or report.cleared:
                log.info(
                    "summaries: %d (%d events); problems raised %s, cleared %s",
                    report.summaries,
                    report.events_summarized,
                    list(report.raised),
                    list(report.cleared),
                )
            if report.events_purged:
                log.info("deleted %d events past the retention period", report.events_purged)
        except Exception:
            _failures.failed("the summaries round failed; trying again in %s s", interval)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop_event.wait(), timeout=interval)
