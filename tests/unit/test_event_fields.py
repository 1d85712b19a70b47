"""A refused choice says which values there are, in the user's language (issue 11 moved
the list to the error path: a valid event no longer spells it out)."""

from __future__ import annotations

import pytest

from tocsin.services.event_input import parse_events
from tocsin.services.inputs import InputRefused

EVENT = {"group": "hall", "device": "Detector 1", "sensor": "smoke", "category": "fire"}


def _refusal(**changes: object) -> dict[str, object]:
    with pytest.raises(InputRefused) as refused:
        parse_events({**EVENT, **changes}, known_group=lambda _group: True)
    (only,) = refused.value.as_dicts()
    return only


def test_an_unknown_severity_lists_the_severities() -> None:
    refusal = _refusal(severity="loud")
    assert refusal["field"] == "severity"
    assert refusal["code"] == "field_choice"
    message = str(refusal["message"])
    assert "loud" in message
    assert "warning, alarm" in message


def test_a_severity_that_is_no_string_lists_the_severities() -> None:
    refusal = _refusal(severity=3)
    assert refusal["code"] == "field_type"
    assert "one of warning, alarm" in str(refusal["message"])
    assert "number" in str(refusal["message"])


def test_a_valid_event_is_parsed_with_its_choices() -> None:
    (parsed,) = parse_events({**EVENT, "severity": "warning"}, known_group=lambda _g: True)
    assert parsed.severity is not None
    assert parsed.severity.value == "warning"
    assert parsed.category.value == "fire"
