"""Prometheus Alertmanager's webhook payload (version 4).

Alertmanager posts, per notification of an alert group::

    {"version": "4", "groupKey": "...", "truncatedAlerts": 0, "status": "firing",
     "receiver": "tocsin", "groupLabels": {...}, "commonLabels": {...},
     "commonAnnotations": {...}, "externalURL": "http://alertmanager:9093",
     "alerts": [{"status": "firing", "labels": {"alertname": "...", ...},
                 "annotations": {...}, "startsAt": "2026-12-05T10:00:00.123Z",
                 "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "...",
                 "fingerprint": "c1b2..."}]}

Only ``alerts`` is needed; each alert is read by :func:`tocsin.intake.alerts.read_alert`.
A firing and a resolved alert can come in one notification.
"""

from __future__ import annotations

from typing import Final

from tocsin.intake.alerts import MAX_ALERTS, ForeignAlert, read_alerts
from tocsin.services.inputs import Fields, InputRefused
from tocsin.validation import Issue

__all__ = ["SOURCE", "parse_alertmanager"]

SOURCE: Final = "alertmanager"
VERSION: Final = "4"


def parse_alertmanager(payload: object) -> list[ForeignAlert]:
    """The alerts of an Alertmanager webhook payload.

    Raises :class:`~tocsin.services.inputs.InputRefused` naming every bad field
    (``alerts[2].startsAt``), so a notification is taken whole or not at all.
    """
    issues: list[Issue] = []
    known = tuple(str(k) for k in payload) if isinstance(payload, dict) else ()
    fields = Fields(payload, known=known, issues=issues)
    if not isinstance(payload, dict):
        raise InputRefused(issues)
    version = fields.text("version", limit=10, required=False)
    if version and version != VERSION:
        fields.problem("version", "field_choice", value=version, choices=VERSION)
    alerts = read_alerts(fields, source=SOURCE, limit=MAX_ALERTS)
    if issues:
        raise InputRefused(issues)
    return alerts
