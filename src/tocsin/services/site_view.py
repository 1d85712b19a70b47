"""The site as routing reads it: one version of the group tree and the users, and its checks.

:class:`SiteView` is what :class:`~tocsin.services.sites.SitesService` caches; the
checks here (the tree's shape, a user's groups) are shared by single changes and
by a whole-site import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from tocsin.errors import TocsinError
from tocsin.escalation import EscalationPolicy
from tocsin.model import AlarmGroup, Category, User
from tocsin.routing import GroupTree, GroupTreeError
from tocsin.services.inputs import issue
from tocsin.validation import Issue

__all__ = ["NotFound", "SiteView", "check_user_groups", "tree_issues", "tree_order"]


class NotFound(TocsinError, LookupError):
    """No group (or user) has this id; ``what`` is ``group`` or ``user``."""

    def __init__(self, what: str, item_id: str) -> None:
        super().__init__(f"there is no {what} with the id '{item_id}'")
        self.what = what
        self.item_id = item_id


class SiteView:
    """The site at one version: the group tree, the users and the groups' own escalation
    policies, indexed for routing.

    Immutable; :meth:`candidates` remembers its answers (at most one per group and
    category), so routing an event looks at the few users who may want it instead of
    every user.  The policies are read with the rest (a policy change counts as a
    site change), so an alarm's transaction need not read them again (issue 11).
    """

    def __init__(
        self,
        version: int,
        tree: GroupTree,
        users: Sequence[User],
        policies: Mapping[str, EscalationPolicy] | None = None,
    ) -> None:
        self.version = version
        self.tree = tree
        self.users = tuple(users)
        self.policies: Mapping[str, EscalationPolicy] = MappingProxyType(dict(policies or {}))
        """Each group's own escalation policy (not the inherited ones), by group id."""
        self._by_id = {u.id: u for u in self.users}
        self._candidates: dict[tuple[str, Category], tuple[User, ...]] = {}

    def user(self, user_id: str) -> User | None:
        """The user with ``user_id``, or None."""
        return self._by_id.get(user_id)

    def candidates(self, group_id: str, category: Category) -> tuple[User, ...]:
        """Enabled users with email on for ``category``, assigned to the group or an ancestor.

        A superset of whom :func:`tocsin.routing.route` lets through, in site order.
        Raises :class:`~tocsin.routing.UnknownGroup`.
        """
        key = (group_id, category)
        found = self._candidates.get(key)
        if found is None:
            lineage = frozenset(self.tree.lineage(group_id))
            found = tuple(
                u
                for u in self.users
                if u.enabled and u.wants_email(category) and not u.group_ids.isdisjoint(lineage)
            )
            self._candidates[key] = found
        return found

    def system_recipients(self) -> tuple[User, ...]:
        """Enabled users with email on for ``system``, whatever their groups."""
        return tuple(u for u in self.users if u.enabled and u.wants_email(Category.SYSTEM))


def tree_issues(exc: GroupTreeError, prefix: str = "") -> list[Issue]:
    """The tree's problems as issues of the dictionary form, each field under ``prefix``."""
    # The model says parent_id; the dictionary form (API, file, CLI) says parent.
    names = {"parent_id": "parent"}
    return [issue(f"{prefix}{names.get(i.field, i.field)}", i.code, **i.params) for i in exc.issues]


def check_user_groups(user: User, tree: GroupTree, issues: list[Issue], prefix: str = "") -> None:
    """Add an issue to ``issues`` for each of ``user``'s groups missing from ``tree``."""
    for group_id in sorted(user.group_ids):
        if group_id not in tree:
            issues.append(issue(f"{prefix}groups", "unknown_group", group=group_id))


def tree_order(tree: GroupTree) -> list[AlarmGroup]:
    """Groups depth-first from each root, siblings in creation order."""
    ordered: list[AlarmGroup] = []
    stack = [g.id for g in reversed(list(tree.groups.values())) if g.parent_id is None]
    while stack:
        group_id = stack.pop()
        ordered.append(tree.group(group_id))
        stack.extend(reversed(tree.children(group_id)))
    return ordered
