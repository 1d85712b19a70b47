"""Who gets an email for an event: the alarm-group tree, inheritance and the routing rules.

Everything here is a pure function of its arguments: the caller (the intake
service) reads groups, users and the counters from the store, calls :func:`route`,
and stores the emails and counters it decides.  Nothing here touches the store,
the clock or the network, so a decision can be replayed to answer "why didn't I
get that email?".

Routing is a chain of small rules (:data:`DEFAULT_RULES`), each looking at one
user and either passing or naming a :class:`RoutingReason`.  Quiet hours joined
the chain as one rule: the instant to judge them at comes in the :class:`Snapshot`
(the caller's clock), so routing still reads no clock.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from tocsin.errors import ConfigError
from tocsin.i18n import translate
from tocsin.model import (
    ROOT_POLICY,
    AlarmGroup,
    Category,
    CategoryPolicy,
    Event,
    Severity,
    User,
)
from tocsin.quiet import breaks_through, is_quiet
from tocsin.validation import Issue, Level

__all__ = [
    "DEFAULT_RULES",
    "Decision",
    "GroupTree",
    "GroupTreeError",
    "HeldSummary",
    "RoutingReason",
    "Rule",
    "RuleContext",
    "Snapshot",
    "UnknownGroup",
    "acknowledges_warnings",
    "build_tree",
    "covered_groups",
    "effective_policy",
    "effective_settings",
    "route",
    "summarize",
]


class GroupTreeError(ConfigError, ValueError):
    """The alarm groups do not form a tree.

    ``code`` is ``group_duplicate_id``, ``group_unknown_parent`` or ``group_cycle``,
    ``group_id`` the group to fix; ``issues`` holds one field-named
    :class:`~tocsin.validation.Issue` (field ``id`` or ``parent_id``) for the API.
    """

    def __init__(self, code: str, *, group_id: str, field: str, **params: str) -> None:
        params = {"group": group_id, **params}
        issue = Issue(field=field, code=code, level=Level.ERROR, params=params)
        super().__init__(translate(code, "en", **params), issues=(issue,))
        self.code = code
        self.group_id = group_id


class UnknownGroup(LookupError):
    """A group id that is not in the tree."""

    def __init__(self, group_id: str) -> None:
        super().__init__(f"there is no alarm group with id {group_id!r}")
        self.group_id = group_id


class GroupTree:
    """A validated forest of alarm groups; build it with :func:`build_tree`.

    The lineage of every group (itself, its parent, ..., its root) is computed
    once, so routing an event costs one lookup however deep the tree is.
    """

    __slots__ = ("_children", "_groups", "_lineage")

    def __init__(
        self,
        groups: Mapping[str, AlarmGroup],
        lineage: Mapping[str, tuple[str, ...]],
        children: Mapping[str, tuple[str, ...]],
    ) -> None:
        self._groups = MappingProxyType(dict(groups))
        self._lineage = MappingProxyType(dict(lineage))
        self._children = MappingProxyType(dict(children))

    def __contains__(self, group_id: object) -> bool:
        return group_id in self._groups

    def __len__(self) -> int:
        return len(self._groups)

    @property
    def groups(self) -> Mapping[str, AlarmGroup]:
        """All groups by id (read-only)."""
        return self._groups

    def group(self, group_id: str) -> AlarmGroup:
        """The group with ``group_id``; raises :class:`UnknownGroup`."""
        try:
            return self._groups[group_id]
        except KeyError:
            raise UnknownGroup(group_id) from None

    def lineage(self, group_id: str) -> tuple[str, ...]:
        """``group_id`` and its ancestors, nearest first; raises :class:`UnknownGroup`."""
        try:
            return self._lineage[group_id]
        except KeyError:
            raise UnknownGroup(group_id) from None

    def path(self, group_id: str) -> tuple[str, ...]:
        """The group names from the root down to ``group_id`` (for "Site / Room" displays)."""
        return tuple(self._groups[g].name for g in reversed(self.lineage(group_id)))

    def children(self, group_id: str) -> tuple[str, ...]:
        """The direct subgroups of ``group_id``, in input order."""
        self.group(group_id)
        return self._children.get(group_id, ())

    def subtree(self, group_id: str) -> frozenset[str]:
        """``group_id`` and every group below it."""
        found: set[str] = set()
        stack = [group_id]
        while stack:
            current = stack.pop()
            found.add(current)
            stack.extend(self.children(current))
        return frozenset(found)


def build_tree(groups: Iterable[AlarmGroup]) -> GroupTree:
    """Validate ``groups`` as a forest and index it.

    Raises :class:`GroupTreeError` for a duplicate id, a parent that does not
    exist, or a cycle (the message names the groups in the loop).
    """
    by_id: dict[str, AlarmGroup] = {}
    children: dict[str, list[str]] = {}
    for group in groups:
        if group.id in by_id:
            raise GroupTreeError("group_duplicate_id", group_id=group.id, field="id")
        by_id[group.id] = group
    for group in by_id.values():
        if group.parent_id is None:
            continue
        if group.parent_id not in by_id:
            raise GroupTreeError(
                "group_unknown_parent", group_id=group.id, field="parent_id", parent=group.parent_id
            )
        children.setdefault(group.parent_id, []).append(group.id)
    lineage: dict[str, tuple[str, ...]] = {}
    for group_id in by_id:
        lineage[group_id] = _lineage_of(group_id, by_id, lineage)
    return GroupTree(by_id, lineage, {k: tuple(v) for k, v in children.items()})


def _lineage_of(
    group_id: str, by_id: Mapping[str, AlarmGroup], known: Mapping[str, tuple[str, ...]]
) -> tuple[str, ...]:
    """Walk up from ``group_id``, reusing lineages already known; detect loops."""
    chain: list[str] = []
    seen: set[str] = set()
    current: str | None = group_id
    while current is not None:
        if current in known:
            return (*chain, *known[current])
        if current in seen:
            loop = [*chain[chain.index(current) :], current]
            loop_text = " → ".join(f"'{g}'" for g in loop)
            raise GroupTreeError("group_cycle", group_id=current, field="parent_id", loop=loop_text)
        seen.add(current)
        chain.append(current)
        current = by_id[current].parent_id
    return tuple(chain)


def covered_groups(tree: GroupTree, group_ids: Iterable[str]) -> Mapping[str, str]:
    """The groups a user assigned to ``group_ids`` gets alarms of *through* an ancestor.

    Maps each such group to the highest of its ancestors in ``group_ids`` — the same
    lineage test :func:`route` applies, so a page showing "included through <parent>"
    tells what routing does.  A group in ``group_ids`` with no listed ancestor is
    not in the result; ids not in the tree are ignored.
    """
    assigned = frozenset(group_ids)
    found: dict[str, str] = {}
    for group_id in tree.groups:
        through = next((a for a in reversed(tree.lineage(group_id)[1:]) if a in assigned), None)
        if through is not None:
            found[group_id] = through
    return MappingProxyType(found)


def effective_policy(tree: GroupTree, group_id: str, category: Category) -> CategoryPolicy:
    """The policy that applies to ``category`` in ``group_id``.

    The nearest own policy walking up from the group wins; with none up to the
    root, :data:`~tocsin.model.ROOT_POLICY` (warnings emailed, no cap).
    Raises :class:`UnknownGroup`.
    """
    groups = tree.groups
    for ancestor in tree.lineage(group_id):
        own = groups[ancestor].settings.own(category)
        if own is not None:
            return own
    return ROOT_POLICY


def acknowledges_warnings(tree: GroupTree, group_id: str) -> bool:
    """Whether warnings in ``group_id`` carry an acknowledge link: the nearest group
    walking up that says (``ack_warnings`` not ``None``) decides; no group saying, no.

    An unknown group (a system notice, a group deleted since) says no.
    """
    if group_id not in tree:
        return False
    groups = tree.groups
    for ancestor in tree.lineage(group_id):
        own = groups[ancestor].ack_warnings
        if own is not None:
            return own
    return False


def effective_settings(tree: GroupTree, group_id: str) -> Mapping[Category, CategoryPolicy]:
    """:func:`effective_policy` for every category (for the web page and the API)."""
    return MappingProxyType({c: effective_policy(tree, group_id, c) for c in Category})


class RoutingReason(StrEnum):
    """Why a user did not get an email now; stable codes for the "why not?" view."""

    NOT_ASSIGNED = "not_assigned"  # assigned to neither the event's group nor an ancestor
    DISABLED = "disabled"  # the user is disabled
    CATEGORY_OFF = "category_off"  # the user has email off for this category
    WARNINGS_OFF = "warnings_off"  # a warning, and the group's settings email alarms only
    NOT_TOLD_OF_RAISE = "not_told_of_raise"  # a "cleared" for a raise the user never got
    QUIET_HOURS = "quiet_hours"  # the user's quiet hours: goes into a summary when they end
    HOURLY_CAP = "hourly_cap"  # held back by the cap: goes into a summary later

    @property
    def holds(self) -> bool:
        """True if the email is held back for later rather than dropped."""
        return self in _HOLDING


_HOLDING: Final = frozenset({RoutingReason.QUIET_HOURS, RoutingReason.HOURLY_CAP})


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What routing needs to know about the past, read by the caller from the store.

    ``sent_this_hour``: notifications already sent in the current hour, per
    (group id, category).  ``told_of_raise``: for a cleared event, the ids of
    the users who were emailed about the raise it clears.  ``at``: the instant the
    event is routed, for quiet hours (``None``: nobody is treated as quiet).
    """

    sent_this_hour: Mapping[tuple[str, Category], int] = field(default_factory=dict)
    told_of_raise: frozenset[str] = frozenset()
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RuleContext:
    """What every rule sees besides the user: computed once per event."""

    event: Event
    policy: CategoryPolicy
    lineage: frozenset[str]
    snapshot: Snapshot
    cap_reached: bool


