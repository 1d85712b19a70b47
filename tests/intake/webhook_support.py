"""Alertmanager and Grafana payloads as they send them (shapes taken from their docs)."""

from __future__ import annotations

from typing import Any

STARTS = "2026-05-03T02:59:10.123456789Z"
NO_END = "0001-01-01T00:00:00Z"


def am_alert(
    *,
    status: str = "firing",
    fingerprint: str = "5b7c3e0a9f1d2c44",
    starts: str = STARTS,
    ends: str = NO_END,
    **labels: str,
) -> dict[str, Any]:
    """One alert of an Alertmanager notification (labels given override the defaults)."""
    all_labels = {
        "alertname": "RoomTooHot",
        "instance": "sensor-7:9100",
        "job": "snmp",
        "severity": "critical",
        "group": "server-room",
    }
    all_labels.update(labels)
    return {
        "status": status,
        "labels": {k: v for k, v in all_labels.items() if v},
        "annotations": {
            "summary": "Server room at 41 °C",
            "description": "The temperature is above 35 °C for 2 minutes.",
        },
        "startsAt": starts,
        "endsAt": ends,
        "generatorURL": "http://prometheus:9090/graph?g0.expr=temp",
        "fingerprint": fingerprint,
    }


def am_payload(*alerts: dict[str, Any]) -> dict[str, Any]:
    """An Alertmanager webhook notification (version 4) of ``alerts``."""
    firing = any(a["status"] == "firing" for a in alerts)
    return {
        "version": "4",
        "groupKey": '{}:{alertname="RoomTooHot"}',
        "truncatedAlerts": 0,
        "status": "firing" if firing else "resolved",
        "receiver": "tocsin",
        "groupLabels": {"alertname": "RoomTooHot"},
        "commonLabels": {"alertname": "RoomTooHot"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }


def grafana_payload(*alerts: dict[str, Any]) -> dict[str, Any]:
    """A Grafana webhook contact point notification of ``alerts`` (Grafana's extras added)."""
    body = am_payload(*alerts)
    body.pop("version")
    for alert in body["alerts"]:
        alert["labels"].setdefault("grafana_folder", "Rooms")
        alert.update(
            values={"A": 41.25},
            valueString="[ var='A' labels={} value=41.25 ]",
            silenceURL="http://grafana:3000/alerting/silence/new",
            dashboardURL="",
            panelURL="",
        )
    body.update(
        orgId=1,
        version="1",
        title="[FIRING:1] RoomTooHot",
        state="alerting",
        message="**Firing**",
    )
    return body
