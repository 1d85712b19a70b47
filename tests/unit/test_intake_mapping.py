"""The webhook adapters' pure parts: the mapping, the severity and group picks, the
cleaning of foreign labels, and the payload readers' field-named refusals."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tocsin.headers import check_header_text
from tocsin.intake.alertmanager import parse_alertmanager
from tocsin.intake.alerts import AlertStatus, to_event
from tocsin.intake.grafana import parse_grafana
from tocsin.intake.mapping import (
    DEFAULT_MAPPING,
    IntakeMapping,
    mapping_to_dict,
    parse_mapping,
    pick_group,
    pick_severity,
)
from tocsin.model import Category, Severity, State
from tocsin.services.inputs import InputRefused
from tocsin.validation import Issue


def _alert(**labels: str) -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {"alertname": "Hot", **labels},
        "annotations": {"summary": "too hot"},
        "startsAt": "2026-05-03T10:00:00.123456789Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": "abc",
    }


@pytest.mark.parametrize(
    ("value", "severity"),
    [
        ("critical", Severity.ALARM),
        ("CRITICAL", Severity.ALARM),
        ("warning", Severity.WARNING),
        (" info ", Severity.WARNING),
        ("something", Severity.ALARM),
        (None, Severity.ALARM),
    ],
)
def test_severity_values(value: str | None, severity: Severity) -> None:
    assert pick_severity(DEFAULT_MAPPING, value) is severity


def test_group_pick_and_fallbacks() -> None:
    known, roots = {"site", "room"}, ["site"]
    assert pick_group(DEFAULT_MAPPING, "room", known, roots) == ("room", False)
    assert pick_group(DEFAULT_MAPPING, "nope", known, roots) == ("site", True)
    assert pick_group(DEFAULT_MAPPING, None, known, roots) == ("site", False)
    chosen = IntakeMapping(default_group="room")
    assert pick_group(chosen, None, known, roots) == ("room", False)
    assert pick_group(DEFAULT_MAPPING, None, {"a", "b"}, ["a", "b"]) == (None, False)


def test_the_dictionary_form_round_trips() -> None:
    custom = IntakeMapping(group=("room",), default_category=Category.FIRE, default_group="x")
    issues: list[Issue] = []
    assert parse_mapping(mapping_to_dict(custom), issues=issues) == custom
    assert issues == []


def test_every_problem_is_named_at_once() -> None:
    issues: list[Issue] = []
    got = parse_mapping(
        {"group": ["1bad"], "warning_values": ["critical"], "default_category": "x"},
        issues=issues,
    )
    assert got is None
    assert {i.field for i in issues} == {"group[0]", "warning_values", "default_category"}


@given(st.text(max_size=300))
def test_any_label_becomes_a_header_safe_device(label: str) -> None:
    alerts = parse_alertmanager({"alerts": [_alert(instance=label)]})
    issues: list[Issue] = []
    found = to_event(
        alerts[0], DEFAULT_MAPPING, known={"site"}, roots=["site"], issues=issues, prefix=""
    )
    assert issues == []
    assert found is not None
    event, _ = found
    check_header_text(event.device, what="device")  # raises if unsafe
    check_header_text(event.sensor, what="sensor")
    assert 0 < len(event.device) <= 200


def test_resolved_alerts_become_clears_with_their_end_time() -> None:
    alert = {**_alert(), "status": "resolved", "endsAt": "2026-05-03T10:05:00Z"}
    (parsed,) = parse_alertmanager({"alerts": [alert]})
    assert parsed.status is AlertStatus.RESOLVED
    found = to_event(parsed, DEFAULT_MAPPING, known={"s"}, roots=["s"], issues=[], prefix="")
    assert found is not None
    event = found[0]
    assert event.state is State.CLEARED
    assert event.occurred_at is not None
    assert event.occurred_at.minute == 5
    firing_id = parsed.client_event_id(AlertStatus.FIRING)
    assert event.client_event_id != firing_id
    assert firing_id.startswith("alertmanager:")


def test_without_a_fingerprint_the_labels_stand_for_it() -> None:
    one = {**_alert(instance="a")}
    del one["fingerprint"]
    (first,) = parse_alertmanager({"alerts": [one]})
    (again,) = parse_alertmanager({"alerts": [dict(one)]})
    (other,) = parse_alertmanager({"alerts": [{**one, "labels": {"alertname": "Cold"}}]})
    assert first.client_event_id() == again.client_event_id() != other.client_event_id()


@pytest.mark.parametrize("payload", [None, [], "x", {"alerts": None}, {}])
def test_payloads_that_are_not_objects_with_alerts_are_refused(payload: object) -> None:
    for parse in (parse_alertmanager, parse_grafana):
        with pytest.raises(InputRefused) as caught:
            parse(payload)
        assert caught.value.issues
