"""What each kind of email says: subject, headline, labelled rows, and the rendered result.

:class:`_Content` is everything that differs between the kinds (alarm, system
notice, acknowledgement note, summary); the renderer turns it into both parts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tocsin.alarm_email.formatting import (
    _group_path,
    _line,
    _local_time,
    _number,
    _paragraph,
    _what,
)
from tocsin.message import Mail
from tocsin.model import Event, User
from tocsin.routing import GroupTree


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    """One email, ready for the outbox: the rendered :class:`~tocsin.message.Mail` and its parts.

    ``email_id`` is stable (see :func:`tocsin.model.email_id`); ``template_problems``
    lists overridden templates that failed and were replaced by the shipped ones.
    """

    email_id: str
    user_id: str
    mail: Mail
    subject: str
    text: str
    html: str
    template_problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Content:
    """Everything that differs between the kinds of email; the rest is shared."""

    kind: str
    subject: str
    headline: str
    subheadline: str
    color: str
    rows: Sequence[tuple[str, str]]
    text_lines: Sequence[str]
    link: str | None
    footer: str
    named: Mapping[str, object]
    ack_link: str | None = None
    text_label: str = ""  # what ``text_lines`` are ("Message from the device"); "" unlabelled


def _event_fields(
    event: Event, user: User, tree: GroupTree | None, w: Mapping[str, str]
) -> dict[str, str]:
    """The event's values as the email names them (``event`` in the templates)."""
    # In display order: the rows of the email follow this.
    return {
        "severity": w[f"severity_{event.severity.value}"],
        "category": w[f"category_{event.category.value}"],
        "state": w[f"state_{event.state.value}"],
        "group_path": _group_path(tree, event.group_id),
        "device": _line(event.device, 200),
        "sensor": _line(event.sensor, 200),
        "value": "" if event.value is None else _number(event.value, event.unit),
        "threshold": "" if event.threshold is None else _number(event.threshold, event.unit),
        "time": _local_time(event.occurred_at, user.time_zone, user.language),
        "id": event.id,
        "unit": _line(event.unit, 20),
    }


def _event_line(event: Event, user: User, tree: GroupTree, w: Mapping[str, str]) -> list[str]:
    """One event as the summary's first/last line: time, severity, category, where, what."""
    return [
        _local_time(event.occurred_at, user.time_zone, user.language),
        w[f"severity_{event.severity.value}"],
        w[f"category_{event.category.value}"],
        _group_path(tree, event.group_id),
        _what(event),
    ]


def _event_subject(kind: str, event: Event, named: Mapping[str, str], w: Mapping[str, str]) -> str:
    """``[ALARM] Fire – Building A / Server room – Smoke detector 2``."""
    if kind == "system":
        prefix = w["prefix_resolved" if event.cleared else "prefix_system"]
        first_line = next(iter(_paragraph(event.text)), "")
        parts = [_what(event), _line(first_line, 120)]
    else:
        prefix = w["prefix_cleared" if event.cleared else f"prefix_{event.severity.value}"]
        parts = [named["category"], named["group_path"], _what(event)]
    return f"[{prefix}] " + " – ".join(p for p in parts if p)


def _event_headline(kind: str, event: Event, named: Mapping[str, str], w: Mapping[str, str]) -> str:
    if kind == "system":
        return w["headline_resolved" if event.cleared else "headline_system"]
    state = w["headline_cleared"] if event.cleared else named["severity"]
    return f"{state}: {named['category']}"


def _event_rows(kind: str, named: Mapping[str, str], w: Mapping[str, str]) -> list[tuple[str, str]]:
    """The labelled values in display order, leaving out empty ones (and the unit)."""
    hidden = {"unit", "category", "group_path"} if kind == "system" else {"unit"}
    return [(w[key], value) for key, value in named.items() if value and key not in hidden]
