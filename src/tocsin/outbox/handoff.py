"""Hand-off: an email leased in its enqueue transaction goes to the running engine in memory.

Without it a lone alarm costs the store a claim round after its enqueue: the engine,
woken, leases the new row (an UPDATE), reads its content back (a SELECT of what the
intake just wrote) and commits, on its store thread, before it can send.  With a
:class:`Handoff` the enqueue writes the deliveries already leased to the engine in
this process, exactly as :meth:`~tocsin.outbox.OutboxStore.claim` leaves a claimed
row (status ``sending``, ``lease_owner`` the engine's owner, ``lease_expires_at`` and
``next_attempt_at`` the lease's end), and after the commit the engine receives the
ready :class:`~tocsin.outbox.model.ClaimedEmail` on its loop and sends it::

    intake thread                              engine loop
    ticket = handoff.ticket()
    with store.transaction() as tx:
        with ticket.attached(tx):
            tx.enqueue(email)   ─ lease? ─▶ (room, not paused, fingerprint current, due)
    ticket.deliver()  ──── call_soon_threadsafe ────▶ ready queue ─▶ sender

An email is handed off only when that is safe; otherwise it is queued and the engine
woken, as before (``deliver`` returns True then): no engine running in this process,
the engine stopping or paused, its settings fingerprint stale, no room under its
in-flight bound, or the email not due yet by the engine's clock.

Nothing is lost on the way: the rows are on disk, leased.  A process killed after the
commit leaves leases that a restart takes back at once (:mod:`.incarnation`) or that
expire after the lease; an engine that stops waits for the tickets it leased to to
land and gives their rows back with the rest of its unsent claims; a commit that
failed (:meth:`HandoffTicket.abandon`) gives back whatever of it was stored after all,
so the engine's renewer does not keep such a row leased for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from typing import Protocol

from tocsin.outbox.model import ClaimedEmail
from tocsin.outbox.store import OutboxStore

__all__ = ["EngineState", "Handed", "Handoff", "HandoffTicket", "landing_after_the_answer"]

log = logging.getLogger("tocsin.outbox")

_UNCHECKED = object()  # a ticket that has not read the settings fingerprint yet

_HELD: ContextVar[list[Callable[[], None]] | None] = ContextVar("tocsin_handoff_held", default=None)
"""Landings held until the request's answer is written (see :func:`landing_after_the_answer`)."""


@contextlib.contextmanager
def landing_after_the_answer() -> Iterator[None]:
    """Hold the hand-offs of the work done in this block (and in the worker threads it
    starts, which copy the context) until the block ends, then land them.

    An HTTP face wraps its request in it so the answer goes out first: landed at once,
    the engine's sender would start writing the email to the server on the event loop
    ahead of the waiting 202 (the loop runs callbacks in order).  The block ends in any
    case (the answer written or not), so a held landing is never lost.
    """
    held: list[Callable[[], None]] = []
    token = _HELD.set(held)
    try:
        yield
    finally:
        _HELD.reset(token)
        for land in held:
            land()


class EngineState(Protocol):
    """What the hand-off asks the running engine (read from any thread)."""

    def taking(self) -> object | None:
        """The settings fingerprint the engine sends with while it can take emails
        now (running, not stopping, not paused), else None."""
        ...

    def in_flight(self) -> int:
        """Deliveries the engine holds and has not finished with."""
        ...


class Handed(Protocol):
    """Where a transaction's enqueue asks for, and reports, leased emails: a ticket
    attached to the transaction (``tx.handoff``, see :meth:`HandoffTicket.attached`)."""

    owner: str
    """The lease owner to write (the engine's)."""

    def lease(self, deliveries: Sequence[int], at: float) -> list[float | None]:
        """For each email of one enqueue (by its number of recipients), all queued at
        ``at``: the lease's end if the engine takes it now; None: queue it."""
        ...

    def handed(self, email: ClaimedEmail) -> None:
        """``email`` was written leased (it goes to the engine after the commit)."""
        ...

    def queued(self) -> None:
        """An email was written queued (the engine must be woken after the commit)."""
        ...


class _Attachable(Protocol):
    handoff: Handed | None


