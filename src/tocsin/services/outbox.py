"""Use cases around the outbox: enqueue, look at it, retry, purge."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from tocsin.errors import TocsinError
from tocsin.message import Mail
from tocsin.outbox import (
    DeliveryView,
    EmailView,
    ListFilter,
    NewEmail,
    OutboxStore,
    OutboxTransaction,
    Priority,
    Status,
)
from tocsin.outbox.handoff import Handoff, HandoffTicket
from tocsin.outbox.tracking import RemoteState
from tocsin.services.email_detail import EmailDetail

__all__ = ["EmailNotFound", "OutboxService"]

DAY = 86400.0


class EmailNotFound(TocsinError):
    """No email in the outbox has this id."""


class OutboxService:
    """The outbox as the faces see it.

    ``on_enqueue`` (set by ``serve`` to the engine's ``wake``) is called after each
    committed enqueue, so an alarm does not wait for the engine's next poll.
    ``handoff`` (set by ``serve`` to the engine's :attr:`~tocsin.outbox.DeliveryEngine.handoff`)
    lets :meth:`handing_off` give emails to the running engine in memory.
    """

    def __init__(self, store: OutboxStore, *, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self.on_enqueue: Callable[[], None] | None = None
        self.handoff: Handoff | None = None

    def enqueue(
        self, mail: Mail, priority: int = Priority.ALARM, *, tx: OutboxTransaction | None = None
    ) -> int:
        """Put ``mail`` in the outbox; return its email id.

        With ``tx`` the email commits with the caller's transaction (and the caller
        should call :meth:`notify` after the commit); without, it commits at once.
        Raises ``ValueError`` for a mail without recipients or with one twice.
        """
        email = NewEmail.of(mail, priority)
        if tx is not None:
            return tx.enqueue(email, now=self._clock())
        with self._store.transaction() as own:
            email_id = own.enqueue(email, now=self._clock())
        self.notify()
        return email_id

    @contextmanager
    def handing_off(self) -> Iterator[HandoffTicket]:
        """A ticket for the emails one transaction enqueues, attached to it by the caller
        (``with ticket.attached(tx)``): with an engine running here, each email it has
        room for is written leased to it and handed over when the block ends, after the
        commit (no claim round); the others are queued and the engine woken.  Leave
        the block by an exception when the commit failed (see
        :mod:`tocsin.outbox.handoff`)."""
        desk = self.handoff
        ticket = desk.ticket() if desk is not None else HandoffTicket.none()
        try:
            yield ticket
        except BaseException:
            ticket.abandon(self._store)
            raise
        if ticket.deliver():
            self.notify()

    def notify(self) -> None:
        """Tell the engine that new mail is waiting."""
        if self.on_enqueue is not None:
            self.on_enqueue()

    def list(
        self,
        *,
        statuses: Sequence[Status] = (),
        older_than: float | None = None,
        newer_than: float | None = None,
        recipient: str | None = None,
        remote_states: Sequence[RemoteState] = (),
        email_id: int | None = None,
        limit: int = 100,
    ) -> list[DeliveryView]:
        """Deliveries, newest first; ``older_than`` / ``newer_than`` are ages in seconds.

        ``remote_states`` keeps the mail the online service took and reported on so.
        """
        now = self._clock()
        query = ListFilter(
            statuses=tuple(statuses),
            older_than=None if older_than is None else now - older_than,
            newer_than=None if newer_than is None else now - newer_than,
            recipient=recipient or None,
            remote_states=tuple(remote_states),
            email_id=email_id,
            limit=limit,
        )
        return self._store.list_deliveries(query)

    def show(self, email_id: int, *, content: bool = False) -> EmailView:
        """One email with all its deliveries; raises :class:`EmailNotFound`."""
        view = self._store.get_email(email_id, content=content)
        if view is None:
            raise EmailNotFound(f"there is no email {email_id} in the outbox")
        return view

    def detail(self, email_id: int) -> EmailDetail:
        """One email for the delivery log's detail view: each recipient's attempts and
        answers, the headers, the event it is about; raises :class:`EmailNotFound`."""
        return EmailDetail.of(self.show(email_id, content=True))

    def retry(
        self, email_id: int, *, statuses: Sequence[Status] = (Status.DEAD, Status.FAILED)
    ) -> int:
        """Queue the email's dead (and failed) deliveries again, with a fresh maximum age.

        Mail the online service bounced or gave up on counts as failed here.

        Returns how many were queued; raises :class:`EmailNotFound`.
        """
        self.show(email_id)
        count = self._store.retry(email_id, now=self._clock(), statuses=statuses)
        if count:
            self.notify()
        return count

    def purge(self, *, older_than_days: float, statuses: Sequence[Status] = (Status.SENT,)) -> int:
        """Delete deliveries in ``statuses`` untouched for ``older_than_days``; how many.

        Raises ``ValueError`` for a negative age or a status still awaiting delivery.
        """
        if older_than_days < 0:
            raise ValueError("the age must not be negative")
        if any(s in (Status.QUEUED, Status.SENDING) for s in statuses):
            raise ValueError("only finished deliveries (sent, failed, dead) can be purged")
        before = self._clock() - older_than_days * DAY
        return self._store.purge(before=before, statuses=statuses)

    def counts(self) -> dict[Status, int]:
        """Deliveries per status."""
        return self._store.counts()

    def tracking_counts(self) -> dict[RemoteState, int]:
        """Mail the online service took, per state of its later word."""
        return self._store.tracking_counts()
