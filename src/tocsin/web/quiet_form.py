"""The quiet-hours rows of the user form: a row per window, without JavaScript.

Each row is a set of day boxes (``quiet_<n>_days``), a start and an end time
(``quiet_<n>_start``, ``quiet_<n>_end``) and a "remove" box.  The form shows the
user's windows and two blank rows; a row left blank (no day, no time) or marked for
removal is not sent.  Every rule (a real time, at least one day) is the service's
(:mod:`tocsin.quiet` through :mod:`tocsin.services.site_input`); errors name the
window by its number among the rows sent.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

from tocsin.model import User
from tocsin.quiet import DAY_NAMES, MAX_WINDOWS, QuietWindow, always_quiet, quiet_until
from tocsin.quiet.spans import zone
from tocsin.web.forms import Form
from tocsin.web.texts import Translator

__all__ = [
    "BLANK_ROWS",
    "quiet_label",
    "quiet_payload",
    "quiet_rows",
    "quiet_values_from_form",
    "window_label",
]

BLANK_ROWS: Final = 2
"""Empty rows offered below the user's windows (save to get two more)."""


def _row(window: QuietWindow | None) -> dict[str, Any]:
    if window is None:
        return {"days": [], "start": "", "end": "", "remove": False}
    return {
        "days": [DAY_NAMES[d] for d in sorted(window.days)],
        "start": f"{window.start:%H:%M}",
        "end": f"{window.end:%H:%M}",
        "remove": False,
    }


def quiet_rows(user: User | None) -> list[dict[str, Any]]:
    """The rows the form shows for ``user``'s windows, with the blank rows below."""
    windows = user.quiet_hours if user is not None else ()
    return [_row(w) for w in windows] + [_row(None) for _ in range(BLANK_ROWS)]


def _blank(row: dict[str, Any]) -> bool:
    return not row["days"] and not row["start"] and not row["end"]


def quiet_values_from_form(form: Form) -> list[dict[str, Any]]:
    """The rows as typed (shown again after an error), ending with blank rows."""
    rows: list[dict[str, Any]] = []
    for index in range(MAX_WINDOWS + BLANK_ROWS):
        prefix = f"quiet_{index}_"
        if prefix + "start" not in form and prefix + "end" not in form:
            break
        rows.append(
            {
                "days": [d for d in DAY_NAMES if d in form.every(prefix + "days")],
                "start": form.get(prefix + "start", "").strip(),
                "end": form.get(prefix + "end", "").strip(),
                "remove": form.get(prefix + "remove") == "on",
            }
        )
    kept = [r for r in rows if not _blank(r) and not r["remove"]]
    return kept + [_row(None) for _ in range(BLANK_ROWS)]


def quiet_payload(rows: list[dict[str, Any]]) -> list[dict[str, object]]:
    """The windows to send to the service: the rows neither blank nor to be removed."""
    return [
        {"days": list(r["days"]), "start": r["start"], "end": r["end"]}
        for r in rows
        if not _blank(r) and not r["remove"]
    ]


def quiet_label(user: User, now: datetime) -> tuple[str, str] | None:
    """While ``user`` is in quiet hours at ``now``: when they end, as (day name or ``""``,
    ``"07:00"``) in the user's zone — the day only when it is not within a day;
    ``("always", "")`` when the windows leave no hour of the week free.

    ``None`` when the user is not quiet at ``now``.
    """
    until = quiet_until(user.quiet_hours, user.time_zone, now)
    if until is None:
        return None
    if always_quiet(user.quiet_hours, user.time_zone, now):
        return ("always", "")
    local = until.astimezone(zone(user.time_zone))
    soon = until - now < timedelta(hours=20)
    return ("" if soon else DAY_NAMES[local.weekday()], f"{local:%H:%M}")


def window_label(window: QuietWindow, t: Translator) -> str:
    """The window in the page's language: ``Mo–Fr 22:00–07:00``, ``Sa, So ganztägig``."""
    days = window.days_text([t(f"day_{name}") for name in DAY_NAMES], dash="–", comma=", ")
    if window.start == window.end:
        return f"{days} {t('quiet_all_day')}"
    return f"{days} {window.start:%H:%M}–{window.end:%H:%M}"
