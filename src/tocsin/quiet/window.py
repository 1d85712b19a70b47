"""A user's quiet-hours windows: days of the week, a start and an end in local time.

A :class:`QuietWindow` starts on each of its ``days`` at ``start`` (wall-clock time in
the user's time zone) and ends at ``end``; an ``end`` at or before ``start`` is on the
next day (22:00–07:00 crosses midnight), and ``end == start`` means 24 hours
(``sat,sun 00:00-00:00`` is the whole weekend).  Windows may overlap: a user is
quiet while any window is open.

Windows are written three ways, all read here with field-named errors
(:class:`QuietHoursError`): as data ``{"days": ["mon", ...], "start": "22:00",
"end": "07:00"}`` (API, site YAML, the store), and as text ``mon-fri 22:00-07:00``
(the command line).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import time
from typing import Final

from tocsin.errors import ConfigError
from tocsin.i18n import translate
from tocsin.validation import Issue, Level

__all__ = [
    "DAY_NAMES",
    "MAX_WINDOWS",
    "QuietHoursError",
    "QuietWindow",
    "parse_day",
    "parse_time",
    "window_from_dict",
    "window_from_text",
    "windows_from_data",
    "windows_to_data",
]

DAY_NAMES: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Day names in :meth:`datetime.weekday` order (Monday is 0)."""
MAX_WINDOWS: Final = 14
_TIME: Final = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")
_TEXT: Final = re.compile(r"\s*(\S+)\s+(\S+?)\s*-\s*(\S+)\s*")


class QuietHoursError(ConfigError, ValueError):
    """Quiet hours that cannot be used; ``code`` says why and ``field`` where."""

    def __init__(self, code: str, field: str, **params: object) -> None:
        texts = {"name": field, **{k: str(v) for k, v in params.items()}}
        issue = Issue(field=field, code=code, level=Level.ERROR, params=texts)
        super().__init__(translate(code, "en", **texts), issues=(issue,))
        self.code = code
        self.field = field


@dataclass(frozen=True, slots=True)
class QuietWindow:
    """Quiet from ``start`` on each of ``days`` (0 = Monday) until ``end`` (see the module).

    Raises :class:`QuietHoursError` for no days, a day outside 0–6, or a time with
    seconds or a time zone.
    """

    days: frozenset[int]
    start: time
    end: time

    def __post_init__(self) -> None:
        if not self.days:
            raise QuietHoursError("quiet_no_days", "days")
        if not all(isinstance(d, int) and 0 <= d <= 6 for d in self.days):
            raise QuietHoursError("quiet_day", "days", value="?", choices=", ".join(DAY_NAMES))
        for name in ("start", "end"):
            value = getattr(self, name)
            if value.tzinfo is not None or value.second or value.microsecond:
                raise QuietHoursError("quiet_time", name, value=value.isoformat())

    @property
    def crosses_midnight(self) -> bool:
        """True when the window ends on the day after it starts (or lasts 24 hours)."""
        return self.end <= self.start

    def days_text(
        self, names: Sequence[str] = DAY_NAMES, *, dash: str = "-", comma: str = ","
    ) -> str:
        """The days as short text: ``mon-fri``, ``sat,sun``, ``mon,wed-fri``; a page passes
        its language's day ``names`` (Monday first) and typographic ``dash`` and ``comma``."""
        runs: list[list[int]] = []
        for day in sorted(self.days):
            if runs and runs[-1][-1] == day - 1:
                runs[-1].append(day)
            else:
                runs.append([day])
        if len(runs) > 1 and runs[0][0] == 0 and runs[-1][-1] == 6:
            runs[0] = runs.pop() + runs[0]  # across the week's end: sun-thu, fri-mon
        parts: list[str] = []
        for run in runs:  # three days or more in a row read best as a range
            if len(run) >= 3:
                parts.append(f"{names[run[0]]}{dash}{names[run[-1]]}")
            else:
                parts.extend(names[d] for d in run)
        return comma.join(parts)

    def text(self) -> str:
        """The window as the command line writes it: ``mon-fri 22:00-07:00``."""
        return f"{self.days_text()} {self.start:%H:%M}-{self.end:%H:%M}"

    def as_dict(self) -> dict[str, object]:
        """The window as data (API, site YAML, the store)."""
        return {
            "days": [DAY_NAMES[d] for d in sorted(self.days)],
            "start": f"{self.start:%H:%M}",
            "end": f"{self.end:%H:%M}",
        }


