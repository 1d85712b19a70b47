"""Grafana's webhook contact point payload (Grafana Alerting, 9 and later).

Alertmanager's shape, plus Grafana's own fields::

    {"receiver": "tocsin", "status": "firing", "orgId": 1, "version": "1",
     "title": "[FIRING:1] ...", "message": "...", "state": "alerting",
     "groupKey": "...", "truncatedAlerts": 0, "externalURL": "http://grafana:3000/",
     "groupLabels": {...}, "commonLabels": {...}, "commonAnnotations": {...},
     "alerts": [{"status": "firing", "labels": {"alertname": "...",
                 "grafana_folder": "..."}, "annotations": {...},
                 "startsAt": "...", "endsAt": "...", "fingerprint": "...",
                 "values": {"A": 31.5}, "valueString": "[ var='A' ... value=31.5 ]",
                 "generatorURL": "...", "silenceURL": "...", "dashboardURL": "...",
                 "panelURL": "..."}]}

An alert's reading comes along: its only number in ``values`` becomes the event's
value, ``valueString`` a line of its text.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Final

from tocsin.intake.alerts import MAX_ALERTS, ForeignAlert, read_alerts
from tocsin.services.inputs import Fields, InputRefused
from tocsin.validation import Issue

__all__ = ["SOURCE", "parse_grafana"]

SOURCE: Final = "grafana"
_DETAIL_LIMIT: Final = 500


def _reading(alert: ForeignAlert, raw: object) -> ForeignAlert:
    """``alert`` with Grafana's reading (``values``, ``valueString``) of ``raw``, if any."""
    if not isinstance(raw, dict):
        return alert
    values = raw.get("values")
    numbers = (
        [v for v in values.values() if isinstance(v, int | float) and not isinstance(v, bool)]
        if isinstance(values, dict)
        else []
    )
    value = float(numbers[0]) if len(numbers) == 1 and math.isfinite(numbers[0]) else None
    text = raw.get("valueString")
    detail = text[:_DETAIL_LIMIT] if isinstance(text, str) else ""
    return replace(alert, value=value, detail=detail)


def parse_grafana(payload: object) -> list[ForeignAlert]:
    """The alerts of a Grafana webhook payload.

    Raises :class:`~tocsin.services.inputs.InputRefused` naming every bad field.
    """
    issues: list[Issue] = []
    known = tuple(str(k) for k in payload) if isinstance(payload, dict) else ()
    fields = Fields(payload, known=known, issues=issues)
    if not isinstance(payload, dict):
        raise InputRefused(issues)
    alerts = read_alerts(fields, source=SOURCE, limit=MAX_ALERTS)
    if issues:
        raise InputRefused(issues)
    raw = payload["alerts"]
    return [_reading(a, r) for a, r in zip(alerts, raw, strict=True)]
