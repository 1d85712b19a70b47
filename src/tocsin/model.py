"""The notification model: categories, severities, alarm groups, users and events.

Plain frozen values, validated on construction, with no I/O.  The rules that use
them (inheritance, who gets an email) live in :mod:`tocsin.routing`.

Ids are stable strings.  :func:`new_id` makes sortable ones (ULID layout) for
events; :func:`email_id` derives the id of the one email an event sends to one
user, so a retry, a threaded "cleared" email and a future signed "acknowledge"
link all name the same thing without asking a database.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Final

from tocsin.headers import unsafe_character
from tocsin.i18n import Language
from tocsin.quiet.window import QuietWindow

__all__ = [
    "ROOT_POLICY",
    "Admin",
    "AlarmGroup",
    "ApiToken",
    "Category",
    "CategoryPolicy",
    "Event",
    "GroupSettings",
    "Language",
    "NotificationRow",
    "NotificationStatus",
    "Session",
    "Severity",
    "State",
    "StoredEvent",
    "User",
    "email_id",
    "new_id",
]

# Event ids go verbatim into Message-IDs (RFC 5322 §3.6.4 dot-atom-text), so no dots.
_EVENT_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Group and user ids are names an admin may choose (YAML import): a little looser.
_NAME_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+-]{0,127}")
_CROCKFORD: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class Category(StrEnum):
    """What kind of alarm an event is (the KentixONE alarm categories)."""

    ARMED = "armed"  # armed-active: burglary, door contacts while armed
    ALWAYS = "always"  # always active: temperature, humidity, leakage
    FIRE = "fire"
    SABOTAGE = "sabotage"
    SYSTEM = "system"  # failures, communication loss, firmware; Tocsin's own trouble


class Severity(StrEnum):
    """How serious an event is; ``alarm`` is worse than ``warning``."""

    WARNING = "warning"
    ALARM = "alarm"

    @property
    def rank(self) -> int:
        """Higher is worse: compare severities with this."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK: Final = {Severity.WARNING: 1, Severity.ALARM: 2}


class State(StrEnum):
    """Whether an event starts a condition or ends it."""

    RAISED = "raised"
    CLEARED = "cleared"


_ID_RULES: Final = {
    _EVENT_ID: "1 to 64 letters, digits, '-' or '_'",
    _NAME_ID: "1 to 128 letters, digits, '-', '_', '.', '@' or '+', starting with a letter/digit",
}


def _check_id(value: str, pattern: re.Pattern[str], what: str) -> None:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValueError(f"{what} {value!r} is not a valid id: use {_ID_RULES[pattern]}")


def _check_text(value: str, what: str) -> None:
    problem = unsafe_character(value)
    if problem is not None:
        raise ValueError(f"{what} contains a control character or line break: {problem}")


@dataclass(frozen=True, slots=True)
class CategoryPolicy:
    """A group's own settings for one category.

    ``email_warnings``: whether warnings are emailed too (alarms always are).
    ``max_per_hour``: at most this many notifications per hour, or ``None`` for no cap.
    Raises ``ValueError`` for a cap below one.
    """

    email_warnings: bool = True
    max_per_hour: int | None = None

    def __post_init__(self) -> None:
        cap = self.max_per_hour
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
            raise ValueError(f"max_per_hour must be a whole number of at least 1, not {cap!r}")


ROOT_POLICY: Final = CategoryPolicy(email_warnings=True, max_per_hour=None)
"""What a root group's "inherit" means: warnings emailed, no cap."""


@dataclass(frozen=True, slots=True)
class GroupSettings:
    """Per category: ``None`` inherits from the parent group, a policy overrides it."""

    armed: CategoryPolicy | None = None
    always: CategoryPolicy | None = None
    fire: CategoryPolicy | None = None
    sabotage: CategoryPolicy | None = None
    system: CategoryPolicy | None = None

    def own(self, category: Category) -> CategoryPolicy | None:
        """This group's own policy for ``category``, or ``None`` if it inherits."""
        policy: CategoryPolicy | None = getattr(self, category.value)
        return policy

    def with_policy(self, category: Category, policy: CategoryPolicy | None) -> GroupSettings:
        """A copy that overrides ``category`` with ``policy`` (``None``: inherit again)."""
        return replace(self, **{category.value: policy})

    @property
    def overridden(self) -> frozenset[Category]:
        """The categories this group overrides."""
        return frozenset(c for c in Category if self.own(c) is not None)


