"""Ask the online service how the mail it took went on, and write it to the delivery log.

The relay answers 202 once a message is on its disk; whether the recipient's server
then took it, refused it or never answered shows only later.  :class:`Tracker` asks the
relay (``GET /v1/messages/{id}``) for every delivery whose tracking is due, on the
schedule of :func:`~tocsin.outbox.tracking.next_check_delay`, and records the answers
(see :mod:`tocsin.outbox.tracking` for the states).

It asks with the device credential in the current settings, even after the transport
was switched back to SMTP, so mail that already went out is still followed.  When the
relay cannot be asked (down, busy, credential refused) the round ends and the due
deliveries wait for the next one; nothing is lost, the answers only come later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Protocol

from tocsin.errors import ConfigError, DeliveryError, FailureLog
from tocsin.outbox.store import OutboxStore
from tocsin.outbox.tracking import (
    MAX_TRACKING_AGE,
    RemoteState,
    TrackingDue,
    TrackingUpdate,
    next_check_delay,
    state_for,
)
from tocsin.settings import EmailSettings, relay_url_problem

__all__ = ["StatusSource", "Tracker", "judge_status"]

log = logging.getLogger("tocsin.outbox")

_UNREACHABLE_WAIT: Final = 60.0  # the relay could not be asked: try these again after


class StatusSource(Protocol):
    """What the tracker needs of the online transport."""

    async def status(self, public_id: str) -> dict[str, Any]:
        """The relay's status body of one submission; raises a DeliveryError."""
        ...

    async def aclose(self) -> None:
        """Close the connections."""
        ...


def _online_source(settings: EmailSettings) -> StatusSource:
    from tocsin.transports.online import OnlineTransport

    return OnlineTransport(settings)


