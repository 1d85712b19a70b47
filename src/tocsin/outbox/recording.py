"""The delivery engine's bookkeeping tasks: commit verdicts in batches, renew leases.

Both run as asyncio tasks beside the engine's senders and reach the store through the
engine's one store thread (``db``).  The recorder commits whatever verdicts piled up
while the previous commit was on its way to disk in the next one; a crash between a
server's 250 and that commit is the only way an email can go out twice.  The renewer
extends the leases the engine holds, so only a dead worker's deliveries become due
again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from tocsin.errors import FailureLog
from tocsin.outbox.model import DeliveryUpdate, Release
from tocsin.outbox.store import OutboxStore

__all__ = ["Bookkeeper", "StoreCall", "VerdictQueue"]

StoreCall = Callable[[Callable[[], Any]], Awaitable[Any]]
"""Runs a blocking store call on the engine's store thread and awaits its result."""
VerdictQueue = asyncio.Queue[list[DeliveryUpdate] | list[Release] | None]
"""What the senders hand the recorder; None (once, at stop) ends it."""


class Bookkeeper:
    """Records verdicts and renews leases for the engine whose leases belong to ``owner``."""

    def __init__(
        self,
        store: OutboxStore,
        db: StoreCall,
        *,
        owner: str,
        clock: Callable[[], float],
        failures: FailureLog,
    ) -> None:
        self._store = store
        self._db = db
        self._owner = owner
        self._clock = clock
        self._failures = failures

    async def record(self, verdicts: VerdictQueue, *, linger: float) -> None:
        """Commit verdicts in batches until a None arrives; ``linger`` seconds let more
        verdicts join a commit."""
        done = False
        while not done:
            batch = [await verdicts.get()]
            if batch[0] is not None and linger > 0:
                await asyncio.sleep(linger)  # let more verdicts join this commit
            while not verdicts.empty():
                batch.append(verdicts.get_nowait())
            done = any(item is None for item in batch)
            updates = [u for b in batch if b for u in b if isinstance(u, DeliveryUpdate)]
            releases = [r for b in batch if b for r in b if isinstance(r, Release)]
            if updates or releases:
                await self._write(updates, releases)

    async def _write(self, updates: list[DeliveryUpdate], releases: list[Release]) -> None:
        """Commit, retrying while the database is away: losing a verdict could resend."""
        delay = 0.1
        while True:
            try:
                await self._db(
                    partial(
                        self._store.record,
                        updates,
                        releases,
                        owner=self._owner,
                        now=self._clock(),
                    )
                )
                return
            except Exception:
                self._failures.failed("recording %d outcomes failed; retrying", len(updates))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def renew(self, *, lease: float) -> None:
        """Extend this engine's leases to ``lease`` seconds ahead, every third of it."""
        while True:
            await asyncio.sleep(lease / 3)
            try:
                await self._db(
                    partial(self._store.renew, owner=self._owner, now=self._clock(), lease=lease)
                )
            except Exception:
                self._failures.failed("renewing leases failed")
