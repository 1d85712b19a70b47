"""Acknowledging alarms: from the email's link, the web page, the REST API and the CLI.

One acknowledgement per event, whichever way comes first (the store's primary key
decides, also between workers); a second changes nothing and sends nothing.  The first
sends one short note, threaded under the alarm email, to everyone else who was emailed
about the alarm; the notes are enqueued in the same transaction as the acknowledgement,
so they go through the normal outbox and are never lost nor sent twice.

The email link (``/ack/<token>``) is two steps on purpose: opening it only shows the
alarm and a confirm button (:meth:`AckService.open_link`, changes nothing), because mail
security scanners open every link in a message; the confirming POST
(:meth:`AckService.confirm_link`) acknowledges and uses the token up.

A clear still ends an open alarm, acknowledged or not; a cleared alarm can no longer
be acknowledged (:class:`AckRefused` ``cleared``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from tocsin.ack.model import Acknowledgement, AckVia, can_acknowledge
from tocsin.ack.token import AckClaim, AckSigner, TokenExpired, TokenRefused, token_digest
from tocsin.errors import TocsinError
from tocsin.model import StoredEvent, User
from tocsin.outbox import NewEmail
from tocsin.routing import acknowledges_warnings
from tocsin.services.escalation_schedule import cancel_escalation
from tocsin.services.events import EventsService
from tocsin.services.intake import priority_of
from tocsin.services.outbox import OutboxService
from tocsin.services.sites import NotFound, SitesService, SiteView
from tocsin.store import (
    AckSQL,
    AnyStore,
    EventSQL,
    SiteSQL,
    SQLTransaction,
)

__all__ = ["AckOutcome", "AckRefused", "AckService", "LinkRefused", "LinkView"]

log = logging.getLogger("tocsin.ack")

_MAX_BY = 80


class AckRefused(TocsinError):
    """The event cannot be acknowledged: ``code`` is ``not_alarm`` or ``cleared``."""

    def __init__(self, code: str, event_id: str) -> None:
        super().__init__(f"event {event_id} cannot be acknowledged ({code})")
        self.code = code


class LinkRefused(TocsinError):
    """An acknowledgement link that cannot be used: ``kind`` is ``invalid``, ``expired``
    or ``used``.  Deliberately says no more (the page shows only the kind).

    ``language`` is the recipient's for a genuine (expired or used) link, else None.
    """

    def __init__(self, kind: str, language: str | None = None) -> None:
        super().__init__(f"acknowledgement link refused ({kind})")
        self.kind = kind
        self.language = language


@dataclass(frozen=True, slots=True)
class AckOutcome:
    """The event's acknowledgement; ``new`` False when it had one already (nothing sent)."""

    ack: Acknowledgement
    new: bool
    notices: int


@dataclass(frozen=True, slots=True)
class LinkView:
    """What a genuine link shows: the event, its acknowledgement if any, the recipient."""

    event: StoredEvent
    ack: Acknowledgement | None
    user: User | None
    group_path: str


def _clean_by(by: str) -> str:
    text = " ".join(by.split())[:_MAX_BY]
    return "".join(c for c in text if c.isprintable()) or "?"