def _entry_for(recipient: str, body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    entries = [e for e in body.get("recipients", ()) if isinstance(e, Mapping)]
    named = [(str(e.get("recipient", "")), e) for e in entries]
    exact = [e for r, e in named if r == recipient]
    # Domains, and in practice local parts, are case-insensitive (RFC 5321 §2.4).
    loose = [e for r, e in named if r.casefold() == recipient.casefold()]
    found = exact or loose
    return found[0] if found else None


def _detail(entry: Mapping[str, Any]) -> str:
    said = str(entry.get("server_reply") or "")
    error = str(entry.get("error") or "")
    return (error or said)[:1000]


def judge_status(due: TrackingDue, body: Mapping[str, Any], *, now: float) -> TrackingUpdate:
    """What the relay's status ``body`` means for one tracked delivery (pure)."""
    entry = _entry_for(due.recipient, body)
    if entry is None:
        return TrackingUpdate(
            due.delivery_id,
            RemoteState.UNKNOWN,
            None,
            "the online service does not list this recipient for the message",
        )
    state = state_for(str(entry.get("status", "")))
    raw_code = entry.get("code")
    code = raw_code if isinstance(raw_code, int) and not isinstance(raw_code, bool) else None
    if state.final:
        return TrackingUpdate(due.delivery_id, state, None, _detail(entry), code)
    if now - due.since >= MAX_TRACKING_AGE:
        return TrackingUpdate(
            due.delivery_id,
            RemoteState.UNKNOWN,
            None,
            f"no final answer from the online service within {MAX_TRACKING_AGE / 86_400:g} days",
        )
    # Still trying: keep the relay's last words (a greylisting 451, say) for the log.
    return TrackingUpdate(
        due.delivery_id,
        RemoteState.PENDING,
        now + next_check_delay(due.checks + 1),
        str(entry.get("error") or ""),
        code,
    )


class Tracker:
    """Follows mail the online service took until it says how it ended.

    ``settings`` loads the current settings; ``source`` builds the client that asks
    (the online transport; tests may pass their own).  :meth:`check_due` runs one round,
    :meth:`run` rounds until ``stop`` is set.
    """

    def __init__(
        self,
        store: OutboxStore,
        settings: Callable[[], EmailSettings],
        *,
        source: Callable[[EmailSettings], StatusSource] = _online_source,
        clock: Callable[[], float] = time.time,
        batch: int = 100,
        idle: float = 5.0,
        on_final: Callable[[Sequence[TrackingUpdate]], None] | None = None,
    ) -> None:
        self._store = store
        self._settings = settings
        self._source = source
        self._clock = clock
        self._batch = batch
        self._idle = idle
        self._on_final = on_final
        self._failures = FailureLog(log)  # a full disk: one line a minute, no traceback

    def _usable(self) -> EmailSettings | None:
        settings = self._settings()
        if not settings.device_credential or relay_url_problem(settings.relay_url):
            return None
        return settings

    async def check_due(self, *, now: float | None = None) -> int:
        """Ask about every due tracking (up to the batch size); return how many were answered."""
        settings = self._usable()
        at = self._clock() if now is None else now
        if settings is None:
            return 0
        due = await asyncio.to_thread(self._store.tracking_due, now=at, limit=self._batch)
        if not due:
            return 0
        by_id: dict[str, list[TrackingDue]] = defaultdict(list)
        for item in due:
            by_id[item.tracking_id].append(item)
        updates = await self._ask(settings, by_id, at)
        await asyncio.to_thread(self._store.record_tracking, updates, now=at)
        final = [u for u in updates if u.answered and u.state.final]
        for u in final:
            if u.state is not RemoteState.DELIVERED:
                log.warning(
                    "the online service reports delivery %s %s: %s",
                    u.delivery_id,
                    u.state.value,
                    u.detail or "no details",
                )
        if final and self._on_final is not None:
            self._on_final(final)
        return sum(1 for u in updates if u.answered)

    async def _ask(
        self, settings: EmailSettings, by_id: Mapping[str, list[TrackingDue]], now: float
    ) -> list[TrackingUpdate]:
        updates: list[TrackingUpdate] = []
        try:
            source = self._source(settings)
        except ConfigError as exc:
            log.warning("cannot ask the online service about delivered mail: %s", exc)
            return [_postponed(d, now) for rows in by_id.values() for d in rows]
        try:
            pending = list(by_id.items())
            while pending:
                tracking_id, rows = pending.pop(0)
                try:
                    body = await source.status(tracking_id)
                except DeliveryError as exc:
                    if exc.code == 404:  # the relay forgot it (purged) or never had it
                        updates += [_forgotten(d) for d in rows]
                        continue
                    # Down, busy or refusing us: ask again later; the rest waits too.
                    log.info("cannot ask the online service about sent mail now: %s", exc)
                    updates += [_postponed(d, now) for d in rows]
                    updates += [_postponed(d, now) for _, more in pending for d in more]
                    break
                updates += [judge_status(d, body, now=now) for d in rows]
        finally:
            await source.aclose()
        return updates

    async def run(self, stop: asyncio.Event) -> None:
        """Check due trackings until ``stop`` is set; errors are logged, never fatal."""
        while not stop.is_set():
            answered = 0
            try:
                answered = await self.check_due()
            except Exception:
                self._failures.failed("asking the online service about sent mail failed")
            if answered >= self._batch:
                continue  # more may be due right now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), await self._until_next())

    async def _until_next(self) -> float:
        try:
            due = await asyncio.to_thread(self._store.next_tracking_due)
        except Exception:
            self._failures.failed("reading the next tracking time failed")
            return self._idle
        if due is None:
            return self._idle
        return min(self._idle, max(0.5, due - self._clock()))


def _postponed(due: TrackingDue, now: float) -> TrackingUpdate:
    if now - due.since >= MAX_TRACKING_AGE:
        return TrackingUpdate(
            due.delivery_id,
            RemoteState.UNKNOWN,
            None,
            f"the online service could not be asked within {MAX_TRACKING_AGE / 86_400:g} days",
        )
    later = now + max(_UNREACHABLE_WAIT, next_check_delay(due.checks))
    return TrackingUpdate(due.delivery_id, RemoteState.PENDING, later, answered=False)


def _forgotten(due: TrackingDue) -> TrackingUpdate:
    return TrackingUpdate(
        due.delivery_id,
        RemoteState.UNKNOWN,
        None,
        "the online service no longer knows this message (404)",
        404,
    )
