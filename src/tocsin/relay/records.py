"""What the relay keeps about devices and submissions, as its faces and services see them.

Plain frozen values with no I/O; :mod:`tocsin.relay.relay_sql` reads and writes them,
and the faces name them without importing any SQL.
"""

from __future__ import annotations

from dataclasses import dataclass

from tocsin.outbox.model import Status
from tocsin.relay.policy import DevicePolicy

__all__ = ["Accepted", "Device", "RecipientStatus", "SubmissionStatus"]


@dataclass(frozen=True, slots=True)
class Device:
    """A device as the operator and the relay see it (never its credential)."""

    id: int
    name: str
    policy: DevicePolicy
    created_at: float
    last_used_at: float | None
    revoked_at: float | None

    @property
    def active(self) -> bool:
        """True while not revoked."""
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class Accepted:
    """A stored submission: the id to ask about it, and whether it was a repeat."""

    public_id: str
    email_id: int
    message_id: str
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class RecipientStatus:
    """Where one recipient of a submission stands (the outbox delivery, for the device)."""

    recipient: str
    status: Status
    attempts: int
    step: str
    reason: str
    error: str
    code: int | None
    server_reply: str
    updated_at: float


@dataclass(frozen=True, slots=True)
class SubmissionStatus:
    """A submission and each of its recipients."""

    public_id: str
    message_id: str
    created_at: float
    recipients: tuple[RecipientStatus, ...]