class AckService:
    """The acknowledgement use cases on ``store``; ``signer`` checks the links."""

    def __init__(
        self,
        store: AnyStore,
        *,
        sites: SitesService,
        events: EventsService,
        outbox: OutboxService,
        signer: AckSigner,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._sites = sites
        self._events = events
        self._outbox = outbox
        self.signer = signer
        self._clock = clock

    # ------------------------------------------------------------------ reading
    def acks_of(self, event_ids: Sequence[str]) -> dict[str, Acknowledgement]:
        """The acknowledgements of these events, by event id."""
        with self._store.site_reading() as site:
            return AckSQL(site.runner).of(event_ids)

    def _claim(self, token: str) -> AckClaim:
        try:
            return self.signer.verify(token)
        except TokenExpired as exc:
            raise LinkRefused("expired", self._language_of(exc.claim.user_id)) from None
        except TokenRefused:
            raise LinkRefused("invalid") from None

    def _language_of(self, user_id: str) -> str | None:
        user = self._sites.view().user(user_id)
        return str(user.language) if user else None

    def open_link(self, token: str) -> LinkView:
        """What the link shows (GET): changes nothing.  Raises :class:`LinkRefused`."""
        return self._view(token, unused=True)

    def view_of(self, token: str) -> LinkView:
        """What a genuine link shows after it was used (the page after confirming)."""
        return self._view(token, unused=False)

    def _view(self, token: str, *, unused: bool) -> LinkView:
        claim = self._claim(token)
        with self._store.site_reading() as site:
            acks = AckSQL(site.runner)
            view = self._sites.view_in(SiteSQL(site.runner))
            user = view.user(claim.user_id)
            if unused and acks.token_used(token_digest(token)):
                raise LinkRefused("used", str(user.language) if user else None)
            stored = EventSQL(site.runner).get_event(claim.event_id)
            if stored is None:  # purged since: as good as invalid, say no more
                raise LinkRefused("invalid")
            ack = acks.of([claim.event_id]).get(claim.event_id)
        return LinkView(stored, ack, user, _path(view, stored))

    # ------------------------------------------------------------------ writing
    def confirm_link(self, token: str) -> AckOutcome:
        """Acknowledge with the link (POST) and use the token up.

        Raises :class:`LinkRefused` and :class:`AckRefused` (nothing changed then).
        """
        claim = self._claim(token)
        now = self._clock()
        with self._store.transaction() as tx:
            view = self._sites.view_in(SiteSQL(tx.runner))
            user = view.user(claim.user_id)
            by = (user.name or user.email) if user else claim.user_id
            if not AckSQL(tx.runner).use_token(
                token_digest(token), event_id=claim.event_id, now=now, expires_at=claim.expires_at
            ):
                raise LinkRefused("used", str(user.language) if user else None)
            outcome = self._acknowledge(tx, view, claim.event_id, by, AckVia.LINK, claim.user_id)
        return self._after(outcome)

    def acknowledge(self, event_id: str, *, by: str, via: AckVia) -> AckOutcome:
        """Acknowledge ``event_id`` for ``by`` (an admin, an API token, a shell user).

        Raises :class:`~tocsin.services.sites.NotFound` and :class:`AckRefused`.
        """
        with self._store.transaction() as tx:
            view = self._sites.view_in(SiteSQL(tx.runner))
            outcome = self._acknowledge(tx, view, event_id, _clean_by(by), via, None)
        return self._after(outcome)

    def _after(self, outcome: AckOutcome) -> AckOutcome:
        if outcome.notices:
            self._outbox.notify()
        if outcome.new:
            ack = outcome.ack
            log.info("event %s acknowledged via %s", ack.event_id, ack.via.value)
        return outcome

    def _acknowledge(
        self,
        tx: SQLTransaction,
        view: SiteView,
        event_id: str,
        by: str,
        via: AckVia,
        user_id: str | None,
    ) -> AckOutcome:
        runner = tx.runner
        acks, events = AckSQL(runner), EventSQL(runner)
        stored = events.get_event(event_id)
        if stored is None:
            raise NotFound("event", event_id)
        existing = acks.of([event_id]).get(event_id)
        if existing is not None:  # idempotent: the first one stands, nothing is sent
            return AckOutcome(existing, new=False, notices=0)
        warnings = acknowledges_warnings(view.tree, stored.event.group_id)
        if not can_acknowledge(stored.event, warnings=warnings):
            raise AckRefused("not_alarm", event_id)
        if not stored.is_open:
            raise AckRefused("cleared", event_id)
        ack = Acknowledgement(event_id, by, self._clock(), via, user_id)
        if not acks.record(ack):  # another worker was first a moment ago
            return AckOutcome(acks.of([event_id])[event_id], new=False, notices=0)
        cancel_escalation(runner, [event_id], ack.at)  # nobody else is escalated to
        told = events.told_of([event_id]).get(event_id, frozenset())
        others = [u for u in view.users if u.id in told and u.id != user_id]
        return AckOutcome(ack, new=True, notices=self._notify(tx, view, stored, ack, others))

    def _notify(
        self,
        tx: SQLTransaction,
        view: SiteView,
        stored: StoredEvent,
        ack: Acknowledgement,
        users: list[User],
    ) -> int:
        renderer = self._events.renderer()
        if renderer is None or not users:
            return 0
        date = datetime.fromtimestamp(ack.at, UTC)
        sent = 0
        for user in users:
            try:
                rendered = renderer.ack_notice(stored.event, user, ack, tree=view.tree, date=date)
            except ValueError as exc:  # an address that became unusable: the rest still go
                log.warning(
                    "event %s: no acknowledgement note for user %s: %s", ack.event_id, user.id, exc
                )
                continue
            email = NewEmail(
                mail=rendered.mail,
                priority=int(priority_of(stored.event)),
                subject=rendered.subject,
            )
            tx.enqueue(email, now=ack.at)
            sent += 1
        return sent


def _path(view: SiteView, stored: StoredEvent) -> str:
    group_id = stored.event.group_id
    return " / ".join(view.tree.path(group_id)) if group_id in view.tree else group_id