class Handoff:
    """The engine's side of the hand-off; thread-safe.

    ``owner`` and ``lease`` are the engine's; ``room`` bounds the deliveries the engine
    holds (handed or claimed, not yet finished) for a hand-off to be taken, email by
    email; ``settings_version`` is the engine's fingerprint source, read once per
    ticket (in the enqueuing thread, inside its transaction).

    With ``most_or_none`` (an engine that does not claim: serve beside its delivery
    processes, whose room is only its connections) an engine that holds none takes
    the first email of any size, and an enqueue's emails are taken only when the
    engine can take at least half of their deliveries; else they go to the queue
    whole.  A lone alarm keeps its short path (to two people: both; to three: two of
    them).  A burst's request of a hundred waits for the delivery processes either
    way, so the two serve could take would only cost it two sends and two records,
    each a commit of its own, on the core its intake needs (issue 11: 5-10 % of
    serve's CPU in a burst).
    """

    def __init__(
        self,
        *,
        owner: str,
        lease: float,
        room: int,
        most_or_none: bool = False,
        clock: Callable[[], float] = time.time,
        settings_version: Callable[[], object] | None = None,
    ) -> None:
        self.owner = owner
        self._lease = lease
        self._room = room
        self._most_or_none = most_or_none
        self._clock = clock
        self._version = settings_version
        self._lock = threading.Lock()
        self._state: EngineState | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._land: Callable[[list[ClaimedEmail]], None] | None = None
        self._reserved = 0  # deliveries leased by tickets that have not landed yet
        self._settled = asyncio.Event()

    # ------------------------------------------------------------------ the intake's side
    def ticket(self) -> HandoffTicket:
        """A ticket for one transaction's emails (attach it, then deliver or abandon)."""
        return HandoffTicket(self)

    # ------------------------------------------------------------------ the engine's side
    def open(
        self,
        state: EngineState,
        land: Callable[[list[ClaimedEmail]], None],
    ) -> None:
        """Take hand-offs from now on; ``land`` runs on the calling (the engine's) loop
        with each ticket's emails."""
        with self._lock:
            self._loop = asyncio.get_running_loop()
            self._state = state
            self._land = land
            self._settled = asyncio.Event()

    def close(self) -> None:
        """Take no more hand-offs (the engine is stopping); tickets already leased to
        still land, until :meth:`wind_down`."""
        with self._lock:
            self._state = None
            if self._reserved == 0:
                self._settled.set()

    async def wind_down(self, timeout: float) -> None:
        """After :meth:`close`: wait (at most ``timeout`` seconds) until every ticket
        leased to has landed or was abandoned, then take no more landings: the engine
        gives back what it holds next, and a later landing is left to its leases (they
        run out, or a restart takes them back)."""
        with self._lock:
            waiting = self._reserved > 0
        if waiting:
            try:
                await asyncio.wait_for(self._settled.wait(), timeout)
            except TimeoutError:
                log.warning("hand-offs still committing at stop; their leases will expire")
        with self._lock:
            self._land = None
            self._loop = None

    # ------------------------------------------------------------------ the ticket's calls
    def _reserve(self, deliveries: Sequence[int], at: float, version: object) -> list[float | None]:
        """The leases of one enqueue's emails (see :meth:`HandoffTicket.lease`)."""
        none: list[float | None] = [None] * len(deliveries)
        with self._lock:
            state = self._state
            if state is None:
                return none
            held = state.taking()
            if held is None or (self._version is not None and version != held):
                return none
            now = self._clock()
            if at > now:  # not due yet by the engine's clock: a claim takes it in time
                return none
            until = now + self._lease
            held_now = state.in_flight() + self._reserved
            leases: list[float | None] = []
            taken = 0
            for count in deliveries:
                fits = held_now + count <= self._room or (held_now == 0 and self._most_or_none)
                leases.append(until if fits else None)
                if fits:
                    held_now += count
                    taken += count
            if self._most_or_none and 2 * taken < sum(deliveries):
                return none  # a sliver of a big enqueue: it all goes to the queue
            self._reserved += taken
            return leases

    def _read_version(self) -> object:
        if self._version is None or self._state is None:
            return None
        try:
            return self._version()
        except Exception:
            log.exception("reading the settings version failed; queueing instead")
            return _UNCHECKED

    def _release(self, deliveries: int) -> None:
        """Give back a reservation (on any thread)."""
        with self._lock:
            self._reserved -= deliveries
            if self._reserved == 0 and self._state is None:
                self._loop_call(self._settled.set)

    def _loop_call(self, fn: Callable[[], None]) -> bool:
        """Run ``fn`` on the engine's loop (the lock is held); False if it is gone."""
        loop = self._loop
        if loop is None:
            return False
        try:
            loop.call_soon_threadsafe(fn)
        except RuntimeError:  # the loop closed
            return False
        return True

    def _send(self, emails: list[ClaimedEmail], deliveries: int) -> None:
        """Land ``emails`` on the engine's loop (from the committing thread)."""
        with self._lock:
            if self._loop_call(lambda: self._landing(emails, deliveries)):
                return
        log.warning(
            "the delivery engine stopped before taking %d emails; their leases run out "
            "and they are sent then (or at the next start)",
            len(emails),
        )

    def _landing(self, emails: list[ClaimedEmail], deliveries: int) -> None:
        """On the engine's loop: hand over, then end the reservation (in this order, so
        the room counted never dips below what is held)."""
        land = self._land
        if land is not None:
            land(emails)
        else:
            log.warning("%d emails landed after the engine gave its leases back", len(emails))
        with self._lock:
            self._reserved -= deliveries
            if self._reserved == 0 and self._state is None:
                self._settled.set()