Rule = Callable[[RuleContext, User], RoutingReason | None]
"""A routing rule: ``None`` lets the user through, a reason stops (or holds) the email."""


def _assigned(ctx: RuleContext, user: User) -> RoutingReason | None:
    return None if not user.group_ids.isdisjoint(ctx.lineage) else RoutingReason.NOT_ASSIGNED


def _enabled(ctx: RuleContext, user: User) -> RoutingReason | None:
    return None if user.enabled else RoutingReason.DISABLED


def _category_on(ctx: RuleContext, user: User) -> RoutingReason | None:
    return None if user.wants_email(ctx.event.category) else RoutingReason.CATEGORY_OFF


def _warnings_allowed(ctx: RuleContext, user: User) -> RoutingReason | None:
    # A clear follows its raise: if the raise was emailed, so is the clear.
    if ctx.event.cleared or ctx.event.severity is not Severity.WARNING:
        return None
    return None if ctx.policy.email_warnings else RoutingReason.WARNINGS_OFF


def _told_of_raise(ctx: RuleContext, user: User) -> RoutingReason | None:
    if not ctx.event.cleared or user.id in ctx.snapshot.told_of_raise:
        return None
    return RoutingReason.NOT_TOLD_OF_RAISE


def _awake(ctx: RuleContext, user: User) -> RoutingReason | None:
    # Fire and sabotage break through quiet hours, raised or cleared.
    at = ctx.snapshot.at
    if at is None or not user.quiet_hours or breaks_through(ctx.event.category):
        return None
    quiet = is_quiet(user.quiet_hours, user.time_zone, at)
    return RoutingReason.QUIET_HOURS if quiet else None


