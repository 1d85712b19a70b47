"""Property-based tests of the group tree, inheritance and routing (hypothesis)."""

from __future__ import annotations

import itertools
import random
from datetime import UTC

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from routing_support import make_event, make_user

from tocsin.model import (
    ROOT_POLICY,
    AlarmGroup,
    Category,
    CategoryPolicy,
    GroupSettings,
    Severity,
    State,
)
from tocsin.quiet import QuietWindow, breaks_through, is_quiet
from tocsin.routing import (
    GroupTree,
    GroupTreeError,
    RoutingReason,
    Snapshot,
    build_tree,
    covered_groups,
    effective_policy,
    route,
)

policies = st.builds(
    CategoryPolicy,
    email_warnings=st.booleans(),
    max_per_hour=st.none() | st.integers(min_value=1, max_value=20),
)
group_settings = st.builds(
    GroupSettings,
    armed=st.none() | policies,
    always=st.none() | policies,
    fire=st.none() | policies,
    sabotage=st.none() | policies,
    system=st.none() | policies,
)


@st.composite
def forests(draw: st.DrawFn) -> GroupTree:
    """A random forest: each group's parent is an earlier group or none."""
    size = draw(st.integers(min_value=1, max_value=15))
    groups = []
    for index in range(size):
        parent = draw(st.none() | st.integers(min_value=0, max_value=index - 1)) if index else None
        groups.append(
            AlarmGroup(
                id=f"g{index}",
                name=f"Group {index}",
                parent_id=None if parent is None else f"g{parent}",
                settings=draw(group_settings),
            )
        )
    return build_tree(draw(st.permutations(groups)))


def parent_of(tree: GroupTree, group_id: str) -> str | None:
    return tree.groups[group_id].parent_id


@given(forests())
def test_a_group_without_an_override_has_exactly_its_parents_settings(tree: GroupTree):
    for group_id, group in tree.groups.items():
        for category in Category:
            own = group.settings.own(category)
            parent = parent_of(tree, group_id)
            if own is not None:
                expected = own
            elif parent is None:
                expected = ROOT_POLICY
            else:
                expected = effective_policy(tree, parent, category)
            assert effective_policy(tree, group_id, category) == expected


@given(forests(), st.data())
def test_an_override_affects_exactly_its_subtree(tree: GroupTree, data: st.DataObject):
    target = data.draw(st.sampled_from(sorted(tree.groups)))
    category = data.draw(st.sampled_from(list(Category)))
    policy = data.draw(policies)
    changed = tree.groups[target]
    changed = AlarmGroup(
        id=changed.id,
        name=changed.name,
        parent_id=changed.parent_id,
        settings=changed.settings.with_policy(category, policy),
    )
    after = build_tree([changed if g.id == target else g for g in tree.groups.values()])
    inside = tree.subtree(target)
    for group_id in tree.groups:
        for other in Category:
            before_policy = effective_policy(tree, group_id, other)
            after_policy = effective_policy(after, group_id, other)
            if group_id not in inside or other is not category:
                assert after_policy == before_policy
                continue
            # Inside the subtree, the new policy reaches every group up to the next override.
            below = tree.lineage(group_id)[: tree.lineage(group_id).index(target)]
            shadowed = any(tree.groups[g].settings.own(category) is not None for g in below)
            assert after_policy == (before_policy if shadowed else policy)


@given(forests(), st.data())
def test_covered_groups_are_exactly_where_routing_reaches_through_an_ancestor(
    tree: GroupTree, data: st.DataObject
):
    assigned = data.draw(st.frozensets(st.sampled_from(sorted(tree.groups)), max_size=4))
    user = make_user("u", *assigned)
    covered = covered_groups(tree, assigned)
    for group_id in tree.groups:
        event = make_event(group_id=group_id, category=Category.FIRE, severity=Severity.ALARM)
        reached = bool(route(event, tree=tree, users=[user]).send)
        # The page shows a group ticked (own or covered) exactly when routing emails it.
        assert reached == (group_id in assigned or group_id in covered), group_id
        if group_id in covered:
            through = covered[group_id]
            assert through in assigned
            assert through in tree.lineage(group_id)[1:]
            # The highest assigned ancestor: none above it is assigned.
            above = tree.lineage(through)[1:]
            assert not assigned & set(above)


