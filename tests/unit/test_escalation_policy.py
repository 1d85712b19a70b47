"""The escalation policy: validation, plain-data form, inheritance and the planned timers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tocsin.escalation import (
    EscalationPolicy,
    EscalationStep,
    PolicyError,
    TimerKind,
    applies,
    effective_escalation,
    plan_timers,
    policy_from_dict,
    policy_to_dict,
)
from tocsin.model import AlarmGroup, Category, Event, Severity, State
from tocsin.routing import UnknownGroup, build_tree

FIRE = frozenset({Category.FIRE, Category.SABOTAGE})
POLICY = EscalationPolicy(
    categories=FIRE,
    steps=(EscalationStep(5, ("carol",)), EscalationStep(15, ("erin", "dave"))),
    remind_every=10,
    remind_max=2,
)


def _event(**kw: object) -> Event:
    values: dict[str, object] = {
        "id": "ev1",
        "group_id": "room",
        "device": "d",
        "sensor": "s",
        "category": Category.FIRE,
        "severity": Severity.ALARM,
        "state": State.RAISED,
        "occurred_at": datetime(2026, 5, 3, tzinfo=UTC),
    }
    values.update(kw)
    return Event(**values)  # type: ignore[arg-type]


def test_round_trip_through_plain_data() -> None:
    assert policy_from_dict(policy_to_dict(POLICY)) == POLICY
    assert policy_to_dict(POLICY)["categories"] == ["fire", "sabotage"]


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ({"steps": [{"after_minutes": 0, "users": ["a"]}]}, "escalation_minutes"),
        ({"steps": [{"after_minutes": 5, "users": []}]}, "escalation_no_users"),
        ({"steps": [{"after_minutes": 5, "users": ["a", "a"]}]}, "escalation_users"),
        (
            {"steps": [{"after_minutes": 9, "users": ["a"]}, {"after_minutes": 5, "users": ["b"]}]},
            "escalation_order",
        ),
        ({"steps": [{"after_minutes": True, "users": ["a"]}]}, "escalation_minutes"),
        ({"categories": ["flood"]}, "escalation_category"),
        ({"remind_max": 3}, "escalation_remind_every"),
        ({"remind_every": 5, "remind_max": 0}, "escalation_remind"),
        ({"remind_every": 5, "remind_max": 21}, "escalation_remind"),
        ({"other": 1}, "escalation_shape"),
        ([], "escalation_shape"),
        ({"steps": ["x"]}, "escalation_step"),
        ({"steps": [{"after_minutes": 5, "users": "a"}]}, "escalation_users"),
    ],
)
def test_bad_policies_are_refused_with_a_code(raw: object, code: str) -> None:
    with pytest.raises(PolicyError) as caught:
        policy_from_dict(raw)
    assert caught.value.code == code
    assert str(caught.value)


def test_warnings_clears_and_other_categories_never_escalate() -> None:
    assert applies(POLICY, _event())
    assert not applies(POLICY, _event(severity=Severity.WARNING))
    assert not applies(POLICY, _event(category=Category.ALWAYS))
    assert not applies(POLICY, _event(state=State.CLEARED, clears="ev0"))
    assert not applies(EscalationPolicy(categories=FIRE), _event())  # nothing to do
    assert plan_timers(POLICY, _event(severity=Severity.WARNING), 0.0) == []


def test_timers_are_the_steps_and_reminders_in_time_order() -> None:
    timers = plan_timers(POLICY, _event(), 1000.0)
    assert [(t.kind, t.number, t.due_at, t.minutes) for t in timers] == [
        (TimerKind.STEP, 1, 1300.0, 5),
        (TimerKind.REMIND, 1, 1600.0, 10),
        (TimerKind.STEP, 2, 1900.0, 15),
        (TimerKind.REMIND, 2, 2200.0, 20),
    ]
    assert [t.seq for t in timers] == [0, 1, 2, 3]
    assert timers[2].user_ids == ("erin", "dave")


TREE = build_tree(
    [
        AlarmGroup(id="site", name="Site"),
        AlarmGroup(id="building", name="Building", parent_id="site"),
        AlarmGroup(id="room", name="Room", parent_id="building"),
        AlarmGroup(id="office", name="Office", parent_id="site"),
    ]
)


def test_the_nearest_own_policy_wins_and_an_empty_one_switches_off() -> None:
    off = EscalationPolicy()
    policies = {"site": POLICY, "building": off}
    assert effective_escalation(TREE, policies, "office") == ("site", POLICY)
    assert effective_escalation(TREE, policies, "room") == ("building", off)
    assert off.off
    assert effective_escalation(TREE, {}, "room") is None
    with pytest.raises(UnknownGroup):
        effective_escalation(TREE, policies, "nowhere")


GROUP_IDS = ["site", "building", "room", "office"]


@given(
    st.dictionaries(
        st.sampled_from(GROUP_IDS),
        st.builds(
            lambda m: EscalationPolicy(categories=FIRE, steps=(EscalationStep(m, ("u",)),)),
            st.integers(1, 100),
        ),
    ),
    st.sampled_from(GROUP_IDS),
)
def test_inherited_policy_is_the_nearest_ancestors(
    policies: dict[str, EscalationPolicy], group_id: str
) -> None:
    found = effective_escalation(TREE, policies, group_id)
    lineage = TREE.lineage(group_id)
    owners = [g for g in lineage if g in policies]
    if not owners:
        assert found is None
    else:
        assert found == (owners[0], policies[owners[0]])
        # No group between the event's group and the owner has a policy of its own.
        assert all(g not in policies for g in lineage[: lineage.index(owners[0])])