def _within_cap(ctx: RuleContext, user: User) -> RoutingReason | None:
    return RoutingReason.HOURLY_CAP if ctx.cap_reached else None


DEFAULT_RULES: Final[tuple[Rule, ...]] = (
    _assigned,
    _enabled,
    _category_on,
    _warnings_allowed,
    _told_of_raise,
    _awake,
    _within_cap,
)
"""The rules in the order they are asked; the first reason given is the one reported."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of routing one event.

    ``send``: email these users now.  ``held``: held back by quiet hours or the
    hourly cap; the caller keeps them for a summary (:func:`summarize`), with the
    reason in ``held_reasons`` (by user id).  ``skipped``: every other user, with the
    reason.  ``cap_key``: the counter to add one to if ``send`` is not empty
    (``None`` for a cleared event, which never counts nor is capped).
    """

    event: Event
    policy: CategoryPolicy
    send: tuple[User, ...]
    held: tuple[User, ...]
    skipped: tuple[tuple[str, RoutingReason], ...]
    cap_key: tuple[str, Category] | None
    held_reasons: Mapping[str, RoutingReason] = field(default_factory=dict)

    def held_reason(self, user_id: str) -> RoutingReason:
        """Why held user ``user_id`` was held (the cap, unless ``held_reasons`` says)."""
        return self.held_reasons.get(user_id, RoutingReason.HOURLY_CAP)

    def reason_for(self, user_id: str) -> RoutingReason | None:
        """Why ``user_id`` got no email now (``None`` if they did, or are unknown)."""
        if any(u.id == user_id for u in self.held):
            return self.held_reason(user_id)
        return next((r for uid, r in self.skipped if uid == user_id), None)


