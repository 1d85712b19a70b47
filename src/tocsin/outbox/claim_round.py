"""One claim round of the delivery engine in a single trip to its store thread.

Each hop between the event loop and the store thread costs a wake-up on both sides;
a lone alarm used to take three for its claim (the settings fingerprint, the claim,
when the next delivery is due).  :func:`claim_round` does the three on the store
thread in one call, in the same order and with the same rules as before:

- the settings fingerprint is read first; if it differs from the one the engine
  acted on, nothing is claimed (``stale``): the engine reads the new settings, closes
  sessions opened with the old ones, and only then claims;
- the claim takes up to ``limit`` due deliveries;
- only a claim that took fewer than ``limit`` reads when the next delivery is due (a
  full one is followed by the next claim at once).

Failures come back as values, so the engine logs them on its own loop as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from tocsin.outbox.model import ClaimedEmail
from tocsin.outbox.store import OutboxStore

__all__ = ["ClaimRound", "claim_round"]

log = logging.getLogger("tocsin.outbox")


@dataclass(slots=True)
class ClaimRound:
    """What one round found."""

    version: object
    """The settings fingerprint read (the engine's own when not read or unreadable)."""
    stale: bool = False
    """The fingerprint changed: nothing was claimed; read the settings first."""
    claimed: list[ClaimedEmail] = field(default_factory=list)
    error: Exception | None = None
    """The claim failed with this (nothing claimed)."""
    taken: int = 0
    """Deliveries claimed."""
    next_due: float | None = None
    """When the earliest queued or leased delivery is due (read after a short claim)."""
    next_due_error: Exception | None = None
    """Reading the next due time failed with this."""


def claim_round(
    store: OutboxStore,
    *,
    version_source: Callable[[], object] | None,
    seen_version: object,
    owner: str,
    now: Callable[[], float],
    limit: int,
    lease: float,
) -> ClaimRound:
    """Fingerprint, claim, next due time: blocking, for the engine's store thread."""
    version = seen_version
    if version_source is not None:
        try:
            version = version_source()
        except Exception:
            log.exception("reading the settings version failed; reading them on time")
        if version != seen_version:
            return ClaimRound(version, stale=True)
    result = ClaimRound(version)
    try:
        result.claimed = store.claim(owner=owner, now=now(), limit=limit, lease=lease)
    except Exception as exc:
        result.error = exc
        return result
    result.taken = sum(len(email.deliveries) for email in result.claimed)
    if result.taken < limit:
        try:
            result.next_due = store.next_due()
        except Exception as exc:
            result.next_due_error = exc
    return result
