"""What Alertmanager and Grafana alerts have in common, and how one becomes an event.

Both send ``alerts[]`` of ``status`` (firing / resolved), ``labels``, ``annotations``,
``startsAt``, ``endsAt`` and ``fingerprint`` (see :mod:`tocsin.intake.alertmanager`
and :mod:`tocsin.intake.grafana` for the payloads around them).  :func:`read_alert`
checks one; :func:`to_event` maps it (:mod:`tocsin.intake.mapping`) to the
:class:`~tocsin.services.event_input.EventInput` the intake takes.

Idempotency: the client event id is derived from the alert's fingerprint, its
``startsAt`` and its status, so the repeats Alertmanager sends every
``repeat_interval`` (and any redelivery) are the same event, stored once.  The stored
content fingerprint is derived from that id too: a repeat whose annotations changed
(a templated current value) is still the same event, not a conflict.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Final

from tocsin.intake.mapping import IntakeMapping, pick_group, pick_severity
from tocsin.model import Category, State
from tocsin.services.event_input import NAME_LIMIT, TEXT_LIMIT, EventInput, parse_event
from tocsin.services.inputs import Fields, issue
from tocsin.validation import Issue

__all__ = ["MAX_ALERTS", "AlertStatus", "ForeignAlert", "read_alert", "read_alerts", "to_event"]

MAX_ALERTS: Final = 10_000
"""Alerts in one notification: Alertmanager sends a whole group at once, and refusing
one it will not retry would lose them all (a power cut can raise thousands)."""
MAX_LABELS: Final = 200
LABEL_LIMIT: Final = 4000
_FIRST_YEAR: Final = 1970  # Alertmanager and Grafana send year 1 for "no end yet"


class AlertStatus(StrEnum):
    """An alert's status in both payloads."""

    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class ForeignAlert:
    """One checked alert of a webhook payload.

    ``source`` names the sender (``alertmanager``, ``grafana``); ``value`` and
    ``detail`` are what a sender adds beyond the common fields (Grafana's reading).
    """

    source: str
    status: AlertStatus
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: datetime
    ends_at: datetime | None
    fingerprint: str
    value: float | None = None
    detail: str = ""

    def client_event_id(self, status: AlertStatus | None = None) -> str:
        """The client event id of this alert with ``status`` (default its own)."""
        wanted = (status or self.status).value
        key = f"{self.fingerprint}\0{self.starts_at.isoformat()}\0{wanted}"
        return f"{self.source}:{hashlib.sha256(key.encode()).hexdigest()[:40]}"


def _string_map(fields: Fields, name: str) -> dict[str, str]:
    raw = fields.data.get(name)
    if raw is None:
        return {}
    if not isinstance(raw, dict) or len(raw) > MAX_LABELS:
        fields.problem(name, "field_type", expected=f"an object of at most {MAX_LABELS} strings")
        return {}
    found: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(value, str) or len(value) > LABEL_LIMIT:
            fields.problem(f"{name}.{key}"[:200], "field_type", expected="a string")
            continue
        found[str(key)] = value
    return found


def _labels_fingerprint(labels: Mapping[str, str]) -> str:
    """What Alertmanager's fingerprint stands for: the label set (when none was sent)."""
    text = "\0".join(f"{k}\0{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def read_alert(
    data: object, *, source: str, issues: list[Issue], prefix: str
) -> ForeignAlert | None:
    """One alert of ``alerts[]``, or None (the problems are in ``issues``).

    Fields beyond the common ones are let through: senders add some every release.
    """
    before = len(issues)
    known = tuple(str(k) for k in data) if isinstance(data, dict) else ()
    fields = Fields(data, prefix=prefix, known=known, issues=issues)
    if not isinstance(data, dict):
        return None
    status = fields.choice("status", AlertStatus)
    labels = _string_map(fields, "labels")
    annotations = _string_map(fields, "annotations")
    starts_at = fields.time("startsAt")
    if starts_at is None and not fields.has("startsAt"):
        fields.problem("startsAt", "field_missing")
    ends_at = fields.time("endsAt")
    fingerprint = fields.text("fingerprint", limit=128, required=False, default="")
    if len(issues) > before or status is None or starts_at is None:
        return None
    return ForeignAlert(
        source=source,
        status=status,
        labels=labels,
        annotations=annotations,
        starts_at=starts_at,
        ends_at=ends_at if ends_at and ends_at.year >= _FIRST_YEAR else None,
        fingerprint=fingerprint.strip() or _labels_fingerprint(labels),
    )


