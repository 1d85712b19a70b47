"""One intake transaction: events in, notifications, counters and emails out, together.

:class:`Intake` does the work of one request inside one open store transaction:

1. refuse the whole request if a group or a cleared raise is unknown, or a client
   event id was used for a different event (nothing is written: the transaction
   rolls back);
2. answer a repeated client event id with the stored event, writing nothing;
3. for a ``cleared`` event, find the raise it ends (named by ``clears``, or the
   open raises of the same group, device, sensor and category) and the users who
   were told of it;
4. route the event (:func:`tocsin.routing.route`) over the site's candidates, with
   the hourly counter of its group and category;
5. store the event, one notification per user (``sent`` or ``held``), the counter,
   and enqueue each user's rendered email in the outbox — in the same transaction.
   A request's rows are staged and written together, one statement per table
   (:class:`_Staged`), before anything of them is read and at the end.

Rendering is the slow part (milliseconds per email), so it happens *before* the
write lock where it can: :meth:`Intake.plan` runs steps 3 and 4 on a plain read and
returns who will likely get which email, the caller renders those outside the lock,
and :meth:`Intake.run` (under the lock) decides again and uses a prepared email only
where event, user and site are unchanged — anything else is rendered there and then.
A raced prediction costs time, never correctness.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from tocsin.alarm_email import RenderedEmail
from tocsin.escalation import Timer
from tocsin.model import (
    Category,
    Event,
    NotificationRow,
    NotificationStatus,
    Severity,
    State,
    StoredEvent,
    User,
    email_id,
    new_id,
)
from tocsin.outbox import NewEmail, OutboxTransaction, Priority, priority_for
from tocsin.routing import Decision, RoutingReason, Snapshot, effective_policy, route
from tocsin.services.escalation_schedule import cancel_escalation, plan_escalation
from tocsin.services.event_input import EventInput
from tocsin.services.inputs import InputRefused, issue
from tocsin.services.rendering import EventMails
from tocsin.services.sites import SiteView
from tocsin.store import EscalationSQL, EventSQL
from tocsin.validation import Issue

__all__ = [
    "SYSTEM_DEVICE",
    "SYSTEM_GROUP",
    "URGENT_SYSTEM_CODES",
    "Accepted",
    "Intake",
    "Prepared",
    "client_ids",
    "hour_of",
    "prepare",
    "priority_of",
]

log = logging.getLogger("tocsin.intake")

SYSTEM_GROUP = "_tocsin"
"""The group id of Tocsin's own events (no admin group can have it: ids start with a letter
or digit).  They go to every enabled user with ``system`` email on, whatever their groups."""
SYSTEM_DEVICE = "Tocsin"
_QUIET = RoutingReason.QUIET_HOURS
NO_SENDER = "no_sender"
"""Reason of a notification held because no sender address is set up yet."""


def hour_of(timestamp: float) -> int:
    """The hour (since the epoch) that ``timestamp`` falls in: the unit of the cap."""
    return int(timestamp // 3600)


URGENT_SYSTEM_CODES = frozenset({"delivery_failover", "delivery_paused", "delivery_delayed"})
"""Tocsin's own problems that say alarm email is in trouble: their notices travel like
alarms (on the failover chain too), so the admin hears of the trouble while it lasts
instead of once the primary link carries mail again."""


def priority_of(event: Event) -> Priority:
    """The outbox priority of an event's emails: fire and sabotage alarms first.

    A "cleared" email is less urgent than any new alarm, and one for a warning
    goes with Tocsin's own notices (which never delay an alarm), except the notices
    of :data:`URGENT_SYSTEM_CODES` when raised: those go as alarms.
    """
    if event.group_id == SYSTEM_GROUP:
        urgent = event.sensor in URGENT_SYSTEM_CODES and not event.cleared
        return Priority.ALARM if urgent else Priority.SYSTEM
    if event.cleared:
        return Priority.ALARM if event.severity is Severity.ALARM else Priority.SYSTEM
    return priority_for(event.category.value, event.severity.value)


@dataclass(frozen=True, slots=True)
class Accepted:
    """The answer for one accepted event.

    ``duplicate``: the client event id was seen before; nothing new was written and
    ``id`` is the stored event's.  ``notified`` / ``held`` / ``failed``: how many users
    were emailed / held back for a summary / could not be emailed (see the event log).
    """

    id: str
    client_event_id: str | None
    duplicate: bool = False
    notified: int = 0
    held: int = 0
    clears: str | None = None
    failed: int = 0

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready form."""
        return {
            "id": self.id,
            "client_event_id": self.client_event_id,
            "duplicate": self.duplicate,
            "notified": self.notified,
            "held": self.held,
            "failed": self.failed,
            "clears": self.clears,
        }


