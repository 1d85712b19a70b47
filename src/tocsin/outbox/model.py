"""The outbox's data: statuses, priorities, and the records the store hands out.

One *email* (the rendered bytes, stored once) has one *delivery* per recipient.  A
delivery moves through::

    queued ──claim──▶ sending ──250──▶ sent
      ▲                  │ ├──5xx──▶ failed      (permanent, for this recipient)
      │                  │ └──4xx, too old──▶ dead
      └──4xx / pause / lease expired──┘

Times are seconds since the epoch (floats), so both backends store the same numbers
and tests can drive the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from enum import IntEnum, StrEnum
from typing import Final

from tocsin.message import Mail
from tocsin.outbox.tracking import RemoteState, Tracking

__all__ = [
    "ClaimedDelivery",
    "ClaimedEmail",
    "DeliveryAttempt",
    "DeliveryUpdate",
    "DeliveryView",
    "EmailView",
    "ListFilter",
    "NewEmail",
    "Priority",
    "Release",
    "Status",
    "priority_for",
]


class Status(StrEnum):
    """Where one recipient's copy of an email stands."""

    QUEUED = "queued"  # waiting for its next attempt
    SENDING = "sending"  # claimed by a worker; its lease runs until next_attempt_at
    SENT = "sent"  # the server answered 250 to DATA: it is the server's now
    FAILED = "failed"  # refused permanently for this recipient
    DEAD = "dead"  # temporary failures until the maximum age


ACTIVE: frozenset[Status] = frozenset({Status.QUEUED, Status.SENDING})
"""Statuses that still await delivery."""


class Priority(IntEnum):
    """Lower goes first: a backlog never delays a fire alarm."""

    FIRE = 0  # fire and sabotage alarms
    ALARM = 10  # every other alarm
    WARNING = 20
    SYSTEM = 30  # Tocsin's own notices, cleared notifications of warnings, ...


def priority_for(category: str, severity: str) -> Priority:
    """The priority of an event's email from its category and severity."""
    if severity == "alarm":
        return Priority.FIRE if category in ("fire", "sabotage") else Priority.ALARM
    if category == "system":
        return Priority.SYSTEM
    return Priority.WARNING


def _subject_of(content: bytes) -> str:
    headers = BytesHeaderParser(policy=default_policy).parsebytes(content, headersonly=True)
    return str(headers.get("Subject", ""))


@dataclass(frozen=True, slots=True)
class NewEmail:
    """What :meth:`~tocsin.outbox.OutboxTransaction.enqueue` stores: a rendered mail."""

    mail: Mail
    priority: int = Priority.ALARM
    subject: str = ""

    @classmethod
    def of(cls, mail: Mail, priority: int = Priority.ALARM) -> NewEmail:
        """Wrap ``mail``, reading its Subject for the admin view."""
        return cls(mail, int(priority), _subject_of(mail.content))


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """One recipient of a claimed email."""

    id: int
    recipient: str
    attempts: int
    queued_at: float


@dataclass(frozen=True, slots=True)
class ClaimedEmail:
    """An email and those of its recipients a worker now holds a lease on."""

    email_id: int
    sender: str
    content: bytes
    message_id: str
    smtputf8: bool
    priority: int
    deliveries: tuple[ClaimedDelivery, ...]

    def mail(self) -> Mail:
        """The message for these recipients: the stored bytes, one envelope."""
        return Mail(
            sender=self.sender,
            recipients=tuple(d.recipient for d in self.deliveries),
            content=self.content,
            message_id=self.message_id,
            smtputf8=self.smtputf8,
        )


@dataclass(frozen=True, slots=True)
class DeliveryUpdate:
    """The outcome of one attempt for one delivery, as the store records it.

    ``status`` is SENT, FAILED, DEAD, or QUEUED (retry at ``next_attempt_at``).
    ``spent`` is False when the attempt does not count (a pause: the settings were wrong).
    """

    delivery_id: int
    status: Status
    next_attempt_at: float | None = None
    spent: bool = True
    step: str = ""
    reason: str = ""
    error: str = ""
    code: int | None = None
    server_reply: str = ""
    tracking_id: str = ""  # SENT through the online service: ask it later how it went
    link: str = ""  # the failover chain's link that carried (or last tried) it


@dataclass(frozen=True, slots=True)
class Release:
    """Give a claimed delivery back, due at ``next_attempt_at``, without spending an attempt."""

    delivery_id: int
    next_attempt_at: float


ATTEMPTS_KEPT: Final = 20
"""Attempts the delivery log keeps per delivery: the newest."""


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    """One attempt of a delivery, as the delivery log keeps it (newest 20 per delivery).

    ``status`` is the delivery's state after the attempt: SENT, QUEUED (a temporary
    failure: tried again later), FAILED or DEAD.  ``attempt`` is the delivery's count of
    attempts after it; one that did not count (delivery paused) repeats the number
    before it.  ``answer`` is the server's reply, else the error.
    """

    attempt: int
    at: float
    status: Status
    step: str = ""
    reason: str = ""
    code: int | None = None
    answer: str = ""
    link: str = ""


@dataclass(frozen=True, slots=True)
class DeliveryView:
    """One delivery as the admin sees it."""

    id: int
    email_id: int
    recipient: str
    status: Status
    priority: int
    attempts: int
    next_attempt_at: float | None
    lease_owner: str | None
    last_step: str
    last_reason: str
    last_error: str
    last_code: int | None
    server_reply: str
    message_id: str
    subject: str
    queued_at: float
    created_at: float
    updated_at: float
    remote: Tracking | None = None  # the online service's later word, if it took the mail
    link: str = ""  # the link of the failover chain that carried (or last tried) it
    history: tuple[DeliveryAttempt, ...] = ()
    """Its attempts, oldest first (filled for one email's detail, empty in lists)."""


@dataclass(frozen=True, slots=True)
class EmailView:
    """One email with all its deliveries (``content`` only when asked for)."""

    id: int
    message_id: str
    sender: str
    subject: str
    priority: int
    size: int
    created_at: float
    deliveries: tuple[DeliveryView, ...]
    content: bytes | None = None


@dataclass(frozen=True, slots=True)
class ListFilter:
    """Which deliveries to list; every field left as None does not filter."""

    statuses: tuple[Status, ...] = ()
    older_than: float | None = None  # created before this time
    newer_than: float | None = None  # created at or after this time
    recipient: str | None = None  # substring, case-insensitive
    email_id: int | None = None
    remote_states: tuple[RemoteState, ...] = ()  # the online service's later word
    limit: int = 100
