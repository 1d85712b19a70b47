"""Quiet hours per user (issue 13, point 4): the windows, and whether a user is quiet.

Pure core: no clock, no store.  Routing (:mod:`tocsin.routing`) asks
:func:`is_quiet` with the instant the caller gives it; the summaries and the
escalation services ask the same function with their own clock.

* :mod:`tocsin.quiet.window` — :class:`QuietWindow` and reading it (data, text).
* :mod:`tocsin.quiet.spans` — :func:`is_quiet`, :func:`quiet_until`, and what breaks
  through (fire, sabotage); the module text says what a window does across a DST change.
"""

from tocsin.quiet.spans import (
    BREAK_THROUGH,
    always_quiet,
    breaks_through,
    is_quiet,
    occurrences,
    quiet_until,
)
from tocsin.quiet.window import (
    DAY_NAMES,
    MAX_WINDOWS,
    QuietHoursError,
    QuietWindow,
    parse_day,
    parse_time,
    window_from_dict,
    window_from_text,
    windows_from_data,
    windows_to_data,
)

__all__ = [
    "BREAK_THROUGH",
    "DAY_NAMES",
    "MAX_WINDOWS",
    "QuietHoursError",
    "QuietWindow",
    "always_quiet",
    "breaks_through",
    "is_quiet",
    "occurrences",
    "parse_day",
    "parse_time",
    "quiet_until",
    "window_from_dict",
    "window_from_text",
    "windows_from_data",
    "windows_to_data",
]
