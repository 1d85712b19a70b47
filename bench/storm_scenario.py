"""The storm of ``bench/storm_bench.py``: the site and the events (no I/O here).

The site: one campus, 9 buildings, the rest rooms; 10 site admins, 2 managers per
building, every other user in one room.  The campus caps ``always`` and ``armed`` at 10
and ``system`` at 2 notifications per group and hour (system: alarms only); fire and
sabotage are never capped.
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from tocsin.model import Category

URGENT = ("fire", "sabotage")


def site(users: int, groups: int, rng: random.Random) -> dict[str, Any]:
    """One site, 9 buildings, the rest rooms; 10 site admins, 2 managers per building,
    every other user in one room (fire, sabotage, armed; half of them also always).

    The site caps ``always`` and ``armed`` at 10 and ``system`` at 2 notifications per
    group and hour (system: alarms only); fire and sabotage are never capped."""
    buildings = [f"b{i}" for i in range(9)]
    rooms = [f"r{i}" for i in range(groups - 1 - len(buildings))]
    capped = {"email_warnings": True, "max_per_hour": 10}
    group_list: list[dict[str, Any]] = [
        {
            "id": "site",
            "name": "Campus",
            "policies": {
                "always": capped,
                "armed": capped,
                "system": {"email_warnings": False, "max_per_hour": 2},
            },
        }
    ]
    group_list += [{"id": b, "name": f"Building {b[1:]}", "parent": "site"} for b in buildings]
    group_list += [
        {"id": r, "name": f"Room {r[1:]}", "parent": buildings[i % len(buildings)]}
        for i, r in enumerate(rooms)
    ]
    everything = [c.value for c in Category]
    user_list: list[dict[str, Any]] = []
    for i in range(users):
        if i < 10:
            groups_of, categories = ["site"], everything
        elif i < 10 + 2 * len(buildings):
            groups_of, categories = [buildings[i % len(buildings)]], everything[:4]
        else:
            always = ["always"] if rng.random() < 0.5 else []
            groups_of, categories = [rng.choice(rooms)], ["fire", "sabotage", "armed", *always]
        user_list.append(
            {
                "id": f"u{i}",
                "name": f"User {i}",
                "email": f"u{i}@example.net",
                "language": "de" if i % 3 == 0 else "en",
                "time_zone": "Europe/Berlin" if i % 2 else "UTC",
                "groups": groups_of,
                "categories": categories,
            }
        )
    return {"groups": group_list, "users": user_list}


def storm(count: int, rooms: list[str], rng: random.Random) -> list[dict[str, Any]]:
    """The events of the storm, in the order they arrive."""
    flapping = int(count * 0.40)
    power = int(count * 0.50) // 2 * 2
    urgent = max(1, int(count * 0.02))
    humid = count - flapping - power - urgent
    flap = _flapping(flapping, rooms[0])
    lost = _power_cut(power // 2, rooms[9::9][:20])  # every 9th room is in building 0
    back = [{**e, "state": "cleared"} for e in lost]
    wet = _humidity(humid, rng.sample(rooms, 10), rng)
    alarms = _alarms(urgent, rooms, rng)
    # The links drop in the first half of the storm and come back in the second.
    events = _mix(rng, flap[: flapping // 2], lost, wet[: humid // 2], alarms[: urgent // 2])
    events += _mix(rng, flap[flapping // 2 :], back, wet[humid // 2 :], alarms[urgent // 2 :])
    for i, e in enumerate(events):
        e["client_event_id"] = f"storm-{i}"
    return events


def _flapping(count: int, room: str) -> list[dict[str, Any]]:
    """One temperature sensor around its threshold: raised, cleared, raised, ..."""
    return [
        {
            "group": room,
            "device": "Rack 4 climate",
            "sensor": "temperature",
            "category": "always",
            "severity": "warning",
            "state": "raised" if i % 2 == 0 else "cleared",
            "value": 31.0 + (i % 7) / 10,
            "unit": "°C",
            "threshold": 30.0,
        }
        for i in range(count)
    ]


def _power_cut(devices: int, building: list[str]) -> list[dict[str, Any]]:
    """Every sensor hub in one building loses its link."""
    return [
        {
            "group": building[i % len(building)],
            "device": f"Sensor hub {i}",
            "sensor": "link",
            "category": "system",
            "severity": "alarm",
        }
        for i in range(devices)
    ]


def _humidity(count: int, rooms: list[str], rng: random.Random) -> list[dict[str, Any]]:
    """The air conditioning of a few rooms fails."""
    return [
        {
            "group": rng.choice(rooms),
            "device": f"Climate {i}",
            "sensor": "humidity",
            "category": "always",
            "severity": "warning",
            "value": 71.0,
            "unit": "%",
            "threshold": 70.0,
        }
        for i in range(count)
    ]


def _alarms(count: int, rooms: list[str], rng: random.Random) -> list[dict[str, Any]]:
    """Fire and sabotage alarms all over the site: these must never wait."""
    return [
        {
            "group": rng.choice(rooms),
            "device": f"Detector {i}",
            "sensor": "smoke" if i % 2 else "tamper",
            "category": URGENT[i % 2],
            "severity": "alarm",
        }
        for i in range(count)
    ]


def _mix(rng: random.Random, *streams: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Interleave the streams at random, each keeping its own order (raise before clear)."""
    merged: list[dict[str, Any]] = []
    positions = [0] * len(streams)
    remaining = sum(len(s) for s in streams)
    while remaining:
        pick = rng.randrange(remaining)
        for index, stream in enumerate(streams):
            left = len(stream) - positions[index]
            if pick < left:
                merged.append(stream[positions[index]])
                positions[index] += 1
                break
            pick -= left
        remaining -= 1
    return merged


def as_alertmanager(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The storm as Alertmanager would post it: one webhook notification per event.

    Labels carry group, category, severity (``critical`` / ``warning``), device and
    sensor, so Tocsin's default mapping reads them; a raise starts a new alert (its own
    ``startsAt``), a clear resolves the alert its raise started.
    """
    base = datetime(2026, 1, 1, tzinfo=UTC)
    started: dict[tuple[str, ...], datetime] = {}
    payloads = []
    for index, event in enumerate(events):
        key = (event["group"], event["device"], event["sensor"], event["category"])
        resolved = event.get("state") == "cleared"
        if not resolved or key not in started:
            started[key] = base + timedelta(seconds=index)
        starts = started[key]
        alert = {
            "status": "resolved" if resolved else "firing",
            "labels": {
                "alertname": event["sensor"],
                "group": event["group"],
                "category": event["category"],
                "severity": "critical" if event["severity"] == "alarm" else "warning",
                "device": event["device"],
                "sensor": event["sensor"],
            },
            "annotations": {"summary": event.get("text") or f"{event['sensor']} alert"},
            "startsAt": starts.isoformat(),
            "endsAt": (starts + timedelta(seconds=1)).isoformat()
            if resolved
            else "0001-01-01T00:00:00Z",
            "fingerprint": hashlib.sha256(repr(key).encode()).hexdigest()[:16],
        }
        payloads.append(
            {
                "version": "4",
                "groupKey": f'{{}}:{{alertname="{event["sensor"]}"}}',
                "truncatedAlerts": 0,
                "status": alert["status"],
                "receiver": "tocsin",
                "groupLabels": {"alertname": event["sensor"]},
                "commonLabels": alert["labels"],
                "commonAnnotations": alert["annotations"],
                "externalURL": "http://alertmanager:9093",
                "alerts": [alert],
            }
        )
    return payloads