@dataclass(frozen=True, slots=True)
class _Clear:
    """What a cleared event ends: the raise it threads with, all raises it closes, who knew."""

    clears: str | None
    closes: tuple[str, ...]
    told: frozenset[str]
    severity: Severity


Prepared = dict[tuple[str, str], tuple[Event, User, RenderedEmail]]
"""Emails rendered ahead, by (event id, user id), with the event and user they were for."""

Decided = dict[int, tuple[Event, Decision]]
"""Routing decisions made ahead (:meth:`Intake.plan`), by the input's index."""


def client_ids(inputs: Sequence[EventInput]) -> list[str]:
    """The client event ids the inputs carry (a client's handle for its retries)."""
    return [e.client_event_id for e in inputs if e.client_event_id]


class _Staged:
    """A request's rows, written together by :meth:`write`: one statement per table for
    the whole request (:mod:`tocsin.store.inserts`), not five an event.

    In the order the foreign keys want: events, their escalation timers, the emails and
    their deliveries (whose ids the notifications carry), the notifications, the
    hourly counts.
    """

    def __init__(self, tx: OutboxTransaction | None, sql: EventSQL, now: float) -> None:
        self._tx = tx
        self._sql = sql
        self._now = now
        self._hour = hour_of(now)
        self.events: list[tuple[Event, str]] = []
        self.timers: list[Timer] = []
        self.rows: list[NotificationRow] = []
        self.sends: list[tuple[NotificationRow, NewEmail]] = []
        self.counts: Counter[tuple[str, Category]] = Counter()

    def write(self) -> None:
        """Write what is staged (nothing, when nothing is)."""
        if not self.events:
            return
        self._sql.insert_events(self.events, received_at=self._now)
        if self.timers:
            EscalationSQL(self._sql.runner).schedule(self.timers)
        sent: list[NotificationRow] = []
        if self.sends:
            assert self._tx is not None, "plan() never sends"
            ids = self._tx.enqueue_many([email for _, email in self.sends], now=self._now)
            sent = [replace(row, outbox_id=i) for (row, _), i in zip(self.sends, ids, strict=True)]
        self._sql.insert_notifications([*self.rows, *sent])
        for (group_id, category), n in self.counts.items():
            self._sql.add_to_count(group_id, category, self._hour, n)
        self.events, self.timers, self.rows, self.sends = [], [], [], []
        self.counts.clear()


