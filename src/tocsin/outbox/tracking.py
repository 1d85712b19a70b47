"""What became of a mail after the server took it: the online service's later status.

An SMTP server's 250 ends our part.  The online service answers 202 when the message is
on its disk, and delivers it afterwards; it reports, per recipient, how that went.  A
delivery the relay took carries a *tracking* record until the relay's answer is final::

    pending ──relay delivered──▶ delivered
       │    ├─relay refused──────▶ bounced       (the recipient's server said no: 5xx)
       │    └─relay gave up──────▶ gave_up       (temporary failures until its maximum age)
       └──relay forgot it / no final answer in time──▶ unknown

The relay's own statuses (queued, sending, sent, failed, dead) map onto these by one
table, :func:`state_for`.  Times are seconds since the epoch, as in the outbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

__all__ = [
    "MAX_TRACKING_AGE",
    "RETRYABLE_REMOTE",
    "RemoteState",
    "Tracking",
    "TrackingDue",
    "TrackingUpdate",
    "next_check_delay",
    "state_for",
]

MAX_TRACKING_AGE: Final = 7 * 86_400.0
"""Ask no longer than this: the relay itself gives up on a message after a day."""

_FIRST_CHECK: Final = 5.0
_MAX_INTERVAL: Final = 1_800.0


class RemoteState(StrEnum):
    """Where a mail the relay took stands, as the appliance last heard."""

    PENDING = "pending"  # the relay still works on it
    DELIVERED = "delivered"  # the recipient's mail server took it
    BOUNCED = "bounced"  # the recipient's mail server refused it for good
    GAVE_UP = "gave_up"  # the relay stopped retrying (its maximum age)
    UNKNOWN = "unknown"  # the relay no longer knows it, or never said in time

    @property
    def final(self) -> bool:
        """True once nothing will change any more."""
        return self is not RemoteState.PENDING


_RELAY_STATES: Final = {
    "queued": RemoteState.PENDING,
    "sending": RemoteState.PENDING,
    "sent": RemoteState.DELIVERED,
    "failed": RemoteState.BOUNCED,
    "dead": RemoteState.GAVE_UP,
}


RETRYABLE_REMOTE: Final = (RemoteState.BOUNCED, RemoteState.GAVE_UP)
"""States after which an admin may send the mail again (like a failed or dead delivery)."""


def state_for(relay_status: str) -> RemoteState:
    """The appliance's state for a status the relay reports (unknown words: unknown)."""
    return _RELAY_STATES.get(relay_status, RemoteState.UNKNOWN)


def next_check_delay(checks: int) -> float:
    """Seconds until the next question after ``checks`` answers that were not final.

    5 s, 10 s, 20 s, … doubling up to 30 min: most mail is delivered within
    seconds, and a relay retrying a greylisting server takes minutes to hours.
    """
    return min(_MAX_INTERVAL, _FIRST_CHECK * 2.0 ** max(0, min(checks, 16)))


@dataclass(frozen=True, slots=True)
class Tracking:
    """The relay's last word on one delivery, as the admin sees it."""

    tracking_id: str
    state: RemoteState
    detail: str
    code: int | None
    checks: int
    checked_at: float | None
    next_check_at: float | None

    @property
    def said(self) -> str:
        """The relay's words with the reply code, once (``550 5.1.1 …``)."""
        if self.code is None or str(self.code) in self.detail:
            return self.detail
        return f"{self.code} {self.detail}".strip()


@dataclass(frozen=True, slots=True)
class TrackingDue:
    """A delivery whose status is due to be asked for."""

    delivery_id: int
    tracking_id: str
    recipient: str
    checks: int
    since: float  # when the relay took it


@dataclass(frozen=True, slots=True)
class TrackingUpdate:
    """What one question to the relay found for one delivery.

    ``next_check_at`` is None when the state is final; ``answered`` is False when the
    relay could not be asked (the check does not count towards the back-off).
    """

    delivery_id: int
    state: RemoteState
    next_check_at: float | None
    detail: str = ""
    code: int | None = None
    answered: bool = True