def route(
    event: Event,
    *,
    tree: GroupTree,
    users: Iterable[User],
    snapshot: Snapshot | None = None,
    rules: Sequence[Rule] = DEFAULT_RULES,
) -> Decision:
    """Decide who gets an email for ``event``.

    A raised event goes to users assigned to its group or an ancestor, enabled,
    with email on for its category; a warning only where the group's effective
    settings email warnings; for a user in quiet hours at ``snapshot.at`` (fire and
    sabotage excepted) and beyond the effective hourly cap of (group, category)
    the emails are held for a summary.  A cleared event goes to the users who were
    told of the raise and still want this category; it is never capped, since it
    follows at most one raise.  Raises :class:`UnknownGroup`.
    """
    snapshot = snapshot or Snapshot()
    policy = effective_policy(tree, event.group_id, event.category)
    cap_key = None if event.cleared else (event.group_id, event.category)
    cap = policy.max_per_hour
    cap_reached = (
        cap_key is not None and cap is not None and snapshot.sent_this_hour.get(cap_key, 0) >= cap
    )
    ctx = RuleContext(
        event=event,
        policy=policy,
        lineage=frozenset(tree.lineage(event.group_id)),
        snapshot=snapshot,
        cap_reached=cap_reached,
    )
    send: list[User] = []
    held: list[User] = []
    held_reasons: dict[str, RoutingReason] = {}
    skipped: list[tuple[str, RoutingReason]] = []
    for user in users:
        reason = _first_reason(rules, ctx, user)
        if reason is None:
            send.append(user)
        elif reason.holds:
            held.append(user)
            held_reasons[user.id] = reason
        else:
            skipped.append((user.id, reason))
    return Decision(
        event,
        policy,
        tuple(send),
        tuple(held),
        tuple(skipped),
        cap_key,
        MappingProxyType(held_reasons),
    )


def _first_reason(rules: Sequence[Rule], ctx: RuleContext, user: User) -> RoutingReason | None:
    for rule in rules:
        reason = rule(ctx, user)
        if reason is not None:
            return reason
    return None


@dataclass(frozen=True, slots=True)
class HeldSummary:
    """What one user missed while the hourly cap held their emails back.

    ``id`` is derived from the user and the events, so a retried summary keeps
    its Message-ID.  ``first`` and ``last`` are by time of occurrence;
    ``by_category`` counts per category, in category order.
    """

    id: str
    user_id: str
    count: int
    first: Event
    last: Event
    worst: Severity
    by_category: tuple[tuple[Category, int], ...]
    event_ids: tuple[str, ...]


def summarize(user_id: str, events: Iterable[Event]) -> HeldSummary:
    """Build the summary of the events held back for ``user_id``.

    Duplicates (same event id) count once.  Raises ``ValueError`` if there are no events.
    """
    unique = {e.id: e for e in events}
    if not unique:
        raise ValueError("a summary needs at least one held-back event")
    ordered = sorted(unique.values(), key=lambda e: (e.occurred_at, e.id))
    counts = Counter(e.category for e in ordered)
    event_ids = tuple(e.id for e in ordered)
    digest = hashlib.sha256("\0".join((user_id, *sorted(event_ids))).encode()).hexdigest()
    return HeldSummary(
        id=digest[:32],
        user_id=user_id,
        count=len(ordered),
        first=ordered[0],
        last=ordered[-1],
        worst=max((e.severity for e in ordered), key=lambda s: s.rank),
        by_category=tuple((c, counts[c]) for c in Category if counts[c]),
        event_ids=event_ids,
    )