class Intake:
    """The work of one request: :meth:`plan` on a read, :meth:`run` in ``tx``.

    ``mails`` is None when no sender address is set up: the emails are then held
    (reason ``no_sender``) and summarised once one is.  ``ids`` are the event ids to
    give the inputs (the same in the plan and the run); ``prepared`` the emails
    rendered from the plan.
    """

    def __init__(
        self,
        tx: OutboxTransaction | None,
        sql: EventSQL,
        view: SiteView,
        mails: EventMails | None,
        *,
        now: float,
        ids: Sequence[str] = (),
        prepared: Prepared | None = None,
        decided: Decided | None = None,
    ) -> None:
        self._tx = tx
        self._sql = sql
        self._view = view
        self._mails = mails
        self._now = now
        self._hour = hour_of(now)
        self._ids = list(ids)
        self._prepared = prepared or {}
        self._decided: Decided = dict(decided or {})
        self._staged = _Staged(tx, sql, now)

    @property
    def decided(self) -> Decided:
        """What :meth:`plan` decided without reading the store, by input index: over the
        same site view and clock, :meth:`run` decides the same (see :meth:`_prepare`)."""
        return self._decided

    def plan(self, inputs: Sequence[EventInput]) -> list[tuple[Event, tuple[User, ...]]]:
        """Who will likely be emailed about which event (read only; problems are skipped).

        Events already stored under their client event id (a client's retries) are left
        out, so a batch of retries renders nothing; a lone event is planned without that
        read (one statement, on PostgreSQL one round trip, less on the common path): a
        lone retry renders its email once for nothing, and the transaction finds it."""
        known = self._sql.events_by_client_id(client_ids(inputs)) if len(inputs) > 1 else {}
        planned: list[tuple[Event, tuple[User, ...]]] = []
        for index, item in enumerate(inputs):
            if item.group_id not in self._view.tree or item.client_event_id in known:
                continue
            prepared = self._prepare(index, item, "", [])
            if prepared is not None:
                planned.append((prepared[0], prepared[1].send))
        return planned

    def run(
        self,
        inputs: Sequence[EventInput],
        *,
        batch: bool,
        known: Callable[[], dict[str, StoredEvent]] | None = None,
    ) -> list[Accepted]:
        """Accept ``inputs`` all together, or raise :class:`InputRefused` (roll back).

        ``batch``: the inputs came as ``{"events": [...]}`` (field names say which one);
        ``known``: the stored events under the inputs' client event ids, asked for in
        this transaction already (``EventSQL.ask_events_by_client_id``).
        """

        def path(index: int) -> str:
            return f"events[{index}]." if batch else ""

        issues = [
            issue(f"{path(i)}group", "unknown_group", group=e.group_id)
            for i, e in enumerate(inputs)
            if e.group_id not in self._view.tree
        ]
        if issues:
            raise InputRefused(issues)
        stored_ones = (known or self._sql.ask_events_by_client_id(client_ids(inputs)))()
        results: list[Accepted] = []
        conflicts: list[Issue] = []
        for index, item in enumerate(inputs):
            stored = stored_ones.get(item.client_event_id or "")
            if stored is None:
                results.append(self._accept(index, item, f"{path(index)}clears", issues))
            elif stored.fingerprint == item.fingerprint:
                results.append(Accepted(stored.event.id, item.client_event_id, duplicate=True))
            else:
                conflicts.append(
                    issue(
                        f"{path(index)}client_event_id",
                        "client_id_conflict",
                        event=stored.event.id,
                    )
                )
        if issues or conflicts:
            raise InputRefused([*issues, *conflicts], conflict=not issues)
        self._staged.write()
        return results

    # ------------------------------------------------------------------ one event
    def _prepare(
        self, index: int, item: EventInput, clears_field: str, issues: list[Issue]
    ) -> tuple[Event, Decision, _Clear | None] | None:
        """The event with its id and thread, and the routing decision (no writes).

        A decision the plan made without reading the store (not a clear, whose thread
        and who was told are read; no hourly cap, whose count is) is taken as it is:
        the run's site view and clock are the plan's, or it is given none (a site that
        changed meanwhile is planned afresh).  It saves routing each event a second
        time with the write lock held (13-15 µs an event on the alarm-path bench).
        """
        clear = None
        if item.state is not State.CLEARED and (decided := self._decided.get(index)):
            return decided[0], decided[1], None
        if item.state is State.CLEARED:
            clear = self._find_raise(item, clears_field, issues)
            if clear is None:
                return None  # refused: the issue is recorded
        event = Event(
            id=self._ids[index] if index < len(self._ids) else new_id(),
            group_id=item.group_id,
            device=item.device,
            sensor=item.sensor,
            category=item.category,
            severity=item.severity or (clear.severity if clear else Severity.ALARM),
            state=item.state,
            occurred_at=item.occurred_at or datetime.fromtimestamp(self._now, UTC),
            value=item.value,
            unit=item.unit,
            threshold=item.threshold,
            text=item.text,
            client_event_id=item.client_event_id,
            clears=clear.clears if clear else None,
        )
        decision, counted = self._decide(event, clear.told if clear else frozenset())
        if self._tx is None and clear is None and not counted:  # planning: see above
            self._decided[index] = (event, decision)
        return event, decision, clear

    def _accept(
        self, index: int, item: EventInput, clears_field: str, issues: list[Issue]
    ) -> Accepted:
        prepared = self._prepare(index, item, clears_field, issues)
        if prepared is None:
            return Accepted("", item.client_event_id)
        event, decision, clear = prepared
        if clear is not None:
            self._sql.close(clear.closes)
            cancel_escalation(self._sql.runner, clear.closes, self._now)  # a clear stops it
        return self._stage(event, decision, item.fingerprint)

    def _find_raise(self, item: EventInput, field: str, issues: list[Issue]) -> _Clear | None:
        self._staged.write()  # the raise it ends may be staged, from earlier in the request
        if item.clears is not None:
            named = self._sql.get_event(item.clears)
            if named is None:
                issues.append(issue(field, "unknown_event", event=item.clears))
                return None
            if named.event.state is not State.RAISED:
                issues.append(issue(field, "not_a_raise", event=item.clears))
                return None
            raises = [named]
        else:
            raises = self._sql.open_raises(item.group_id, item.device, item.sensor, item.category)
        return self._clear_of(raises)

    def _clear_of(self, raises: Sequence[StoredEvent]) -> _Clear:
        """Thread with the newest raise someone was told of; close them all."""
        ids = [r.event.id for r in raises]
        told_by_event = self._sql.told_of(ids)
        told = frozenset().union(*told_by_event.values()) if told_by_event else frozenset()
        thread = next((r for r in raises if told_by_event.get(r.event.id)), None)
        thread = thread or (raises[0] if raises else None)
        return _Clear(
            clears=thread.event.id if thread else None,
            closes=tuple(ids),
            told=told,
            severity=thread.event.severity if thread else Severity.ALARM,
        )

    def decide(self, event: Event, told: frozenset[str]) -> Decision:
        """Route ``event`` over the users who may want it, with this hour's counter."""
        return self._decide(event, told)[0]

    def _decide(self, event: Event, told: frozenset[str]) -> tuple[Decision, bool]:
        """:meth:`decide`, and whether it read this hour's count from the store."""
        policy = effective_policy(self._view.tree, event.group_id, event.category)
        counts: dict[tuple[str, Category], int] = {}
        counted = policy.max_per_hour is not None and not event.cleared
        if counted:
            key = (event.group_id, event.category)
            stored = self._sql.hour_count(event.group_id, event.category, self._hour)
            counts[key] = stored + self._staged.counts[key]  # and this request's, not yet written
        users = self._view.candidates(event.group_id, event.category)
        at = datetime.fromtimestamp(self._now, UTC)  # quiet hours are judged at intake
        snapshot = Snapshot(counts, told, at=at)
        return route(event, tree=self._view.tree, users=users, snapshot=snapshot), counted

    # ------------------------------------------------------------------ writing
    def commit(self, event: Event, decision: Decision, *, fingerprint: str = "") -> Accepted:
        """Store ``event`` and what ``decision`` says, and enqueue its emails, now."""
        accepted = self._stage(event, decision, fingerprint)
        self._staged.write()
        return accepted

    def _stage(self, event: Event, decision: Decision, fingerprint: str) -> Accepted:
        """Stage ``event`` and what ``decision`` says (:class:`_Staged`)."""
        staged = self._staged
        staged.events.append((event, fingerprint))
        if self._tx is not None and not event.cleared:  # a raised alarm's escalation timers
            quiet = [u for u in decision.held if decision.held_reason(u.id) is _QUIET]
            staged.timers += plan_escalation(
                event, self._view.tree, self._now, self._view.policies,
                all_quiet=bool(quiet) and not decision.send,
            )  # fmt: skip
        held = [self._held(event, u, decision.held_reason(u.id).value) for u in decision.held]
        sends = [self._send(event, user) for user in decision.send]
        staged.rows += [*held, *(row for row, email in sends if email is None)]
        staged.sends += [(row, email) for row, email in sends if email is not None]
        if decision.cap_key is not None and decision.send:
            staged.counts[decision.cap_key] += 1
        count = Counter(r.status for r in [*held, *(row for row, _ in sends)])
        return Accepted(
            event.id,
            event.client_event_id,
            notified=count[NotificationStatus.SENT],
            held=count[NotificationStatus.HELD],
            clears=event.clears,
            failed=count[NotificationStatus.FAILED],
        )

    def _held(self, event: Event, user: User, reason: str) -> NotificationRow:
        return self._row(event, user, NotificationStatus.HELD, reason)

    def _row(
        self,
        event: Event,
        user: User,
        status: str,
        reason: str = "",
        outbox_id: int | None = None,
    ) -> NotificationRow:
        return NotificationRow(
            event_id=event.id,
            user_id=user.id,
            status=status,
            reason=reason,
            hour=self._hour,
            email_id=email_id(event.id, user.id),
            outbox_id=outbox_id,
            summary_id=None,
            created_at=self._now,
        )

    def _send(self, event: Event, user: User) -> tuple[NotificationRow, NewEmail | None]:
        """The notification of an email to ``user``, and the email (None: none goes)."""
        if self._mails is None:
            return self._held(event, user, NO_SENDER), None
        try:
            rendered = self._rendered(event, user)
        except Exception as exc:  # an unusable address, a broken template: the event and
            # every other email still go in; the admin sees why this one did not.
            log.warning("event %s: no email for user %s: %s", event.id, user.id, exc)
            return self._row(event, user, NotificationStatus.FAILED, str(exc)[:300]), None
        email = NewEmail(
            mail=rendered.mail, priority=int(priority_of(event)), subject=rendered.subject
        )
        return self._row(event, user, NotificationStatus.SENT), email

    def _rendered(self, event: Event, user: User) -> RenderedEmail:
        ready = self._prepared.get((event.id, user.id))
        if ready is not None and ready[0] == event and ready[1] == user:
            return ready[2]
        assert self._mails is not None
        if event.group_id == SYSTEM_GROUP:
            return self._mails.system_notice(event, user)
        return self._mails.alarm(event, user)


def prepare(mails: EventMails, planned: Sequence[tuple[Event, Sequence[User]]]) -> Prepared:
    """Render the planned emails (outside any lock); an unusable address is left out."""
    ready: Prepared = {}
    for event, users in planned:
        for user in users:
            try:
                ready[(event.id, user.id)] = (event, user, mails.alarm(event, user))
            except Exception:  # noqa: S112  (run() renders it again and records why it failed)
                continue
    return ready
