"""The delivery engine: claims due deliveries, sends them, records what became of them.

Inside one engine, four kinds of asyncio tasks share the work::

    claimer ──ready emails──▶ senders (one per connection) ──verdicts──▶ recorder
                                                                  renewer (leases)

- The *claimer* leases due deliveries, most urgent first, a batch at a time, and only
  while fewer than ``batch_size`` wait locally: a fire alarm queued behind a backlog
  waits for at most one batch.  A round (settings fingerprint, claim, next due time)
  is one trip to the store thread (:mod:`.claim_round`), or none when the store can
  take it at once on the loop (SQLite, see :meth:`DeliveryEngine._claim_at_once`).  An
  email enqueued in this process while the engine has room skips the claim: it is
  *handed off* (:mod:`.handoff`).
- A *sender* turns a claimed email into one :class:`~tocsin.message.Mail` for all of its
  due recipients (rendered once at enqueue, sent many) and asks the transport.
- The *recorder* commits verdicts in batches: whatever piled up while the previous
  commit was on its way to disk goes into the next one.  A crash between a server's 250
  and that commit is the only way an email can go out twice.
- The *renewer* extends the leases this engine holds, so only a dead worker's
  deliveries become due again (both: :mod:`.recording`).  With a ``state_dir`` an
  engine also holds a lock file there (:mod:`.incarnation`), and on start takes back
  at once the leases of earlier workers of that directory that died, instead of
  waiting for them to run out.

Store calls are blocking; they run one at a time on the engine's own thread (a claim
round on SQLite right on the loop, when it can be done without waiting).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar

from tocsin.errors import ConfigurationProblem, FailureLog, StorageFull
from tocsin.failover import LINK_PRIMARY, FailoverSettings
from tocsin.outbox.chain import ChainSender, FailoverHook
from tocsin.outbox.claim_round import ClaimRound, claim_round
from tocsin.outbox.gate import Gate, PauseState
from tocsin.outbox.handoff import Handoff
from tocsin.outbox.incarnation import WORKERS_DIR, WorkerLock, default_owner, take_back_orphans
from tocsin.outbox.lanes import TransportFactory, TransportHolder, default_transport_factory
from tocsin.outbox.metrics import OutboxMetrics
from tocsin.outbox.model import ClaimedEmail, Release
from tocsin.outbox.options import EngineOptions
from tocsin.outbox.readdress import as_sender_now
from tocsin.outbox.recording import Bookkeeper, VerdictQueue
from tocsin.outbox.store import HearsOfMail, NotNow, OutboxStore, WritesAtOnce
from tocsin.outbox.verdict import Verdict, judge_error, judge_result
from tocsin.settings import EmailSettings
from tocsin.transports.base import DeliveryResult, send_each

__all__ = ["DeliveryEngine", "EngineOptions", "SentHook"]

log = logging.getLogger("tocsin.outbox")
T = TypeVar("T")
SentHook = Callable[[ClaimedEmail, Verdict, float], None]
"""Called after each send with the email, the verdict and the send time in seconds (its
own share of the connection when emails go back to back)."""


_STOP = None  # sentinel on the ready queue
_UNREAD = object()  # no settings fingerprint read yet
_LATE_SAID_EVERY = 60.0  # seconds between two warnings of overdue mail


class DeliveryEngine:
    """Delivers the outbox. Run it as a task: ``await engine.run(stop_event)``.

    ``settings_source`` returns the current :class:`EmailSettings` (it is called about
    once a second, on the engine's store thread); ``settings_version``, if given, returns
    a cheap fingerprint of them, read before every claim: when it changes the settings
    are read at once and sessions opened with the old ones are closed before the next
    send, instead of up to a second later.  ``transport_factory`` builds a
    transport for them (default: SMTP with ``max_connections`` sessions);
    ``on_pause`` hears once of each configuration problem that pauses delivery.
    ``failover_source`` returns the failover chain (:mod:`tocsin.failover`): while it
    has backup links, emails go through :class:`~tocsin.outbox.chain.ChainSender`
    and ``on_failover`` hears once when the primary goes down and once when it is back.
    """

    def __init__(
        self,
        store: OutboxStore,
        settings_source: Callable[[], EmailSettings],
        *,
        settings_version: Callable[[], object] | None = None,
        options: EngineOptions | None = None,
        transport_factory: TransportFactory | None = None,
        on_pause: Callable[[ConfigurationProblem], None] | None = None,
        metrics: OutboxMetrics | None = None,
        on_sent: SentHook | None = None,
        failover_source: Callable[[], FailoverSettings] | None = None,
        on_failover: FailoverHook | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.options = opts = options or EngineOptions()
        self._store = store
        # SQLite: a claim round may be made right on the loop (see _claim_at_once).
        self._at_once = store.at_once if isinstance(store, WritesAtOnce) else None
        self._settings_source = settings_source
        self._settings_version = settings_version
        self._seen_version: object = None
        factory = transport_factory or default_transport_factory(opts.max_connections)
        self._transports = TransportHolder(factory)
        self._failover_source = failover_source
        self._failover = FailoverSettings()
        self._chain = ChainSender(
            factory,
            clock=clock,
            on_failover=on_failover,
            on_move=metrics.moved_on if metrics is not None else None,
        )
        if metrics is not None:
            metrics.watch_links(self._chain.link_states)
        self._gate = Gate(on_pause=on_pause, probe_interval=opts.probe_interval, clock=clock)
        self._metrics = metrics
        self._on_sent = on_sent
        self._clock = clock
        self._failures = FailureLog(log)  # a full disk: one line a minute, no traceback
        self._rng = rng
        self._executor: ThreadPoolExecutor | None = None
        self._wakeup: asyncio.Event | None = None
        self._stood_in: asyncio.Event | None = None  # set by stand_in(True): claim now
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending = 0  # deliveries claimed and not yet handed to the recorder
        self._space = asyncio.Event()
        self._last_settings = float("-inf")
        self._last_work = time.monotonic()
        self._lock: WorkerLock | None = None
        if opts.state_dir is not None:
            try:
                self._lock = WorkerLock(opts.state_dir / WORKERS_DIR)
            except OSError:
                where = opts.state_dir
                log.exception("no lease lock in %s; dead workers' leases will expire", where)
        self.owner = opts.owner or (self._lock.owner if self._lock else default_owner())
        """Who this engine's leases belong to."""
        self._ready: asyncio.Queue[ClaimedEmail | None] | None = None
        self._stopping = True  # until run() starts
        self._standing_in = False  # claiming although the options leave the queue to others
        self._late_said = float("-inf")  # when the log last said that mail was overdue
        self.handoff = Handoff(
            owner=self.owner,
            lease=opts.lease,
            # The claimer's own bound on what waits locally; without claims, only what a
            # free connection takes at once: more goes to the queue, for the other engines.
            room=opts.batch_size // 2 if opts.claims else opts.max_connections,
            most_or_none=not opts.claims,
            clock=clock,
            settings_version=settings_version,
        )
        """Where an enqueue in this process hands its emails to this engine (:mod:`.handoff`)."""

    # ------------------------------------------------------------------ public
    @property
    def paused(self) -> PauseState | None:
        """Why delivery is paused right now, or None when it runs."""
        return self._gate.paused

    def stand_in(self, on: bool) -> None:
        """Claim from the queue while ``on``, although the options leave it to other
        engines (``claims=False``): serve's engine while none of its delivery processes
        runs, so that queued mail and retries never wait for one.  The hand-off keeps
        its small room either way, so the bulk goes back to them once they run.  Call
        on the engine's loop."""
        if on != self._standing_in:
            self._standing_in = on
            if on and self._stood_in is not None:
                self._stood_in.set()  # out of the nap of an engine that does not claim

    @property
    def claiming(self) -> bool:
        """True while this engine claims due deliveries from the queue."""
        return self.options.claims or self._standing_in

    def wake(self) -> None:
        """Look for due deliveries now (call after an enqueue); safe from any thread."""
        if self._loop is None or self._wakeup is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._wakeup.set()
        else:
            self._loop.call_soon_threadsafe(self._wakeup.set)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; then finish the sends in flight and return."""
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        self._stood_in = asyncio.Event()
        self._space = asyncio.Event()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="tocsin-outbox")
        self._ready = ready = asyncio.Queue[ClaimedEmail | None]()
        verdicts: VerdictQueue = asyncio.Queue()
        senders = [
            asyncio.create_task(self._sender(ready, verdicts, stop), name=f"outbox-sender-{i}")
            for i in range(self.options.max_connections)
        ]
        books = Bookkeeper(
            self._store, self._db, owner=self.owner, clock=self._clock, failures=self._failures
        )
        recorder = asyncio.create_task(
            books.record(verdicts, linger=self.options.record_linger), name="outbox-recorder"
        )
        renewer = asyncio.create_task(books.renew(lease=self.options.lease), name="outbox-renewer")
        async with contextlib.AsyncExitStack() as stack:
            if isinstance(self._store, HearsOfMail):  # mail queued by other processes
                await stack.enter_async_context(self._store.listen_for_mail(self._wakeup.set))
            self._stopping = False
            self.handoff.open(self, self._land)
            try:
                await take_back_orphans(
                    self._lock, self._store, self._db, clock=self._clock, failures=self._failures
                )
                await self._claim_loop(ready, stop)
            finally:
                self._stopping = True
                await self._shutdown(ready, verdicts, senders, recorder, renewer)

    # ------------------------------------------------------------------ hand-off
    def taking(self) -> object | None:
        """The settings fingerprint this engine sends with, while it can take a
        hand-off now; else None (any thread: see :class:`.handoff.EngineState`)."""
        if self._stopping or self._gate.paused is not None:
            return None
        return self._seen_version if self._settings_version is not None else True

    def in_flight(self) -> int:
        """Deliveries claimed or handed and not yet finished with."""
        return self._pending

    def _land(self, emails: list[ClaimedEmail]) -> None:
        """On the loop: emails leased in their enqueue transaction, to the senders."""
        assert self._ready is not None
        self._last_work = time.monotonic()
        for email in emails:
            self._pending += len(email.deliveries)
            self._ready.put_nowait(email)

    # ------------------------------------------------------------------ plumbing
    async def _db(self, fn: Callable[[], T]) -> T:
        assert self._loop is not None
        assert self._executor is not None
        return await self._loop.run_in_executor(self._executor, fn)

    async def _nap_aside(self, stop: asyncio.Event) -> None:
        """The nap of an engine that leaves the queue to others: a settings interval (the
        settings stay fresh), ended early by stop or :meth:`stand_in` only.

        Not by :meth:`wake`: new mail is not overdue, and a wake-up at every enqueue
        (serve's intake, or another process's word) read the queue's earliest due time
        for nothing: one statement a request of a burst, on PostgreSQL a round trip and
        a scan of the queued rows (issue 11)."""
        assert self._stood_in is not None
        await _either(stop, self._stood_in, self.options.settings_interval)
        self._stood_in.clear()

    async def _nap(self, stop: asyncio.Event, seconds: float) -> None:
        """Sleep up to ``seconds``; return early on stop or wake()."""
        assert self._wakeup is not None
        if stop.is_set() or seconds <= 0:
            return
        await _either(stop, self._wakeup, seconds)
        self._wakeup.clear()

    async def _refresh_settings(self, version: object = _UNREAD) -> bool:
        """Read the settings (and the failover chain) and act on them; False if they
        could not be read.  ``version``: the fingerprint just read, if it was."""
        if version is _UNREAD:
            version = self._seen_version
            if self._settings_version is not None:
                try:
                    version = await self._db(self._settings_version)
                except Exception:
                    log.exception("reading the settings version failed; reading them on time")
        self._last_settings = time.monotonic()
        try:
            settings = await self._db(self._settings_source)
        except Exception:
            self._failures.failed("reading the email settings failed; keeping the last ones")
            return False
        if self._failover_source is not None:
            try:
                self._failover = await self._db(self._failover_source)
            except Exception:
                self._failures.failed("reading the failover chain failed; keeping the last")
        # The version was read first: a change in between is seen on the next claim.
        self._seen_version = version
        if self._gate.update(settings):
            self._transports.retire()  # built for the old settings
        self._chain.follow(settings, self._failover)
        return True

    # ------------------------------------------------------------------ claiming
    async def _claim_loop(
        self, ready: asyncio.Queue[ClaimedEmail | None], stop: asyncio.Event
    ) -> None:
        opts = self.options
        check_version = True  # False once after settings that could not be read
        while not stop.is_set():
            if time.monotonic() - self._last_settings >= opts.settings_interval:
                await self._refresh_settings()
            if self._gate.paused is not None:
                self._transports.retire()
                self._chain.retire()
                await self._nap(stop, opts.settings_interval)
                continue
            if not self.claiming and not await self._overdue():
                await self._nap_aside(stop)
                continue
            if self._pending > opts.batch_size // 2:
                self._space.clear()  # senders set it when the backlog falls below half
                await self._wait_space(stop)
                continue
            limit = opts.batch_size - self._pending
            claim = partial(
                claim_round,
                self._store,
                version_source=self._settings_version if check_version else None,
                seen_version=self._seen_version,
                owner=self.owner,
                now=self._clock,
                limit=limit,
                lease=opts.lease,
            )
            found = self._claim_at_once(claim)
            if found is None:
                found = await self._db(claim)
            if found.stale:  # read the new settings before claiming with them
                check_version = await self._refresh_settings(found.version)
                continue
            check_version = True
            if found.error is not None:
                self._failed(found.error, "claiming deliveries failed; trying again shortly")
                # A full disk does not go away in half a second: do not hammer it.
                full = isinstance(found.error, StorageFull)
                await self._nap(stop, max(opts.poll_interval, 5.0) if full else opts.poll_interval)
                continue
            if found.claimed:
                self._last_work = time.monotonic()
                for email in found.claimed:
                    self._pending += len(email.deliveries)
                    ready.put_nowait(email)
            if found.taken >= limit:
                continue  # there may be more due now: claim again at once
            # Fewer than asked for: nothing else was due at the claim.  What was queued
            # since called wake(), which ends the nap at once; so no empty claim here.
            if found.next_due_error is not None:
                self._failed(found.next_due_error, "reading the queue failed")
            await self._idle(stop, found.next_due)

    def _claim_at_once(self, claim: Callable[[], ClaimRound]) -> ClaimRound | None:
        """The claim round right here on the loop, when the store can take it at once
        (:class:`~tocsin.outbox.store.WritesAtOnce`: SQLite, no other thread of this
        process on it, no other process writing); else None: the store thread's job.

        Made on the store thread, a claim's rows and objects hand the GIL back and forth
        with this loop while it sends: 20,000 emails through 4 connections went out at
        1.10× the rate for 0.90× the CPU an email with claims made here when they can
        be (issue 11).  A claim here is a bounded piece of work (``batch_size``
        deliveries) whose commit does not wait for the disk.
        """
        if self._at_once is None:
            return None
        with self._at_once() as free:
            if not free:
                return None
            found = claim()
        return None if isinstance(found.error, NotNow) else found

    async def _overdue(self) -> bool:
        """True while a delivery has been due for over ``overdue_after`` seconds: an
        engine that leaves the queue to others claims it after all (they are hung, or
        far behind).  Said in the log at most once a minute."""
        try:
            due = await self._db(self._store.next_due)
        except Exception:
            self._failures.failed("reading the queue failed")
            return False
        late = due is not None and self._clock() - due > self.options.overdue_after
        now = time.monotonic()
        if late and now - self._late_said >= _LATE_SAID_EVERY:
            self._late_said = now
            log.warning("mail has been due for over %.0f s and the delivery processes "
                        "have not taken it: this engine sends it",
                        self.options.overdue_after)  # fmt: skip
        return late

    def _failed(self, error: Exception, message: str) -> None:
        """Log ``error`` (raised on the store thread) as :class:`FailureLog` does: a full
        disk as one line a minute, anything else with its traceback."""
        try:
            raise error
        except Exception:
            self._failures.failed(message)

    async def _wait_space(self, stop: asyncio.Event) -> None:
        await _either(stop, self._space, self.options.poll_interval)

    async def _idle(self, stop: asyncio.Event, due: float | None) -> None:
        """Nap until ``due`` (the next delivery's time, read by the claim round), at most
        a poll interval; close connections kept too long without work."""
        opts = self.options
        idle_for = time.monotonic() - self._last_work
        busy = self._transports.busy or self._chain.busy
        if idle_for >= opts.idle_close and self._pending == 0 and not busy:
            self._transports.retire()  # close kept connections; reopened on the next email
            self._chain.retire()
        wait = opts.poll_interval if due is None else min(opts.poll_interval, due - self._clock())
        await self._nap(stop, max(wait, 0.005))

    # ------------------------------------------------------------------ sending
    async def _sender(
        self,
        ready: asyncio.Queue[ClaimedEmail | None],
        verdicts: VerdictQueue,
        stop: asyncio.Event,
    ) -> None:
        last = False
        while not last:
            email = await ready.get()
            if email is _STOP or email is None:
                return
            batch = [email]  # what waits goes too, back to back on one connection
            while len(batch) < self.options.chain and not ready.empty():
                more = ready.get_nowait()
                if more is None:
                    last = True  # this sender's stop signal: finish the batch, then stop
                    break
                batch.append(more)
            settings = self._gate.settings
            if stop.is_set() or self._gate.paused is not None or settings is None:
                now = self._clock()
                for e in batch:
                    verdicts.put_nowait([Release(d.id, now) for d in e.deliveries])
                    self._done_with(e)
            elif self._chain.active:
                await self._send_chain(batch, verdicts)
            else:
                await self._send(batch, settings, verdicts)

    def _done_with(self, email: ClaimedEmail) -> None:
        self._pending -= len(email.deliveries)
        if self._pending <= self.options.batch_size // 2:
            self._space.set()

    async def _send(
        self,
        batch: list[ClaimedEmail],
        settings: EmailSettings,
        verdicts: VerdictQueue,
    ) -> None:
        """Send ``batch`` in order; each verdict goes to the recorder as soon as it is known."""
        transport, token = self._transports.acquire(settings)
        started = time.perf_counter()
        judged: set[int] = set()

        def report(index: int, outcome: DeliveryResult | Exception) -> None:
            nonlocal started
            finished = time.perf_counter()
            elapsed, started = finished - started, finished  # its own share of the connection
            judged.add(index)
            self._judge(batch[index], outcome, elapsed, verdicts, link=LINK_PRIMARY, chain=False)

        try:
            await send_each(transport, [as_sender_now(e, settings) for e in batch], report)
        except Exception as exc:  # a bug below: judge what is left, as a single send would
            for index in range(len(batch)):
                if index not in judged:
                    report(index, exc)
        finally:
            self._transports.release(token)

    def _judge(
        self,
        email: ClaimedEmail,
        outcome: DeliveryResult | Exception,
        elapsed: float,
        verdicts: VerdictQueue,
        *,
        link: str,
        chain: bool,
    ) -> None:
        """Judge one send, record it as carried by ``link``; pause (not in a chain,
        whose links move on instead) on a configuration problem."""
        opts, now = self.options, self._clock()
        if isinstance(outcome, Exception):
            verdict = judge_error(
                email, outcome, now=now, policy=opts.retry, rng=self._rng, link=link
            )
            if not isinstance(outcome, ConfigurationProblem):
                log.warning("email %s: %s", email.message_id, verdict.updates[0].error)
        else:
            verdict = judge_result(
                email, outcome, now=now, policy=opts.retry, rng=self._rng, link=link
            )
        self._last_work = time.monotonic()
        if not chain and verdict.pause is not None and self._gate.pause(verdict.pause):
            self._transports.retire()
        self._observe(email, verdict, elapsed)
        verdicts.put_nowait(verdict.updates)
        self._done_with(email)

    async def _send_chain(
        self,
        batch: list[ClaimedEmail],
        verdicts: VerdictQueue,
    ) -> None:
        """Send ``batch`` through the failover chain (see :mod:`tocsin.outbox.chain`)."""
        started = time.perf_counter()

        def finish(email: ClaimedEmail, outcome: DeliveryResult | Exception, link: str) -> None:
            nonlocal started
            finished = time.perf_counter()
            elapsed, started = finished - started, finished
            self._judge(email, outcome, elapsed, verdicts, link=link, chain=True)

        def release(email: ClaimedEmail, at: float) -> None:
            verdicts.put_nowait([Release(d.id, at) for d in email.deliveries])
            self._done_with(email)

        await self._chain.send(batch, prepare=as_sender_now, finish=finish, release=release)

    def _observe(self, email: ClaimedEmail, verdict: Verdict, elapsed: float) -> None:
        if self._metrics is not None:
            self._metrics.observe(verdict.updates, elapsed)
        if self._on_sent is not None:
            self._on_sent(email, verdict, elapsed)

    # ------------------------------------------------------------------ stopping
    async def _shutdown(
        self,
        ready: asyncio.Queue[ClaimedEmail | None],
        verdicts: VerdictQueue,
        senders: list[asyncio.Task[None]],
        recorder: asyncio.Task[None],
        renewer: asyncio.Task[None],
    ) -> None:
        """Finish sends in flight (bounded), give back the rest, flush, close."""
        self.handoff.close()  # no new hand-offs; those leased to land in ``ready``
        for _ in senders:
            ready.put_nowait(_STOP)
        _, late = await asyncio.wait(senders, timeout=self.options.shutdown_grace)
        for task in late:  # their leases expire and another run sends them
            task.cancel()
        await asyncio.gather(*senders, return_exceptions=True)
        await self.handoff.wind_down(timeout=self.options.shutdown_grace)  # all in ``ready``
        now = self._clock()
        while not ready.empty():
            email = ready.get_nowait()
            if email is not None:
                verdicts.put_nowait([Release(d.id, now) for d in email.deliveries])
        verdicts.put_nowait(None)
        try:
            await asyncio.wait_for(recorder, timeout=30)
        except TimeoutError:
            log.error("the outbox recorder did not finish; leases will expire")
        renewer.cancel()
        await asyncio.gather(renewer, return_exceptions=True)
        await self._transports.aclose()
        await self._chain.aclose()
        assert self._executor is not None
        self._executor.shutdown(wait=True)
        self._executor = None
        if self._lock is not None:
            self._lock.release()


async def _either(first: asyncio.Event, second: asyncio.Event, seconds: float) -> None:
    """Wait until ``first`` or ``second`` is set, at most ``seconds``."""
    waits = [asyncio.ensure_future(first.wait()), asyncio.ensure_future(second.wait())]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
