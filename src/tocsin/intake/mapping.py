"""The label mapping: which label or annotation of a foreign alert gives which event field.

Alertmanager and Grafana alerts carry free-form ``labels`` and ``annotations``; a
Tocsin event needs a group, a category, a severity, a device and a sensor.  An
:class:`IntakeMapping` says, per event field, which names to look up (labels first,
then annotations; the first one present wins) and what to use when none is.

The defaults work with a bare Alertmanager: ``severity=critical`` is an alarm,
``severity=warning`` a warning, a missing or unknown severity an alarm (a missed
alarm is worse than a loud warning); the device is the ``instance`` label, the
sensor the ``alertname``; the text the ``summary`` and ``description`` annotations.
An alert with no ``group`` label, or one naming no existing group, goes to the
default group: the mapping's ``default_group``, else the site's only top-level group
(and its text says which label was not understood).  Only when neither exists is the
alert refused.

Pure: no I/O.  The dictionary form (:func:`mapping_to_dict`, :func:`parse_mapping`)
is the same in the settings, the site file, the REST API and the CLI.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from tocsin.model import Category, Severity
from tocsin.services.inputs import Fields
from tocsin.validation import Issue

__all__ = [
    "DEFAULT_MAPPING",
    "MAPPING_FIELDS",
    "IntakeMapping",
    "mapping_to_dict",
    "parse_mapping",
    "pick_group",
    "pick_severity",
]

_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_GROUP_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+-]{0,127}")
MAX_NAMES: Final = 10
VALUE_LIMIT: Final = 64
_LISTS: Final = (
    "group",
    "category",
    "severity",
    "device",
    "sensor",
    "text",
    "alarm_values",
    "warning_values",
)
MAPPING_FIELDS: Final = (*_LISTS, "default_group", "default_category", "default_severity")


@dataclass(frozen=True, slots=True, kw_only=True)
class IntakeMapping:
    """Per event field, the label / annotation names looked up in order, and the defaults.

    ``alarm_values`` / ``warning_values``: the severity label's values (compared without
    case) that mean an alarm / a warning; any other value, or none, is
    ``default_severity``.  ``default_group`` empty: the site's only top-level group.
    """

    group: tuple[str, ...] = ("group",)
    category: tuple[str, ...] = ("category",)
    severity: tuple[str, ...] = ("severity",)
    device: tuple[str, ...] = ("device", "instance", "job")
    sensor: tuple[str, ...] = ("sensor", "alertname")
    text: tuple[str, ...] = ("summary", "description", "message")
    alarm_values: tuple[str, ...] = ("critical", "page", "alarm", "error", "high", "emergency")
    warning_values: tuple[str, ...] = ("warning", "warn", "info", "minor", "low")
    default_group: str = ""
    default_category: Category = Category.ALWAYS
    default_severity: Severity = Severity.ALARM

    def lookup(
        self, names: Collection[str], labels: Mapping[str, str], notes: Mapping[str, str]
    ) -> str | None:
        """The first of ``names`` present (not blank) in ``labels``, else in ``notes``."""
        for source in (labels, notes):
            for name in names:
                value = source.get(name)
                if value is not None and value.strip():
                    return value
        return None


DEFAULT_MAPPING: Final = IntakeMapping()


def pick_severity(mapping: IntakeMapping, value: str | None) -> Severity:
    """The severity a label value means (see :class:`IntakeMapping`)."""
    wanted = (value or "").strip().lower()
    if wanted in mapping.alarm_values:
        return Severity.ALARM
    if wanted in mapping.warning_values:
        return Severity.WARNING
    return mapping.default_severity


def pick_group(
    mapping: IntakeMapping, value: str | None, known: Collection[str], roots: Collection[str]
) -> tuple[str | None, bool]:
    """The group an alert goes to, and whether it is a fallback for a label given.

    ``known``: the existing group ids; ``roots``: the top-level ones.  Returns
    ``(None, ...)`` when the label names no group and there is no default group.
    """
    if value is not None and value in known:
        return value, False
    fallback = mapping.default_group if mapping.default_group in known else None
    if fallback is None and len(roots) == 1:
        fallback = next(iter(roots))
    return fallback, value is not None


def mapping_to_dict(mapping: IntakeMapping) -> dict[str, Any]:
    """The dictionary form (settings, site file, API, CLI)."""
    data: dict[str, Any] = {name: list(getattr(mapping, name)) for name in _LISTS}
    data["default_group"] = mapping.default_group
    data["default_category"] = mapping.default_category.value
    data["default_severity"] = mapping.default_severity.value
    return data


def _names(fields: Fields, name: str, *, values: bool) -> tuple[str, ...] | None:
    if not fields.has(name):
        return None
    before = len(fields.issues)
    items = fields.strings(name, limit=MAX_NAMES * (3 if values else 1))
    found: list[str] = []
    for index, item in enumerate(items):
        text = item.strip().lower() if values else item.strip()
        good = 0 < len(text) <= VALUE_LIMIT if values else _NAME.fullmatch(text) is not None
        if not good:
            code = "field_too_long" if values else "mapping_name"
            fields.problem(f"{name}[{index}]", code, limit=VALUE_LIMIT, length=len(text))
        elif text not in found:
            found.append(text)
    if not found and not values and len(fields.issues) == before:
        fields.problem(name, "field_empty")
    return tuple(found)


def parse_mapping(
    data: object,
    *,
    issues: list[Issue],
    prefix: str = "",
    base: IntakeMapping = DEFAULT_MAPPING,
) -> IntakeMapping | None:
    """``base`` with the fields ``data`` gives, or None (the problems are in ``issues``).

    Every field is optional: a partial object changes only what it names.
    """
    before = len(issues)
    fields = Fields(data, prefix=prefix, known=MAPPING_FIELDS, issues=issues)
    if len(issues) > before and not isinstance(data, dict):
        return None
    changes: dict[str, Any] = {}
    for name in _LISTS:
        names = _names(fields, name, values=name.endswith("_values"))
        if names is not None:
            changes[name] = names
    if fields.has("default_group"):
        group = fields.text("default_group", limit=128, required=False).strip()
        if group and not _GROUP_ID.fullmatch(group):
            fields.problem("default_group", "unknown_group", group=group[:128])
        changes["default_group"] = group
    if fields.has("default_category"):
        changes["default_category"] = fields.choice("default_category", Category)
    if fields.has("default_severity"):
        changes["default_severity"] = fields.choice("default_severity", Severity)
    alarms = changes.get("alarm_values", base.alarm_values)
    both = set(alarms) & set(changes.get("warning_values", base.warning_values))
    if both:
        fields.problem("warning_values", "mapping_both", value=sorted(both)[0])
    if len(issues) > before:
        return None
    return replace(base, **changes)