def parse_time(value: object, field: str) -> time:
    """``"22:00"`` → 22:00; raises :class:`QuietHoursError` naming ``field`` otherwise."""
    match = _TIME.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise QuietHoursError("quiet_time", field, value=str(value)[:20])
    return time(int(match[1]), int(match[2]))


def parse_day(value: object, field: str) -> int:
    """``"mon"`` or ``"Monday"`` (any case) → 0; raises :class:`QuietHoursError`."""
    text = value.strip().lower() if isinstance(value, str) else ""
    for names in (DAY_NAMES, _FULL):
        if text in names:
            return names.index(text)
    raise QuietHoursError("quiet_day", field, value=str(value)[:20], choices=", ".join(DAY_NAMES))


_FULL: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _days_from_text(text: str, field: str) -> frozenset[int]:
    days: set[int] = set()
    for part in text.split(","):
        first, dash, last = part.partition("-")
        if not dash:
            days.add(parse_day(first, field))
            continue
        a, b = parse_day(first, field), parse_day(last, field)
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return frozenset(days)


def window_from_text(text: object, field: str = "quiet_hours") -> QuietWindow:
    """``"mon-fri 22:00-07:00"`` (days: names, ranges, commas) → a window.

    Raises :class:`QuietHoursError` naming ``field``.
    """
    match = _TEXT.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise QuietHoursError("quiet_text", field, value=str(text)[:40])
    return QuietWindow(
        _days_from_text(match[1], field),
        parse_time(match[2], field),
        parse_time(match[3], field),
    )


def window_from_dict(raw: object, field: str = "quiet_hours[0]") -> QuietWindow:
    """Read ``{"days": [...], "start": "HH:MM", "end": "HH:MM"}``; raises
    :class:`QuietHoursError` naming the part of ``field`` to change."""
    if not isinstance(raw, Mapping) or set(raw) - {"days", "start", "end"}:
        raise QuietHoursError("quiet_shape", field)
    days = raw.get("days")
    if not isinstance(days, list) or not days:
        raise QuietHoursError("quiet_no_days", f"{field}.days")
    return QuietWindow(
        frozenset(parse_day(d, f"{field}.days") for d in days),
        parse_time(raw.get("start"), f"{field}.start"),
        parse_time(raw.get("end"), f"{field}.end"),
    )


def windows_from_data(raw: object, field: str = "quiet_hours") -> tuple[QuietWindow, ...]:
    """A list of windows as data (or as text lines); ``None`` or ``[]`` is none.

    Raises :class:`QuietHoursError` for anything else, naming ``quiet_hours[i]...``.
    """
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise QuietHoursError("quiet_shape", field)
    if len(raw) > MAX_WINDOWS:
        raise QuietHoursError("quiet_too_many", field, max=MAX_WINDOWS)
    found: list[QuietWindow] = []
    refused: list[QuietHoursError] = []
    for index, item in enumerate(raw):  # every bad window is named, not just the first
        where = f"{field}[{index}]"
        try:
            read = window_from_text if isinstance(item, str) else window_from_dict
            found.append(read(item, where))
        except QuietHoursError as exc:
            refused.append(exc)
    if refused:
        first = refused[0]
        first.issues = tuple(i for exc in refused for i in exc.issues)
        raise first
    return _unique(found)


def _unique(windows: Iterable[QuietWindow]) -> tuple[QuietWindow, ...]:
    return tuple(dict.fromkeys(windows))


def windows_to_data(windows: Sequence[QuietWindow]) -> list[dict[str, object]]:
    """The windows as data, in their order (the inverse of :func:`windows_from_data`)."""
    return [w.as_dict() for w in windows]