def read_alerts(fields: Fields, *, source: str, limit: int) -> list[ForeignAlert]:
    """The ``alerts`` list of a payload (1 to ``limit`` alerts); problems go to ``fields``."""
    raw = fields.data.get("alerts")
    if not isinstance(raw, list):
        if raw is None:
            fields.problem("alerts", "field_missing")
        else:
            fields.problem("alerts", "field_type", expected="a list")
        return []
    if not 1 <= len(raw) <= limit:
        fields.problem("alerts", "batch_size", limit=limit)
        return []
    alerts = [
        read_alert(item, source=source, issues=fields.issues, prefix=f"alerts[{i}].")
        for i, item in enumerate(raw)
    ]
    return [a for a in alerts if a is not None]


def _clean(value: str, limit: int, *, lines: bool = False) -> str:
    """Foreign text made safe to pass on: no control or format characters, no encoded
    words, at most ``limit`` characters (lines kept only where ``lines``)."""
    kept = []
    for char in value:
        if lines and char == "\n":
            kept.append(char)
        elif unicodedata.category(char)[0] == "C" or char in "\u2028\u2029\x85":
            kept.append(" ")
        else:
            kept.append(char)
    text = "".join(kept).replace("=?", "= ?")
    text = (
        "\n".join(" ".join(line.split()) for line in text.split("\n"))
        if lines
        else " ".join(text.split())
    )
    return text.strip()[:limit].strip()


def _text(alert: ForeignAlert, mapping: IntakeMapping) -> str:
    parts: list[str] = []
    for name in mapping.text:
        found = mapping.lookup((name,), alert.labels, alert.annotations)
        if found is not None and found.strip() not in parts:
            parts.append(found.strip())
    if alert.detail:
        parts.append(alert.detail)
    return _clean("\n".join(parts), TEXT_LIMIT, lines=True)


def to_event(
    alert: ForeignAlert,
    mapping: IntakeMapping,
    *,
    known: Collection[str],
    roots: Collection[str],
    issues: list[Issue],
    prefix: str,
) -> tuple[EventInput, bool] | None:
    """The event of ``alert`` and whether its group is the default for a label not
    understood; or None (the problem is added to ``issues``).

    ``known`` / ``roots``: the site's group ids and its top-level ones.
    """
    label = mapping.lookup(mapping.group, alert.labels, alert.annotations)
    group, fallback = pick_group(mapping, label, known, roots)
    if group is None:
        where = f"labels.{mapping.group[0]}" if mapping.group else "labels"
        issues.append(issue(f"{prefix}{where}", "intake_no_group", group=(label or "")[:128]))
        return None
    wanted = (mapping.lookup(mapping.category, alert.labels, alert.annotations) or "").lower()
    category = Category(wanted) if wanted in set(Category) else mapping.default_category
    resolved = alert.status is AlertStatus.RESOLVED
    severity = pick_severity(
        mapping, mapping.lookup(mapping.severity, alert.labels, alert.annotations)
    )
    device = mapping.lookup(mapping.device, alert.labels, alert.annotations)
    sensor = mapping.lookup(mapping.sensor, alert.labels, alert.annotations)
    when = alert.ends_at if resolved else alert.starts_at  # no end: the intake's now
    data: dict[str, object] = {
        "group": group,
        "device": _clean(device or alert.source.capitalize(), NAME_LIMIT) or alert.source,
        "sensor": _clean(sensor or "alert", NAME_LIMIT) or "alert",
        "category": category.value,
        "severity": severity.value,
        "state": (State.CLEARED if resolved else State.RAISED).value,
        "text": _text(alert, mapping),
        "client_event_id": alert.client_event_id(),
    }
    if when is not None:
        data["occurred_at"] = when.isoformat()
    if alert.value is not None:
        data["value"] = alert.value
    event = parse_event(data, issues=issues, prefix=prefix)
    if event is None:
        return None
    # A repeat is the same event even if its annotations changed (see the module doc).
    return replace(event, fingerprint=f"webhook:{event.client_event_id}"), fallback
