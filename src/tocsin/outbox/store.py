"""The one small interface both storage backends implement for the outbox.

Writers enqueue inside a transaction of their own, so the event intake can commit an
event and its emails together, before it answers::

    with store.transaction() as tx:
        tx.put_value("last_event", "...")       # the caller's own state
        tx.enqueue(NewEmail.of(mail, Priority.FIRE))

The delivery engine claims due deliveries with a lease, records outcomes in batches,
and renews its leases while it works.  Every method is synchronous and commits before
it returns; the engine calls them from its own worker thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from tocsin.outbox.model import (
    ClaimedEmail,
    DeliveryUpdate,
    DeliveryView,
    EmailView,
    ListFilter,
    NewEmail,
    Release,
    Status,
)
from tocsin.outbox.tracking import RemoteState, TrackingDue, TrackingUpdate

if TYPE_CHECKING:
    from tocsin.outbox.handoff import Handed

__all__ = ["HearsOfMail", "NotNow", "OutboxStore", "OutboxTransaction", "WritesAtOnce"]


class OutboxTransaction(Protocol):
    """Writes that commit together when the ``with`` block ends without an exception.

    ``handoff``, while set (:meth:`tocsin.outbox.handoff.HandoffTicket.attached`), lets
    :meth:`enqueue` write an email leased to the running engine instead of queued.
    """

    handoff: Handed | None

    def enqueue(self, email: NewEmail, *, now: float | None = None) -> int:
        """Store ``email`` once and one delivery per recipient, queued (or leased through
        ``handoff``); return the email id.

        Raises ``ValueError`` for a mail without recipients or with a recipient twice.
        """
        ...

    def enqueue_many(self, emails: Sequence[NewEmail], *, now: float | None = None) -> list[int]:
        """:meth:`enqueue` for each email, in few statements; their ids, in order.

        Raises ``ValueError`` (nothing written) as :meth:`enqueue` does, for any of them.
        """
        ...

    def get_value(self, key: str) -> str | None:
        """The key-value table, read inside this transaction."""
        ...

    def put_value(self, key: str, value: str) -> None:
        """The key-value table, written inside this transaction."""
        ...


class OutboxStore(Protocol):
    """Durable outbox storage; SQLite and PostgreSQL pass the same conformance suite."""

    def transaction(self) -> AbstractContextManager[OutboxTransaction]:
        """A write transaction: committed at the end of the block, rolled back on error."""
        ...

    def claim(self, *, owner: str, now: float, limit: int, lease: float) -> list[ClaimedEmail]:
        """Take up to ``limit`` due deliveries (most urgent first) for ``lease`` seconds.

        Due means queued with ``next_attempt_at <= now``, or sending under a lease that
        expired (its worker died).  Two workers never hold the same delivery.
        """
        ...

    def renew(self, *, owner: str, now: float, lease: float) -> int:
        """Extend every lease ``owner`` holds to ``now + lease``; return how many."""
        ...

    def lease_owners(self) -> list[str]:
        """The distinct owners of the leases held right now."""
        ...

    def expire_leases(self, owners: Sequence[str], *, now: float) -> int:
        """End the leases of ``owners`` (workers known to be dead) as of ``now``, so their
        deliveries are due at once, no attempt spent; return how many."""
        ...

    def give_back(self, emails: Sequence[ClaimedEmail], *, owner: str, now: float) -> None:
        """Queue again, due ``now``, those deliveries of ``emails`` (handed off by a
        transaction whose commit failed) that were stored after all and that ``owner``
        still holds; rows of other emails are never touched."""
        ...

    def record(
        self,
        updates: Sequence[DeliveryUpdate],
        releases: Sequence[Release] = (),
        *,
        owner: str,
        now: float,
    ) -> None:
        """Write outcomes and give back unsent claims, all in one transaction.

        A SENT update is written even if the lease was lost meanwhile (the server has the
        message); any other update only while ``owner`` still holds the lease.
        """
        ...

    def next_due(self) -> float | None:
        """When the earliest queued or leased delivery becomes due, or None if none is."""
        ...

    def counts(self) -> dict[Status, int]:
        """Number of deliveries per status (every status present, zero included)."""
        ...

    def oldest_queued_at(self) -> float | None:
        """The queue time of the oldest delivery still waiting, or None."""
        ...

    def list_deliveries(self, query: ListFilter) -> list[DeliveryView]:
        """Deliveries that match ``query``, newest first, at most ``query.limit``."""
        ...

    def get_email(self, email_id: int, *, content: bool = False) -> EmailView | None:
        """One email with all its deliveries, or None."""
        ...

    def retry(self, email_id: int, *, now: float, statuses: Sequence[Status]) -> int:
        """Queue the email's deliveries in ``statuses`` again, as new; return how many."""
        ...

    def purge(self, *, before: float, statuses: Sequence[Status]) -> int:
        """Delete deliveries in ``statuses`` last updated before ``before``, and emails
        left without deliveries; return the number of deliveries deleted."""
        ...

    def tracking_due(self, *, now: float, limit: int, lease: float = 60.0) -> list[TrackingDue]:
        """Take up to ``limit`` deliveries the online service took whose later status is
        due to be asked for (see :mod:`tocsin.outbox.tracking`); they are not due again
        for ``lease`` seconds, so processes sharing a database ask each only once."""
        ...

    def next_tracking_due(self) -> float | None:
        """When the earliest pending tracking is due, or None if none is pending."""
        ...

    def record_tracking(self, updates: Sequence[TrackingUpdate], *, now: float) -> None:
        """Write what the online service said (or when to ask again), in one transaction."""
        ...

    def tracking_counts(self) -> dict[RemoteState, int]:
        """Tracked deliveries per state (every state present, zero included)."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


@runtime_checkable
class HearsOfMail(Protocol):
    """A store that tells its engine of mail other processes queue (both backends do:
    :mod:`tocsin.store.wakeup`); without it an engine finds that mail at its next poll."""

    def listen_for_mail(self, on_mail: Callable[[], None]) -> AbstractAsyncContextManager[bool]:
        """While the block runs, call ``on_mail`` on the running loop whenever another
        process commits queued mail; yields False if it cannot (then only polls find it)."""
        ...


class NotNow(Exception):
    """The store could not do this at once: another process is writing (SQLite's
    write lock is taken).  Nothing was changed; do it on the store thread instead."""


@runtime_checkable
class WritesAtOnce(Protocol):
    """A store the engine may use on its own event loop when it can take a claim at once
    (SQLite, :meth:`~tocsin.store.sqlite.SQLiteStore.at_once`).

    On another thread, every row and object of a claim hands the GIL back and forth
    with the loop; with claims made on the loop when they can be, the outbox sent at
    1.10× the rate for 0.90× the CPU an email (issue 11).
    """

    def at_once(self) -> AbstractContextManager[bool]:
        """Yields True when the store is free in this process, and holds it for the
        block; inside, a write that would wait for another process raises
        :class:`NotNow` instead, and commits are not synced to disk: use it only for
        what a power cut may take back (a claim's leases).  Yields False otherwise."""
        ...
