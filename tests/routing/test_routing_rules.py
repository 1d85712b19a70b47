"""Routing decisions on a three-level tree: inheritance, warnings, the cap, users, clears."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from routing_support import (
    MIDDLE_OVERRIDE,
    ROOM_OVERRIDE,
    T0,
    clear_of,
    make_event,
    make_user,
    three_level_tree,
)

from tocsin.errors import ConfigError
from tocsin.model import (
    ROOT_POLICY,
    AlarmGroup,
    Category,
    CategoryPolicy,
    Event,
    GroupSettings,
    Severity,
    State,
    User,
    _encode,
    email_id,
    new_id,
)
from tocsin.routing import (
    DEFAULT_RULES,
    GroupTreeError,
    RoutingReason,
    RuleContext,
    Snapshot,
    UnknownGroup,
    build_tree,
    effective_policy,
    effective_settings,
    route,
    summarize,
)

TREE = three_level_tree()


def ids(users: tuple[User, ...]) -> list[str]:
    return [u.id for u in users]


# ------------------------------------------------------------------ the tree and inheritance


def test_the_override_in_the_middle_is_inherited_below_it_and_nowhere_else():
    assert effective_policy(TREE, "site", Category.ALWAYS) == ROOT_POLICY
    assert effective_policy(TREE, "building-a", Category.ALWAYS) == MIDDLE_OVERRIDE
    assert effective_policy(TREE, "server-room", Category.ALWAYS) == MIDDLE_OVERRIDE
    assert effective_policy(TREE, "lab", Category.ALWAYS) == ROOM_OVERRIDE
    assert effective_policy(TREE, "building-b", Category.ALWAYS) == ROOT_POLICY
    assert effective_policy(TREE, "office", Category.ALWAYS) == ROOT_POLICY
    # Other categories are untouched by the override.
    assert effective_policy(TREE, "server-room", Category.FIRE) == ROOT_POLICY


def test_root_defaults_email_warnings_without_a_cap():
    assert CategoryPolicy(email_warnings=True, max_per_hour=None) == ROOT_POLICY
    assert dict(effective_settings(TREE, "office")) == dict.fromkeys(Category, ROOT_POLICY)


def test_tree_paths_lineage_and_subtrees():
    assert TREE.path("server-room") == ("Site", "Building A", "Server room")
    assert TREE.lineage("server-room") == ("server-room", "building-a", "site")
    assert TREE.subtree("building-a") == {"building-a", "server-room", "lab"}
    assert TREE.children("site") == ("building-a", "building-b")
    assert "lab" in TREE
    assert len(TREE) == 6


def test_unknown_parent_is_refused_with_the_group_named():
    with pytest.raises(GroupTreeError, match=r"'room'.*parent 'nowhere'.*does not exist") as info:
        build_tree([AlarmGroup(id="room", name="Room", parent_id="nowhere")])
    assert (info.value.code, info.value.group_id) == ("group_unknown_parent", "room")
    assert isinstance(info.value, ConfigError)
    (issue,) = info.value.issues
    assert issue.as_dict("de") == {
        "field": "parent_id",
        "code": "group_unknown_parent",
        "level": "error",
        "message": "Die Alarmgruppe 'room' nennt die übergeordnete Gruppe 'nowhere', die es "
        "nicht gibt. Legen Sie diese zuerst an oder wählen Sie eine andere.",
    }


def test_a_cycle_is_refused_and_the_loop_is_shown():
    groups = [
        AlarmGroup(id="site", name="Site"),
        AlarmGroup(id="a", name="A", parent_id="c"),
        AlarmGroup(id="b", name="B", parent_id="a"),
        AlarmGroup(id="c", name="C", parent_id="b"),
    ]
    with pytest.raises(GroupTreeError, match="cycle") as info:
        build_tree(groups)
    assert info.value.code == "group_cycle"
    assert info.value.issues[0].field == "parent_id"
    assert all(repr(g) in str(info.value) for g in ("a", "b", "c"))


def test_a_group_cannot_be_its_own_parent():
    with pytest.raises(ValueError, match="its own parent"):
        AlarmGroup(id="a", name="A", parent_id="a")


def test_duplicate_group_ids_are_refused():
    with pytest.raises(GroupTreeError, match="unique") as info:
        build_tree([AlarmGroup(id="a", name="A"), AlarmGroup(id="a", name="Other A")])
    assert info.value.code == "group_duplicate_id"
    assert info.value.issues[0].field == "id"


def test_several_roots_are_allowed():
    tree = build_tree([AlarmGroup(id="x", name="X"), AlarmGroup(id="y", name="Y")])
    assert tree.lineage("x") == ("x",)
    assert tree.lineage("y") == ("y",)


def test_an_event_for_an_unknown_group_is_an_error():
    with pytest.raises(UnknownGroup, match="'gone'"):
        route(make_event(group_id="gone"), tree=TREE, users=[])


# ------------------------------------------------------------------ who gets a raised event

SITE = make_user("site-admin", "site")
BUILDING_A = make_user("caretaker", "building-a")
SUBGROUP_ONLY = make_user("server-tech", "server-room")
BUILDING_B = make_user("office-manager", "building-b")
USERS = [SITE, BUILDING_A, SUBGROUP_ONLY, BUILDING_B]


def test_users_of_the_group_and_its_ancestors_get_the_alarm():
    decision = route(make_event(group_id="server-room"), tree=TREE, users=USERS)
    assert ids(decision.send) == ["site-admin", "caretaker", "server-tech"]
    assert decision.skipped == (("office-manager", RoutingReason.NOT_ASSIGNED),)
    assert decision.held == ()


def test_a_user_assigned_to_a_subgroup_only_gets_nothing_from_above_or_beside_it():
    for group in ("site", "building-a", "lab", "office"):
        decision = route(make_event(group_id=group), tree=TREE, users=[SUBGROUP_ONLY])
        assert decision.reason_for("server-tech") is RoutingReason.NOT_ASSIGNED, group
    decision = route(make_event(group_id="server-room"), tree=TREE, users=[SUBGROUP_ONLY])
    assert ids(decision.send) == ["server-tech"]


def test_disabled_users_get_nothing():
    disabled = make_user("away", "site", enabled=False)
    decision = route(make_event(), tree=TREE, users=[disabled, SITE])
    assert ids(decision.send) == ["site-admin"]
    assert decision.reason_for("away") is RoutingReason.DISABLED


def test_categories_switched_off_get_nothing_and_all_are_off_by_default():
    fire_only = make_user("fire-warden", "site", email_categories=frozenset({Category.FIRE}))
    address_only = User(
        id="new", name="New", email="new@example.com", group_ids=frozenset({"site"})
    )
    assert address_only.email_categories == frozenset()
    fire = route(make_event(), tree=TREE, users=[fire_only, address_only])
    assert ids(fire.send) == ["fire-warden"]
    assert fire.reason_for("new") is RoutingReason.CATEGORY_OFF
    burglary = route(make_event(category=Category.ARMED), tree=TREE, users=[fire_only])
    assert burglary.reason_for("fire-warden") is RoutingReason.CATEGORY_OFF


def test_the_first_reason_is_reported():
    nobody = make_user("nobody", "office", enabled=False, email_categories=frozenset())
    decision = route(make_event(), tree=TREE, users=[nobody])
    assert decision.reason_for("nobody") is RoutingReason.NOT_ASSIGNED


# ------------------------------------------------------------------ warnings on and off


def warning(group: str) -> Event:
    return make_event(group_id=group, category=Category.ALWAYS, severity=Severity.WARNING)


def test_warnings_are_emailed_where_the_effective_settings_say_so():
    on_at_root = route(warning("office"), tree=TREE, users=[SITE])
    assert ids(on_at_root.send) == ["site-admin"]
    on_again_below = route(warning("lab"), tree=TREE, users=[SITE])
    assert ids(on_again_below.send) == ["site-admin"]


def test_warnings_are_not_emailed_below_an_override_that_turns_them_off():
    for group in ("building-a", "server-room"):
        decision = route(warning(group), tree=TREE, users=USERS)
        assert decision.send == ()
        assert decision.reason_for("site-admin") is RoutingReason.WARNINGS_OFF
        assert decision.reason_for("office-manager") is RoutingReason.NOT_ASSIGNED


def test_alarms_are_emailed_even_where_warnings_are_off():
    alarm = make_event(group_id="server-room", category=Category.ALWAYS)
    assert ids(route(alarm, tree=TREE, users=[SITE]).send) == ["site-admin"]


# ------------------------------------------------------------------ the hourly cap


def always_alarm(group: str, minute: int) -> Event:
    at = T0 + timedelta(minutes=minute)
    return make_event(
        id=new_id(at),
        group_id=group,
        category=Category.ALWAYS,
        occurred_at=at,
        severity=Severity.WARNING if minute % 2 else Severity.ALARM,
    )


def test_the_cap_holds_back_what_exceeds_it_and_the_summary_tells_what_was_held():
    users = [SITE, SUBGROUP_ONLY]
    counts: dict[tuple[str, Category], int] = {}
    held: dict[str, list[Event]] = {u.id: [] for u in users}
    sent = 0
    for minute in range(0, 12, 2):  # six alarms, cap three (inherited from building A)
        event = always_alarm("server-room", minute)
        decision = route(event, tree=TREE, users=users, snapshot=Snapshot(dict(counts)))
        assert decision.policy == MIDDLE_OVERRIDE
        if decision.send:
            assert decision.cap_key is not None
            counts[decision.cap_key] = counts.get(decision.cap_key, 0) + 1
            sent += 1
        for user in decision.held:
            held[user.id].append(event)
        assert decision.reason_for("site-admin") in (None, RoutingReason.HOURLY_CAP)
    assert sent == 3
    assert counts == {("server-room", Category.ALWAYS): 3}
    summary = summarize("site-admin", held["site-admin"])
    assert summary.count == 3
    assert summary.first.occurred_at == T0 + timedelta(minutes=6)
    assert summary.last.occurred_at == T0 + timedelta(minutes=10)
    assert summary.worst is Severity.ALARM
    assert summary.by_category == ((Category.ALWAYS, 3),)


def test_the_cap_counts_per_group_and_category():
    full = Snapshot({("server-room", Category.ALWAYS): 3})
    assert route(always_alarm("server-room", 0), tree=TREE, users=[SITE], snapshot=full).held
    # Same inherited cap, own counter:
    other_room = build_tree(
        [*TREE.groups.values(), AlarmGroup(id="r2", name="R2", parent_id="building-a")]
    )
    assert route(always_alarm("r2", 0), tree=other_room, users=[SITE], snapshot=full).send
    # Another category of the same group is not capped:
    assert route(make_event(), tree=TREE, users=[SITE], snapshot=full).send


def test_no_cap_means_no_holding_back():
    many = Snapshot({("office", Category.ALWAYS): 10_000})
    assert route(always_alarm("office", 0), tree=TREE, users=[SITE], snapshot=many).send


def test_users_skipped_for_other_reasons_are_not_held():
    full = Snapshot({("server-room", Category.ALWAYS): 3})
    decision = route(always_alarm("server-room", 0), tree=TREE, users=USERS, snapshot=full)
    assert ids(decision.held) == ["site-admin", "caretaker", "server-tech"]
    assert decision.reason_for("office-manager") is RoutingReason.NOT_ASSIGNED


# ------------------------------------------------------------------ cleared events


def test_a_cleared_event_goes_only_to_those_told_of_the_raise():
    raised = make_event()
    told = Snapshot(told_of_raise=frozenset({"caretaker", "server-tech"}))
    decision = route(clear_of(raised), tree=TREE, users=USERS, snapshot=told)
    assert ids(decision.send) == ["caretaker", "server-tech"]
    assert decision.reason_for("site-admin") is RoutingReason.NOT_TOLD_OF_RAISE
    assert decision.cap_key is None


def test_a_cleared_event_is_never_capped_and_follows_a_warning_that_was_sent():
    raised = make_event(group_id="server-room", category=Category.ALWAYS, severity=Severity.WARNING)
    snapshot = Snapshot(
        sent_this_hour={("server-room", Category.ALWAYS): 99},
        told_of_raise=frozenset({"server-tech"}),
    )
    decision = route(clear_of(raised), tree=TREE, users=[SUBGROUP_ONLY], snapshot=snapshot)
    assert ids(decision.send) == ["server-tech"]


def test_a_cleared_event_still_respects_disabled_users():
    gone = make_user("server-tech", "server-room", enabled=False)
    told = Snapshot(told_of_raise=frozenset({"server-tech"}))
    decision = route(clear_of(make_event()), tree=TREE, users=[gone], snapshot=told)
    assert decision.reason_for("server-tech") is RoutingReason.DISABLED


# ------------------------------------------------------------------ more rules can join


def test_a_new_rule_joins_the_chain_without_changing_route():
    def fire_only(ctx: RuleContext, user: User) -> RoutingReason | None:
        return None if ctx.event.category is Category.FIRE else RoutingReason.CATEGORY_OFF

    rules = (*DEFAULT_RULES, fire_only)
    assert route(make_event(), tree=TREE, users=[SITE], rules=rules).send
    armed = make_event(category=Category.ARMED)
    decision = route(armed, tree=TREE, users=[SITE], rules=rules)
    assert decision.reason_for("site-admin") is RoutingReason.CATEGORY_OFF


def test_reasons_are_stable_codes():
    assert {r.value for r in RoutingReason} == {
        "not_assigned",
        "disabled",
        "category_off",
        "warnings_off",
        "not_told_of_raise",
        "quiet_hours",
        "hourly_cap",
    }
    assert [r for r in RoutingReason if r.holds] == [
        RoutingReason.QUIET_HOURS,
        RoutingReason.HOURLY_CAP,
    ]


# ------------------------------------------------------------------ the summary


def test_summary_counts_each_event_once_orders_by_time_and_is_stable():
    events = [always_alarm("server-room", m) for m in (9, 1, 5)]
    summary = summarize("u", [*events, events[0]])
    assert summary.count == 3
    assert [e.occurred_at.minute for e in (summary.first, summary.last)] == [1, 9]
    assert summary.worst is Severity.WARNING  # minutes 1, 5, 9 are odd: warnings
    assert summarize("u", reversed(events)).id == summary.id
    assert summarize("other", events).id != summary.id


def test_summary_of_nothing_is_an_error():
    with pytest.raises(ValueError, match="at least one"):
        summarize("u", [])


# ------------------------------------------------------------------ the model's values


def test_policy_cap_must_be_positive():
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ValueError, match="max_per_hour"):
            CategoryPolicy(max_per_hour=bad)  # type: ignore[arg-type]


def test_group_settings_override_and_inherit_again():
    settings = GroupSettings().with_policy(Category.FIRE, MIDDLE_OVERRIDE)
    assert settings.own(Category.FIRE) == MIDDLE_OVERRIDE
    assert settings.overridden == {Category.FIRE}
    assert settings.with_policy(Category.FIRE, None) == GroupSettings()


def test_events_need_an_aware_time_and_a_well_formed_clear():
    with pytest.raises(ValueError, match="time zone"):
        make_event(occurred_at=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="only a cleared event"):
        make_event(clears=new_id())
    with pytest.raises(ValueError, match="not a valid id"):
        make_event(id="has space")
    event = make_event(state=State.CLEARED, clears=new_id())
    assert event.cleared


def test_new_ids_sort_by_time_and_are_unique():
    earlier = [new_id(T0 + timedelta(milliseconds=i)) for i in range(50)]
    assert earlier == sorted(earlier)
    assert len(set(earlier)) == 50
    assert all(len(i) == 26 and i.isalnum() and i.isupper() for i in earlier)
    assert new_id(datetime(1970, 1, 1, tzinfo=UTC)).startswith("0000000000")
    with pytest.raises(ValueError, match="aware"):
        new_id(datetime(2026, 1, 1))


@given(st.integers(0, 2**128 - 1))
@example(0)
@example(2**128 - 1)
def test_an_id_value_is_spelled_in_crockford_base32_five_bits_a_digit(value: int) -> None:
    """The pair table gives the 26 digits of five bits each, most significant first."""
    digits = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    assert _encode(value) == "".join(digits[(value >> (5 * i)) & 31] for i in range(25, -1, -1))


def test_ids_made_in_one_millisecond_keep_their_order():
    # Events raised and cleared in one tick listed in random order (a CI failure).
    made = [new_id() for _ in range(5_000)]
    assert made == sorted(made)
    assert len(set(made)) == len(made)


def test_email_ids_are_deterministic_and_differ_per_user():
    event_id = new_id()
    assert email_id(event_id, "anna") == email_id(event_id, "anna")
    assert email_id(event_id, "anna") != email_id(event_id, "ben")
    assert email_id(event_id, "anna").startswith(event_id + ".")
