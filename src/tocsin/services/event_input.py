"""Events from outside: the JSON an appliance posts (one event, or ``{"events": [...]}``).

Every field is checked and every problem named (``events[3].device``) before anything
is stored; whether the group exists is checked at intake, inside the transaction.
Device and sensor names reach the email subject, so line breaks, control characters
and encoded words in them are refused here (and cleaned again by the renderer, and
the rendered message is parsed back: three locks on the same door).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from tocsin.model import Category, Severity, State
from tocsin.services.inputs import Fields, InputRefused, issue
from tocsin.validation import Issue

__all__ = [
    "EVENT_FIELDS",
    "MAX_BATCH",
    "NAME_LIMIT",
    "TEXT_LIMIT",
    "EventInput",
    "parse_event",
    "parse_events",
]

EVENT_FIELDS: Final = (
    "group",
    "device",
    "sensor",
    "category",
    "severity",
    "state",
    "value",
    "unit",
    "threshold",
    "text",
    "occurred_at",
    "client_event_id",
    "clears",
)
MAX_BATCH: Final = 1000
TEXT_LIMIT: Final = 2000
NAME_LIMIT: Final = 200
UNIT_LIMIT: Final = 20
# Client ids are only stored and compared, never put into a header; UUIDs, ULIDs,
# "gateway-7:42" and the like all fit.
_CLIENT_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+-]{0,127}")
_EVENT_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True, slots=True)
class EventInput:
    """One checked event as a client sent it (the intake adds id, time and thread).

    ``severity`` may be None for a cleared event (it takes the raise's).
    ``fingerprint`` identifies the content, so a reused ``client_event_id`` with a
    different event is told apart from a retry.
    """

    group_id: str
    device: str
    sensor: str
    category: Category
    severity: Severity | None
    state: State
    value: float | None = None
    unit: str = ""
    threshold: float | None = None
    text: str = ""
    occurred_at: datetime | None = None
    client_event_id: str | None = None
    clears: str | None = None
    fingerprint: str = ""


def _fingerprint(data: Mapping[str, object]) -> str:
    canonical = json.dumps(
        {k: data[k] for k in EVENT_FIELDS if data.get(k) is not None},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _ids(fields: Fields, state: State | None) -> tuple[str | None, str | None]:
    client_id = fields.text("client_event_id", limit=128, required=False) or None
    if client_id is not None and not _CLIENT_ID.fullmatch(client_id):
        fields.problem(
            "client_event_id",
            "field_id",
            limit=128,
            extra="the characters . _ : @ / + -",
        )
    clears = fields.text("clears", limit=64, required=False) or None
    if clears is not None:
        if state is not State.CLEARED:
            fields.problem(
                "clears", "invalid_value", detail="only an event with state 'cleared' clears one"
            )
        elif not _EVENT_ID.fullmatch(clears):
            fields.problem("clears", "unknown_event", event=clears[:64])
    return client_id, clears


def parse_event(
    data: object,
    *,
    issues: list[Issue],
    prefix: str = "",
    known_group: Callable[[str], bool] | None = None,
) -> EventInput | None:
    """One event from its JSON form, or None (the problems are added to ``issues``).

    ``known_group`` (optional) names unknown groups together with the other problems;
    the intake checks the group again inside its transaction either way.
    """
    before = len(issues)
    fields = Fields(data, prefix=prefix, known=EVENT_FIELDS, issues=issues)
    if len(issues) > before and not isinstance(data, dict):
        return None
    group = fields.text("group", limit=128)
    if group and known_group is not None and not known_group(group):
        fields.problem("group", "unknown_group", group=group)
    device = fields.text("device", limit=NAME_LIMIT)
    sensor = fields.text("sensor", limit=NAME_LIMIT)
    category = fields.choice("category", Category)
    state = fields.choice("state", State, default=State.RAISED)
    severity = (
        fields.choice("severity", Severity)
        if state is not State.CLEARED or fields.has("severity")
        else None
    )
    # Optional details, passed on as they are.
    extra: dict[str, Any] = {
        "value": fields.number("value"),
        "threshold": fields.number("threshold"),
        "unit": fields.text("unit", limit=UNIT_LIMIT, required=False),
        "text": fields.text("text", limit=TEXT_LIMIT, required=False, header=False),
        "occurred_at": fields.time("occurred_at"),
    }
    client_id, clears = _ids(fields, state)
    if len(issues) > before or category is None or state is None:
        return None
    return EventInput(
        group_id=group,
        device=device,
        sensor=sensor,
        category=category,
        severity=severity,
        state=state,
        client_event_id=client_id,
        clears=clears,
        fingerprint=_fingerprint(fields.data),
        **extra,
    )


def parse_events(
    payload: object, *, known_group: Callable[[str], bool] | None = None
) -> list[EventInput]:
    """The events of a request body: one event object, or ``{"events": [...]}``.

    Raises :class:`~tocsin.services.inputs.InputRefused` naming every bad field, so a
    batch is accepted whole or not at all.
    """
    issues: list[Issue] = []
    if isinstance(payload, dict) and "events" in payload:
        unknown = [k for k in payload if k != "events"]
        issues += [issue(str(k), "field_unknown", known="events") for k in unknown]
        items = payload["events"]
        if not isinstance(items, list):
            raise InputRefused([*issues, issue("events", "field_type", expected="a list")])
        if not 1 <= len(items) <= MAX_BATCH:
            raise InputRefused([*issues, issue("events", "batch_size", limit=MAX_BATCH)])
        parsed = [
            parse_event(e, issues=issues, prefix=f"events[{i}].") for i, e in enumerate(items)
        ]
        prefix = "events[{}]."
    else:
        parsed = [parse_event(payload, issues=issues, known_group=known_group)]
        prefix = ""
    seen: dict[str, int] = {}
    for index, event in enumerate(parsed):
        if event is None or event.client_event_id is None:
            continue
        if event.client_event_id in seen:
            issues.append(issue(f"{prefix.format(index)}client_event_id", "client_id_repeated"))
        seen[event.client_event_id] = index
    if issues:
        raise InputRefused(issues)
    return [e for e in parsed if e is not None]
