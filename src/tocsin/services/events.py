"""Use cases around events: accept them (API, CLI), look at them, report Tocsin's own trouble.

:meth:`EventsService.submit` is the intake: it checks a request, then accepts all of
its events in one store transaction together with their notifications and emails
(see :mod:`tocsin.services.intake`), and returns only after that commit — so an
answered event is on disk and so are its emails.  Afterwards it wakes the outbox.

Emails are rendered with the sender from the email settings.  With email disabled
they are still queued (the outbox holds them until it is enabled); with no sender
address at all they cannot be rendered, so they are held and summarised once a
sender is set up (:mod:`tocsin.services.summaries`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from tocsin.ack.model import Acknowledgement
from tocsin.ack.token import AckSigner
from tocsin.alarm_email import EmailRenderer, EmailTemplates
from tocsin.escalation import EscalationState, Timer, escalation_state
from tocsin.model import (
    ROOT_POLICY,
    Category,
    Event,
    NotificationRow,
    Severity,
    State,
    StoredEvent,
    User,
    new_id,
)
from tocsin.routing import Decision, RoutingReason
from tocsin.services.event_input import EventInput, parse_events
from tocsin.services.group_commit import GroupCommit
from tocsin.services.intake import (
    SYSTEM_DEVICE,
    SYSTEM_GROUP,
    Accepted,
    Intake,
    client_ids,
    prepare,
)
from tocsin.services.outbox import OutboxService
from tocsin.services.public_url import ENV_PUBLIC_URL, PUBLIC_URL_KEY, PublicUrlService
from tocsin.services.rendering import EventMails, Sender
from tocsin.services.settings import SETTINGS_KEY, SettingsService
from tocsin.services.sites import SitesService, SiteView
from tocsin.services.test_alarm import (
    QueuedTestAlarm,
    probe_event,
    reason_refusal,
    refusal,
    target_of,
)
from tocsin.settings import EmailSettings
from tocsin.store import AckSQL, AnyStore, EscalationSQL, EventSQL, SiteSQL, SQLTransaction

__all__ = ["ENV_PUBLIC_URL", "EventRecord", "EventsService", "ack_to_dict", "event_to_dict"]

SENDER_KEYS: Final = (SETTINGS_KEY, PUBLIC_URL_KEY)
"""The stored rows the sender is made of: the email settings and the public URL."""

log = logging.getLogger("tocsin.events")


@dataclass(frozen=True, slots=True)
class EventRecord:
    """A stored event with what became of its emails."""

    stored: StoredEvent
    notifications: tuple[NotificationRow, ...]
    ack: Acknowledgement | None = None
    escalation: EscalationState | None = None


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def event_to_dict(record: EventRecord) -> dict[str, Any]:
    """The JSON form of an event and its notifications (API, CLI ``--json``)."""
    event = record.stored.event
    return {
        "id": event.id,
        "client_event_id": event.client_event_id,
        "group": event.group_id,
        "device": event.device,
        "sensor": event.sensor,
        "category": event.category.value,
        "severity": event.severity.value,
        "state": event.state.value,
        "value": event.value,
        "unit": event.unit,
        "threshold": event.threshold,
        "text": event.text,
        "occurred_at": event.occurred_at.isoformat().replace("+00:00", "Z"),
        "received_at": _iso(record.stored.received_at),
        "clears": event.clears,
        "open": record.stored.is_open,
        "ack": ack_to_dict(record.ack),
        "escalation": record.escalation.as_dict() if record.escalation else None,
        "notifications": [
            {
                "user": n.user_id,
                "status": n.status,
                "reason": n.reason,
                "email_id": n.email_id,
                "outbox_id": n.outbox_id,
                "summary_id": n.summary_id,
            }
            for n in record.notifications
        ],
    }


def ack_to_dict(ack: Acknowledgement | None) -> dict[str, Any] | None:
    """The JSON form of an acknowledgement (None: not acknowledged)."""
    if ack is None:
        return None
    return {"by": ack.by, "at": _iso(ack.at), "via": ack.via.value, "user": ack.user_id}


class EventsService:
    """The event intake and the event log.

    ``public_url`` adds links to the web interface in emails (default: the saved
    ``public_url`` setting, else ``$TOCSIN_PUBLIC_URL``); ``ack_signer`` signs the
    "Acknowledge" links of alarm emails; ``templates`` is the template chain (default:
    the shipped templates);
    ``admission`` is entered around accepting events and raises to refuse them (a full
    disk: :meth:`tocsin.services.disk.DiskGuard.intake`).
    """

    def __init__(
        self,
        store: AnyStore,
        *,
        sites: SitesService,
        settings: SettingsService,
        outbox: OutboxService,
        templates: EmailTemplates | None = None,
        public_url: str | None = None,
        clock: Callable[[], float] = time.time,
        admission: Callable[[], AbstractContextManager[None]] = nullcontext,
        ack_signer: AckSigner | None = None,
    ) -> None:
        self._store = store
        self._ack_signer = ack_signer
        self._sites = sites
        self._settings = settings
        self._outbox = outbox
        self._templates = templates or EmailTemplates()
        self._fixed_url = public_url
        self._public_url = PublicUrlService(store)
        self._clock = clock
        self._admission = admission
        self._senders: dict[tuple[str, str, str], Sender] = {}
        self._commits = GroupCommit(store)
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ rendering
    def sender(
        self, settings: EmailSettings | None = None, *, stored: Mapping[str, str] | None = None
    ) -> Sender | None:
        """The renderer for the current sender, or None while no sender address is set up.

        ``stored``: the rows of :data:`SENDER_KEYS`, if just read with something else."""
        settings, url = self._sender_settings(settings, stored)
        key = (settings.sender_address, settings.sender_name or "Tocsin", url or "")
        if not key[0]:
            return None
        with self._lock:
            found = self._senders.get(key)
            if found is None:
                found = Sender(key[0], key[1], self._new_renderer(key[0], key[1], url))
                self._senders = {key: found}  # one sender at a time: keep only the latest
        return found

    def _sender_settings(
        self, given: EmailSettings | None, stored: Mapping[str, str] | None = None
    ) -> tuple[EmailSettings, str | None]:
        """The email settings (``given``, else the stored ones) and the public URL; both
        stored rows read in one statement when both are needed (once per request), or
        taken from ``stored``."""
        if stored is not None:
            settings = given or self._settings.from_stored(stored.get(SETTINGS_KEY))
            if self._fixed_url is not None:
                return settings, self._fixed_url
            return settings, self._public_url.get_from(stored.get(PUBLIC_URL_KEY))
        if self._fixed_url is not None:
            return given or self._settings.load(), self._fixed_url
        if given is not None:
            return given, self._public_url.get()
        raw = self._store.get_values(SENDER_KEYS)
        url = self._public_url.get_from(raw.get(PUBLIC_URL_KEY))
        return self._settings.from_stored(raw.get(SETTINGS_KEY)), url

    def renderer(self, settings: EmailSettings | None = None) -> EmailRenderer | None:
        """The email renderer for the current sender, or None while there is none."""
        found = self.sender(settings)
        return found.renderer if found else None

    def _new_renderer(self, sender: str, name: str, url: str | None) -> EmailRenderer:
        try:
            return EmailRenderer(
                sender=sender,
                sender_name=name,
                public_url=url,
                templates=self._templates,
                ack_signer=self._ack_signer,
            )
        except ValueError as exc:
            if url is None:
                raise
            log.warning("ignoring the public URL for links in emails: %s", exc)
            return EmailRenderer(sender=sender, sender_name=name, templates=self._templates)

    def warm_up(self, *, most: int = 8) -> int:
        """Render a sample alarm email for each language and time zone of the site's
        users (at most ``most``), storing and sending nothing.

        The first real alarm after a start then finds the templates compiled and the
        libraries behind them loaded: without this it paid 15 ms (``tocsin serve``) to
        45 ms (a process that had rendered nothing) more than the next one.  Returns
        how many were rendered: 0 while no sender is set up or no user may get email.
        A failure is logged, never raised (the real render falls back as it always does).
        """
        try:
            sender = self.sender()
            if sender is None:
                return 0
            view = self._sites.view()
            kinds: dict[tuple[str, str], tuple[User, str]] = {}  # a user and a group of theirs
            for user in view.users:
                groups = sorted(g for g in user.group_ids if g in view.tree)
                if user.enabled and groups and len(kinds) < most:
                    kinds.setdefault((str(user.language), user.time_zone), (user, groups[0]))
            for user, group_id in kinds.values():
                event = Event(
                    id=new_id(),
                    group_id=group_id,
                    device="Tocsin",
                    sensor="warm-up",
                    category=Category.FIRE,
                    severity=Severity.ALARM,
                    state=State.RAISED,
                    occurred_at=datetime.now(UTC),
                    text="A sample, rendered at start and thrown away.",
                )
                sender.renderer.alarm(event, user, tree=view.tree)
        except Exception:
            log.warning("could not render the sample emails at start", exc_info=True)
            return 0
        return len(kinds)

    def _mails(self, sender: Sender | None, view: SiteView, now: float) -> EventMails | None:
        date = datetime.fromtimestamp(now, UTC)
        return EventMails(sender, tree=view.tree, date=date) if sender else None

    # ------------------------------------------------------------------ intake
    def submit(self, payload: object) -> list[Accepted]:
        """Check and accept the events of a request body (one event or ``{"events": [...]}``).

        Returns one :class:`Accepted` per event, in order, after the commit.  Raises
        :class:`~tocsin.services.inputs.InputRefused` (nothing written) naming every
        bad field; its ``conflict`` is True for a reused client event id; and
        :class:`~tocsin.errors.StorageFull` (nothing written) when the disk is full.
        """
        batch = isinstance(payload, dict) and "events" in payload
        with self._store.site_reading() as site:  # the site's version and the sender: one read
            version, stored = site.version_and_values(SENDER_KEYS)
            view = self._sites.view_in(site, version=version)
        inputs = parse_events(payload, known_group=view.tree.__contains__)
        with self._admission():
            return self._accept(inputs, batch=batch, read=(view, self.sender(stored=stored)))

    def accept(self, inputs: Sequence[EventInput], *, batch: bool = False) -> list[Accepted]:
        """Accept checked events in one transaction (see :meth:`submit`).

        The emails routing will most likely ask for are rendered first, outside the
        store's write lock (see :mod:`tocsin.services.intake`); the transaction may be
        shared with concurrent requests (see :mod:`tocsin.services.group_commit`).
        Raises :class:`~tocsin.errors.StorageFull` when the disk is full.
        """
        with self._admission():
            return self._accept(inputs, batch=batch)

    def _accept(
        self,
        inputs: Sequence[EventInput],
        *,
        batch: bool,
        read: tuple[SiteView, Sender | None] | None = None,
    ) -> list[Accepted]:
        """``read``: the site the inputs were checked against and the sender, if just
        read (the plan may use them: the transaction renders again if the site changed
        meanwhile)."""
        view, sender = read if read is not None else (None, self.sender())
        now = self._clock()
        ids = [new_id() for _ in inputs]
        with self._store.site_reading() as site:
            view = view or self._sites.view_in(site)
            planner = Intake(None, EventSQL(site.runner), view, None, now=now, ids=ids)
            planned = planner.plan(inputs)
        mails = self._mails(sender, view, now)
        prepared = prepare(mails, planned) if mails else {}

        # The emails go to the running engine in memory after the commit when it can take
        # them, else to the queue with a wake-up (tocsin.outbox.handoff).
        with self._outbox.handing_off() as ticket:

            def work(tx: SQLTransaction) -> list[Accepted]:
                sql = EventSQL(tx.runner)
                # Asked first, answered with the site's version: one round trip (PostgreSQL).
                known = sql.ask_events_by_client_id(client_ids(inputs))
                current = self._sites.view_in(SiteSQL(tx.runner))
                fresh = current is view  # else the site changed meanwhile: nothing planned fits
                ready = prepared if fresh else {}
                mailer = mails if fresh else self._mails(sender, current, now)
                decided = planner.decided if fresh else None
                intake = Intake(
                    tx, sql, current, mailer, now=now, ids=ids, prepared=ready, decided=decided
                )
                with ticket.attached(tx):
                    return intake.run(inputs, batch=batch, known=known)

            return self._commits.run(work)

    # ------------------------------------------------------------------ Tocsin's own trouble
    def report_system(
        self,
        code: str,
        text: str,
        *,
        cleared: bool = False,
        severity: Severity = Severity.ALARM,
    ) -> str | None:
        """Raise (or clear) Tocsin's own problem ``code`` as a ``system`` event.

        One notice per problem: while ``code`` is open, raising it again returns the
        open event's id and sends nothing.  Clearing sends the "resolved" notice to
        those told of the problem and returns its id (None if nothing was open).
        """
        sender = self.sender()
        now = self._clock()
        with self._store.transaction() as tx:
            sql = EventSQL(tx.runner)
            view = self._sites.view_in(SiteSQL(tx.runner))
            intake = Intake(tx, sql, view, self._mails(sender, view, now), now=now)
            open_raises = sql.open_raises(SYSTEM_GROUP, SYSTEM_DEVICE, code, Category.SYSTEM)
            if not cleared and open_raises:
                return open_raises[0].event.id
            if cleared and not open_raises:
                return None
            told = frozenset().union(*sql.told_of([r.event.id for r in open_raises]).values())
            event = Event(
                id=new_id(),
                group_id=SYSTEM_GROUP,
                device=SYSTEM_DEVICE,
                sensor=code,
                category=Category.SYSTEM,
                severity=open_raises[0].event.severity if cleared else severity,
                state=State.CLEARED if cleared else State.RAISED,
                occurred_at=datetime.fromtimestamp(now, UTC),
                text=text,
                clears=open_raises[0].event.id if cleared else None,
            )
            users = view.system_recipients()
            send = tuple(u for u in users if u.id in told) if cleared else users
            sql.close([r.event.id for r in open_raises])
            accepted = intake.commit(event, Decision(event, ROOT_POLICY, send, (), (), None))
        if accepted.notified:
            self._outbox.notify()
        return accepted.id

    # ------------------------------------------------------------------ a test alarm
    def send_test_alarm(self, user_id: str) -> QueuedTestAlarm:
        """Queue a real alarm email to one user, routed like any alarm (see
        :mod:`tocsin.services.test_alarm`).

        Raises :class:`~tocsin.services.sites.NotFound` for an unknown user and
        :class:`~tocsin.services.inputs.InputRefused` (nothing written) when email is
        not set up or on, or when routing would not email the user a real alarm.
        """
        settings = self._settings.load()
        user = self._sites.user(user_id)
        sender = self.sender(settings)
        if sender is None:
            raise refusal("test_alarm_no_sender", user)
        if not settings.enabled:
            raise refusal("test_alarm_email_off", user)
        now = self._clock()
        with self._admission(), self._store.transaction() as tx:
            sql = EventSQL(tx.runner)
            view = self._sites.view_in(SiteSQL(tx.runner))
            user = view.user(user_id) or user
            group_id, category = target_of(user, view.tree)
            event = probe_event(user, group_id, category, now)
            intake = Intake(tx, sql, view, self._mails(sender, view, now), now=now)
            decision = intake.decide(event, frozenset())
            if all(u.id != user.id for u in decision.send):
                reason = decision.reason_for(user.id) or RoutingReason.NOT_ASSIGNED
                raise reason_refusal(reason, user, view.tree.group(group_id).name)
            # Only this user, and no use of the hourly cap (cap_key None).
            intake.commit(event, Decision(event, decision.policy, (user,), (), (), None))
            sql.close([event.id])
            rows = sql.notifications_of([event.id])
            if not rows or rows[0].outbox_id is None:
                raise refusal("test_alarm_not_queued", user)
            outbox_id = rows[0].outbox_id
        self._outbox.notify()
        return QueuedTestAlarm(event.id, outbox_id, user.id, user.email, group_id, category)

    def open_system_problems(self) -> dict[str, str]:
        """Tocsin's own problems still open: code → event id."""
        with self._store.site_reading() as site:
            rows = EventSQL(site.runner).open_of_group(SYSTEM_GROUP)
        return {r.event.sensor: r.event.id for r in rows}

    # ------------------------------------------------------------------ the event log
    def recent(self, *, limit: int = 50, before: float | None = None) -> list[EventRecord]:
        """The newest events with their notifications, newest first."""
        with self._store.site_reading() as site:
            sql = EventSQL(site.runner)
            events = sql.recent_events(limit=limit, before=before)
            rows = sql.notifications_of([e.event.id for e in events])
            acks = AckSQL(site.runner).of([e.event.id for e in events])
            timers = EscalationSQL(site.runner).timers_of([e.event.id for e in events])
        by_event: dict[str, list[NotificationRow]] = {}
        for row in rows:
            by_event.setdefault(row.event_id, []).append(row)
        return [
            EventRecord(
                e,
                tuple(by_event.get(e.event.id, ())),
                acks.get(e.event.id),
                _escalation(timers.get(e.event.id)),
            )
            for e in events
        ]

    def get(self, event_id: str) -> EventRecord | None:
        """One event with its notifications, or None."""
        with self._store.site_reading() as site:
            sql = EventSQL(site.runner)
            stored = sql.get_event(event_id)
            rows = sql.notifications_of([event_id]) if stored else []
            ack = AckSQL(site.runner).of([event_id]).get(event_id) if stored else None
            timers = EscalationSQL(site.runner).timers_of([event_id]).get(event_id)
        return EventRecord(stored, tuple(rows), ack, _escalation(timers)) if stored else None


def _escalation(timers: Sequence[Timer] | None) -> EscalationState | None:
    return escalation_state(timers) if timers else None