@given(forests())
def test_lineages_walk_up_to_a_root_and_paths_match(tree: GroupTree):
    for group_id in tree.groups:
        lineage = tree.lineage(group_id)
        assert lineage[0] == group_id
        assert parent_of(tree, lineage[-1]) is None
        for child, parent in itertools.pairwise(lineage):
            assert parent_of(tree, child) == parent
        assert len(tree.path(group_id)) == len(lineage)
        assert all(group_id in tree.subtree(a) for a in lineage)


@given(forests(), st.randoms(use_true_random=False))
def test_input_order_does_not_matter(tree: GroupTree, rng: random.Random):
    groups = list(tree.groups.values())
    rng.shuffle(groups)
    again = build_tree(groups)
    for group_id in tree.groups:
        assert again.lineage(group_id) == tree.lineage(group_id)
        for category in Category:
            assert effective_policy(again, group_id, category) == effective_policy(
                tree, group_id, category
            )


@given(st.lists(st.none() | st.integers(min_value=0, max_value=7), min_size=1, max_size=8))
def test_build_tree_refuses_exactly_the_parent_graphs_with_a_cycle(parents: list[int | None]):
    size = len(parents)
    groups = [
        AlarmGroup(id=f"g{i}", name=f"G{i}", parent_id=None if p is None else f"g{p}")
        for i, p in enumerate(parents)
        if p != i
    ]
    known = {g.id for g in groups}

    def ends_at_root(start: str) -> bool | None:  # None: unknown parent on the way
        current: str | None = start
        for _ in range(size + 1):
            if current is None:
                return True
            if current not in known:
                return None
            current = next(g.parent_id for g in groups if g.id == current)
        return False

    outcomes = {ends_at_root(g.id) for g in groups}
    if outcomes <= {True}:
        tree = build_tree(groups)
        assert all(parent_of(tree, tree.lineage(g)[-1]) is None for g in tree.groups)
        return
    expected = "group_unknown_parent" if None in outcomes else "group_cycle"
    with pytest.raises(GroupTreeError) as info:
        build_tree(groups)
    assert info.value.code == expected


quiet_windows = st.lists(
    st.builds(
        QuietWindow,
        st.frozensets(st.integers(0, 6), min_size=1),
        st.times().map(lambda t: t.replace(second=0, microsecond=0)),
        st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    ),
    max_size=3,
).map(tuple)
users_strategy = st.lists(
    st.builds(
        make_user,
        st.sampled_from([f"u{i}" for i in range(8)]),
        st.sampled_from([f"g{i}" for i in range(15)]),
        enabled=st.booleans(),
        email_categories=st.frozensets(st.sampled_from(list(Category))),
        quiet_hours=quiet_windows,
        time_zone=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"]),
    ),
    max_size=8,
    unique_by=lambda u: u.id,
)


@settings(max_examples=200)
@given(forests(), users_strategy, st.data())
def test_every_user_is_decided_exactly_once_and_rules_hold(tree, users, data):
    group = data.draw(st.sampled_from(sorted(tree.groups)))
    event = make_event(
        group_id=group,
        category=data.draw(st.sampled_from(list(Category))),
        severity=data.draw(st.sampled_from(list(Severity))),
        state=State.RAISED,
    )
    sent_before = data.draw(st.integers(min_value=0, max_value=25))
    at = data.draw(st.datetimes(timezones=st.just(UTC)))
    snapshot = Snapshot({(group, event.category): sent_before}, at=at)
    decision = route(event, tree=tree, users=users, snapshot=snapshot)
    decided = [u.id for u in decision.send + decision.held] + [uid for uid, _ in decision.skipped]
    assert sorted(decided) == sorted(u.id for u in users)
    lineage = set(tree.lineage(group))
    policy = effective_policy(tree, group, event.category)
    capped = policy.max_per_hour is not None and sent_before >= policy.max_per_hour
    for user in decision.send + decision.held:
        assert user.enabled
        assert user.wants_email(event.category)
        assert user.group_ids & lineage
        assert event.severity is Severity.ALARM or policy.email_warnings
    assert (decision.send == ()) or not capped
    for uid, reason in decision.skipped:
        assert not reason.holds
        assert decision.reason_for(uid) is reason
    # Quiet hours hold first (fire and sabotage break through), then the cap.
    for user in decision.send + decision.held:
        quiet = is_quiet(user.quiet_hours, user.time_zone, at) and not breaks_through(
            event.category
        )
        expected = (
            RoutingReason.QUIET_HOURS if quiet else RoutingReason.HOURLY_CAP if capped else None
        )
        assert decision.reason_for(user.id) is expected