@dataclass(frozen=True, slots=True, kw_only=True)
class AlarmGroup:
    """A node of the alarm-group tree (site → building → room).

    ``ack_warnings``: whether warnings carry an acknowledge link too (``None``
    inherits from the parent group; at the root, no: only alarms do).
    Raises ``ValueError`` for an invalid id, an empty name or a group that is its own parent.
    """

    id: str
    name: str
    parent_id: str | None = None
    settings: GroupSettings = GroupSettings()
    ack_warnings: bool | None = None

    def __post_init__(self) -> None:
        _check_id(self.id, _NAME_ID, "Group id")
        if not self.name.strip():
            raise ValueError(f"group {self.id!r} needs a name")
        _check_text(self.name, f"The name of group {self.id!r}")
        if self.parent_id == self.id:
            raise ValueError(f"group {self.id!r} cannot be its own parent")


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    """Someone who may receive alarm emails.

    ``group_ids``: the alarm groups assigned (each covers its subgroups).
    ``email_categories``: the categories with email on; empty by default, so
    storing an address alone sends nothing (as in KentixONE).
    ``quiet_hours``: windows in the user's ``time_zone`` when only fire and
    sabotage emails reach them (:mod:`tocsin.quiet`); the rest waits for a summary.
    The address and time zone are checked at the edge (settings validation),
    not here, to keep construction free of lookups.
    """

    id: str
    name: str
    email: str
    language: Language = Language.EN
    time_zone: str = "UTC"
    enabled: bool = True
    group_ids: frozenset[str] = frozenset()
    email_categories: frozenset[Category] = frozenset()
    quiet_hours: tuple[QuietWindow, ...] = ()

    def __post_init__(self) -> None:
        _check_id(self.id, _NAME_ID, "User id")
        _check_text(self.name, f"The name of user {self.id!r}")

    def wants_email(self, category: Category) -> bool:
        """True if this user turned email on for ``category``."""
        return category in self.email_categories


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Something a sensor (or Tocsin itself) reported.

    Device, sensor and text come from outside and are untrusted: whoever puts
    them into a header cleans them first.  ``clears`` names the raised event a
    ``cleared`` event ends (set at intake), so both emails thread together.
    ``client_event_id`` is the id a client chose to make its retries idempotent.
    Raises ``ValueError`` for a naive time, an invalid id or a misplaced ``clears``.
    """

    id: str
    group_id: str
    device: str
    sensor: str
    category: Category
    severity: Severity
    state: State
    occurred_at: datetime
    value: float | None = None
    unit: str = ""
    threshold: float | None = None
    text: str = ""
    client_event_id: str | None = None
    clears: str | None = field(default=None)

    def __post_init__(self) -> None:
        _check_id(self.id, _EVENT_ID, "Event id")
        if self.occurred_at.tzinfo is None or self.occurred_at.utcoffset() is None:
            raise ValueError("occurred_at needs a time zone (an aware datetime)")
        if self.clears is not None:
            if self.state is not State.CLEARED:
                raise ValueError("only a cleared event can name the event it clears")
            _check_id(self.clears, _EVENT_ID, "Cleared event id")
            if self.clears == self.id:
                raise ValueError("an event cannot clear itself")

    @property
    def cleared(self) -> bool:
        """True for an event that ends a condition."""
        return self.state is State.CLEARED


# ---------------------------------------------------------------- events as stored
class NotificationStatus:
    """The values of ``notification.status`` (plain strings: they are stored)."""

    SENT = "sent"
    HELD = "held"
    SUMMARIZED = "summarized"
    FAILED = "failed"
    DROPPED = "dropped"


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as stored: the model, plus intake facts the model does not carry."""

    event: Event
    received_at: float
    is_open: bool
    fingerprint: str


@dataclass(frozen=True, slots=True)
class NotificationRow:
    """What became of one event's email to one user."""

    event_id: str
    user_id: str
    status: str
    reason: str
    hour: int
    email_id: str
    outbox_id: int | None
    summary_id: str | None
    created_at: float


# ---------------------------------------------------------------- administrators
@dataclass(frozen=True, slots=True)
class Admin:
    """An administrator (no password: only its hash, which never leaves the store layer)."""

    id: int
    username: str
    language: str
    created_at: float
    last_login_at: float | None


@dataclass(frozen=True, slots=True)
class Session:
    """A login session; the cookie holds the id, the store only its hash."""

    admin: Admin
    csrf_token: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class ApiToken:
    """An API token's record (never the token itself)."""

    id: int
    name: str
    scopes: tuple[str, ...]
    created_at: float
    last_used_at: float | None
    revoked_at: float | None

    @property
    def active(self) -> bool:
        """True while not revoked."""
        return self.revoked_at is None


def new_id(at: datetime | None = None) -> str:
    """A new 26-character event id that sorts by creation time.

    ULID layout: 48 bits of milliseconds since the epoch, then 80 random bits,
    in Crockford base 32.  ``at`` (aware) sets the time part, for tests and imports.
    Raises ``ValueError`` for a time before 1970 or a naive ``at``.
    """
    if at is None:
        return _encode(_IDS_FOR_NOW.next())
    if at.tzinfo is None:
        raise ValueError("new_id needs an aware datetime")
    return _encode(_id_value(int(at.timestamp() * 1000)))


def _id_value(millis: int) -> int:
    if not 0 <= millis < 1 << 48:
        raise ValueError("the time is outside the range an id can carry")
    return (millis << 80) | int.from_bytes(secrets.token_bytes(10), "big")


class _IdsForNow:
    """Id values for now, each above every one this process gave before: two events in
    one millisecond keep their order (ULID's monotonic mode) instead of a random one."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            self._last = max(_id_value(time.time_ns() // 1_000_000), self._last + 1)
            return self._last


_IDS_FOR_NOW = _IdsForNow()


def _encode(value: int) -> str:
    """``value`` (below 2**128) in 26 Crockford base-32 digits, most significant first:
    two digits at a time, from a table of every pair (half the Python steps of one
    digit at a time: 2.6 -> 1.2 µs an event id, issue 11)."""
    return "".join([_CROCKFORD_PAIRS[(value >> shift) & 1023] for shift in range(120, -10, -10)])


_CROCKFORD_PAIRS: Final = tuple(a + b for a in _CROCKFORD for b in _CROCKFORD)


@functools.lru_cache(maxsize=1024)
def email_id(event_id: str, user_id: str) -> str:
    """The stable id of the email ``event_id`` sends to ``user_id``.

    Deterministic, so a retry or a re-render names the same email; the user id is
    hashed because its characters are not all allowed in a Message-ID.  Kept: the
    intake asks for each one twice, for the email and for its notification (issue 11).
    """
    _check_id(event_id, _EVENT_ID, "Event id")
    digest = hashlib.sha256(f"{event_id}\0{user_id}".encode()).hexdigest()[:16]
    return f"{event_id}.{digest}"
