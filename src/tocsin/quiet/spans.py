"""Is a user quiet at an instant, and until when: pure functions of windows, zone and instant.

A window's occurrence starts on a local date at its local start time and ends at its
local end time (on the next date when it crosses midnight).  Both are turned into
instants with the user's :mod:`zoneinfo` zone the way :pep:`495` defines with
``fold=0``, which settles the two days a year the local clock is not a plain line:

* **The hour skipped in spring** (Europe/Berlin: 02:00–03:00 on the last Sunday of
  March does not exist): a start or end in it happens as if the clock had not been put
  forward yet — 02:30 becomes 03:30 summer time.  A window 22:00–07:00 around it simply
  lasts an hour less.
* **The hour repeated in autumn** (02:00–03:00 on the last Sunday of October happens
  twice): a start or end in it means its first pass (summer time).  A window
  22:00–07:00 around it lasts an hour more.

The answer for an instant never depends on which pass of the local clock it is read
in: it is a question about instants, answered with instants.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tocsin.quiet.window import QuietWindow

__all__ = [
    "BREAK_THROUGH",
    "always_quiet",
    "breaks_through",
    "is_quiet",
    "occurrences",
    "quiet_until",
    "zone",
]

BREAK_THROUGH: Final = frozenset({"fire", "sabotage"})
"""The categories (:class:`~tocsin.model.Category` values) whose emails reach a user
in quiet hours all the same."""
_LOOKAHEAD: Final = 8  # days: windows covering the whole week are quiet "until" a week on


def breaks_through(category: str) -> bool:
    """True for fire and sabotage: their emails ignore quiet hours."""
    return category in BREAK_THROUGH


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """The zone called ``name``; UTC for a name this system does not know (the edge
    validates zones, so that only happens when a zone was removed from the system)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _instant(day: date, wall: QuietWindow, which: str, tz: ZoneInfo) -> datetime:
    clock = wall.start if which == "start" else wall.end
    return datetime.combine(day, clock, tzinfo=tz).astimezone(UTC)  # fold=0: see the module


def occurrences(
    windows: Sequence[QuietWindow], zone_name: str, first: date, last: date
) -> Iterator[tuple[datetime, datetime]]:
    """Every (start, end) in UTC of the windows starting on a local date ``first``..``last``."""
    tz = zone(zone_name)
    day = first
    while day <= last:
        for window in windows:
            if day.weekday() in window.days:
                end_day = day + timedelta(days=1) if window.crosses_midnight else day
                start = _instant(day, window, "start", tz)
                end = _instant(end_day, window, "end", tz)
                if end > start:  # only a window inside the skipped hour could be empty
                    yield start, end
        day += timedelta(days=1)


def _covering(windows: Sequence[QuietWindow], zone_name: str, at: datetime) -> datetime | None:
    """The latest end of an occurrence open at ``at`` (``None``: not quiet at ``at``)."""
    local = at.astimezone(zone(zone_name)).date()
    ends = [
        end
        for start, end in occurrences(windows, zone_name, local - timedelta(days=2), local)
        if start <= at < end
    ]
    return max(ends, default=None)


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("quiet hours need an aware instant")
    return at.astimezone(UTC)


def is_quiet(windows: Sequence[QuietWindow], zone_name: str, at: datetime) -> bool:
    """True when a window of ``windows`` (local to ``zone_name``) is open at ``at``.

    Raises ``ValueError`` for a naive ``at``.
    """
    return bool(windows) and _covering(windows, zone_name, _aware(at)) is not None


def quiet_until(windows: Sequence[QuietWindow], zone_name: str, at: datetime) -> datetime | None:
    """When the quiet period open at ``at`` ends (UTC), or ``None`` if not quiet at ``at``.

    Windows that overlap or touch end together (``mon-fri 22:00-07:00`` and
    ``sat,sun 00:00-00:00`` make Friday night last until Monday 07:00).  Quiet for
    more than a week (every day all day) reports a week on.  Raises ``ValueError`` for a
    naive ``at``.
    """
    start = _aware(at)
    end = _covering(windows, zone_name, start) if windows else None
    if end is None:
        return None
    limit = start + timedelta(days=_LOOKAHEAD - 1)
    while end < limit:
        later = _covering(windows, zone_name, end)
        if later is None:
            return end
        end = later
    return limit


def always_quiet(windows: Sequence[QuietWindow], zone_name: str, at: datetime) -> bool:
    """True when ``windows`` leave no hour of the week free: quiet at ``at`` and for a week
    on (every day all day, or windows that join up all round).  Raises ``ValueError``
    for a naive ``at``."""
    until = quiet_until(windows, zone_name, at)
    return until is not None and until - _aware(at) >= timedelta(days=_LOOKAHEAD - 1)