class HandoffTicket:
    """One transaction's hand-off: what its enqueues leased, delivered after the commit.

    Use from the thread that commits::

        ticket = handoff.ticket()
        try:
            with store.transaction() as tx, ticket.attached(tx):
                ...  # tx.enqueue(...)
        except BaseException:
            ticket.abandon(store)
            raise
        if ticket.deliver():
            engine.wake()  # some emails were queued instead
    """

    def __init__(self, handoff: Handoff | None) -> None:
        self._handoff = handoff
        self.owner = handoff.owner if handoff is not None else ""
        self._version: object = _UNCHECKED
        self._checked = False
        self._reserved = 0
        self._emails: list[ClaimedEmail] = []
        self._queued = False
        self._done = False

    @classmethod
    def none(cls) -> HandoffTicket:
        """A ticket that never leases: every email is queued (no engine here)."""
        return cls(None)

    @contextlib.contextmanager
    def attached(self, tx: _Attachable) -> Iterator[None]:
        """Let ``tx``'s enqueues in the block lease through this ticket."""
        tx.handoff = self
        try:
            yield
        finally:
            tx.handoff = None

    # ------------------------------------------------------------------ Handed
    def lease(self, deliveries: Sequence[int], at: float) -> list[float | None]:
        """See :class:`Handed`."""
        desk = self._handoff
        if not self._checked and desk is not None:  # one fingerprint read per transaction
            self._checked = True
            self._version = desk._read_version()
        if desk is None or self._version is _UNCHECKED:
            return [None] * len(deliveries)
        leases = desk._reserve(deliveries, at, self._version)
        self._reserved += sum(
            n for n, until in zip(deliveries, leases, strict=True) if until is not None
        )
        return leases

    def handed(self, email: ClaimedEmail) -> None:
        """See :class:`Handed`."""
        self._emails.append(email)

    def queued(self) -> None:
        """See :class:`Handed`."""
        self._queued = True

    # ------------------------------------------------------------------ after the commit
    @property
    def emails(self) -> tuple[ClaimedEmail, ...]:
        """The emails written leased so far."""
        return tuple(self._emails)

    def deliver(self) -> bool:
        """After the commit: hand the leased emails to the engine; True when some were
        queued instead (then wake the engine)."""
        if self._done:
            return self._queued
        self._done = True
        if self._handoff is not None and self._reserved:
            if self._emails:
                desk, emails, reserved = self._handoff, self._emails, self._reserved
                held = _HELD.get()
                if held is not None:
                    held.append(lambda: desk._send(emails, reserved))
                else:
                    desk._send(emails, reserved)
            else:  # leased, then not written (an enqueue that failed in a savepoint)
                self._handoff._release(self._reserved)
        return self._queued

    def abandon(self, store: OutboxStore) -> None:
        """The transaction failed: end the reservation, and give back to the queue
        whatever of it was stored after all (a commit whose answer was lost): else the
        engine's renewer would keep those rows leased while nobody sends them."""
        if self._done:
            return
        self._done = True
        desk = self._handoff
        if desk is None or not self._reserved:
            return
        desk._release(self._reserved)
        if self._emails:
            try:
                store.give_back(self._emails, owner=self.owner, now=desk._clock())
            except Exception:
                log.exception(
                    "giving back %d leased emails of a failed commit failed; "
                    "if they were stored they are sent after the next start",
                    len(self._emails),
                )
