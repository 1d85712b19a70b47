"""Use cases around the site: alarm groups and users, and a whole site from a YAML file.

Every change is validated here, once, for every face: field by field
(:mod:`tocsin.services.site_input`), then as a whole — the groups must form a tree
(:func:`tocsin.routing.build_tree`), a user's groups must exist, a group still in
use cannot go.  A refused change raises :class:`~tocsin.services.inputs.InputRefused`
naming each field; nothing is half-written.

The site is read often (every event) and changed rarely, so :class:`SitesService`
keeps it in memory as a :class:`SiteView` and reloads it only when the store's
change counter moved — also when another process (the CLI, a second node) changed it.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

from tocsin.errors import TocsinError
from tocsin.model import AlarmGroup, Category, User
from tocsin.routing import (
    GroupTree,
    GroupTreeError,
    acknowledges_warnings,
    build_tree,
    effective_settings,
)
from tocsin.services.escalation_site import (
    ESCALATION,
    export_escalations,
    group_escalation_fields,
    import_escalations,
    site_escalations,
    unknown_users,
    write_group_escalation,
)
from tocsin.services.inputs import InputRefused, issue, refuse
from tocsin.services.site_input import (
    group_to_dict,
    merged,
    parse_group,
    parse_user,
    user_to_dict,
)
from tocsin.services.site_zone import system_zone
from tocsin.store import SiteSQL, SQLSites
from tocsin.validation import Issue

if TYPE_CHECKING:  # the mapping's modules import the services package: no cycle at run time
    from tocsin.intake.mapping import IntakeMapping
    from tocsin.services.intake_mapping import IntakeMappingService

__all__ = ["ImportReport", "NotFound", "SiteView", "SitesService", "dump_site", "load_site"]

_SITE_KEYS = ("groups", "users", "webhook_mapping")
T = TypeVar("T")


class NotFound(TocsinError, LookupError):
    """No group (or user) has this id; ``what`` is ``group`` or ``user``."""

    def __init__(self, what: str, item_id: str) -> None:
        super().__init__(f"there is no {what} with the id '{item_id}'")
        self.what = what
        self.item_id = item_id


class SiteView:
    """The site at one version: the group tree and the users, indexed for routing.

    Immutable; :meth:`candidates` remembers its answers (at most one per group and
    category), so routing an event looks at the few users who may want it instead of
    every user.
    """

    def __init__(self, version: int, tree: GroupTree, users: Sequence[User]) -> None:
        self.version = version
        self.tree = tree
        self.users = tuple(users)
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


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import changed (or, for a dry run, would change): ids per kind of change."""

    added_groups: tuple[str, ...] = ()
    changed_groups: tuple[str, ...] = ()
    removed_groups: tuple[str, ...] = ()
    added_users: tuple[str, ...] = ()
    changed_users: tuple[str, ...] = ()
    removed_users: tuple[str, ...] = ()
    applied: bool = True
    unchanged: int = 0

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "applied": self.applied,
            "groups": {
                "added": list(self.added_groups),
                "changed": list(self.changed_groups),
                "removed": list(self.removed_groups),
            },
            "users": {
                "added": list(self.added_users),
                "changed": list(self.changed_users),
                "removed": list(self.removed_users),
            },
            "unchanged": self.unchanged,
        }


def _tree_issues(exc: GroupTreeError, prefix: str = "") -> list[Issue]:
    # The model says parent_id; the dictionary form (API, file, CLI) says parent.
    names = {"parent_id": "parent"}
    return [issue(f"{prefix}{names.get(i.field, i.field)}", i.code, **i.params) for i in exc.issues]


def _check_user_groups(user: User, tree: GroupTree, issues: list[Issue], prefix: str = "") -> None:
    for group_id in sorted(user.group_ids):
        if group_id not in tree:
            issues.append(issue(f"{prefix}groups", "unknown_group", group=group_id))


class SitesService:
    """Alarm groups and users over the store, with the site cached in memory.

    ``site_zone`` is the zone a user added without one starts in (default: the
    server's local zone, :func:`~tocsin.services.site_zone.system_zone`).
    """

    def __init__(
        self,
        store: SQLSites,
        *,
        clock: Any = time.time,
        site_zone: str | None = None,
        mapping: IntakeMappingService | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._view: SiteView | None = None
        self.site_zone = site_zone or system_zone()
        self._mapping = mapping

    # ------------------------------------------------------------ the cached site
    def view(self) -> SiteView:
        """The current site (reloaded only when it changed since the last call)."""
        with self._store.site_reading() as sql:
            return self.view_in(sql)

    def view_in(self, sql: SiteSQL) -> SiteView:
        """The current site as seen inside ``sql``'s transaction."""
        version = sql.version()
        cached = self._view
        if cached is not None and cached.version == version:
            return cached
        view = SiteView(version, build_tree(sql.groups()), sql.users())
        self._view = view
        return view

    # ------------------------------------------------------------ groups
    def groups(self) -> list[AlarmGroup]:
        """Every group, parents before their subgroups."""
        view = self.view()
        return _tree_order(view.tree)

    def group(self, group_id: str) -> AlarmGroup:
        """One group; raises :class:`NotFound`."""
        tree = self.view().tree
        if group_id not in tree:
            raise NotFound("group", group_id)
        return tree.group(group_id)

    def group_dict(self, group: AlarmGroup, *, view: SiteView | None = None) -> dict[str, Any]:
        """The dictionary form of ``group``, with its effective settings and path."""
        tree = (view or self.view()).tree
        data = group_to_dict(group)
        data["path"] = list(tree.path(group.id))
        data.setdefault("ack_warnings", "inherit")
        data["effective_ack_warnings"] = acknowledges_warnings(tree, group.id)
        data["effective"] = {
            c.value: {"email_warnings": p.email_warnings, "max_per_hour": p.max_per_hour}
            for c, p in effective_settings(tree, group.id).items()
        }
        with self._store.site_reading() as sql:
            data |= group_escalation_fields(sql.runner, tree, group.id)
        return data

    def add_group(self, data: Mapping[str, object]) -> AlarmGroup:
        """Create a group from its dictionary form; raises :class:`InputRefused`."""
        issues: list[Issue] = []
        group = parse_group(data, issues=issues)
        if group is None:
            raise InputRefused(issues)
        with self._store.site_writing() as sql:
            view = self.view_in(sql)
            if group.id in view.tree:
                raise InputRefused(
                    [issue("id", "duplicate_id", what="group", id=group.id)], conflict=True
                )
            self._check_tree([*view.tree.groups.values(), group])
            sql.put_group(group, now=self._clock())
            users = [u.id for u in view.users]
            write_group_escalation(sql.runner, group.id, data, users, self._clock())
        return group

    def update_group(self, group_id: str, changes: Mapping[str, object]) -> AlarmGroup:
        """Change some fields of a group (``policies`` merge per category).

        Raises :class:`NotFound` and :class:`InputRefused`.
        """
        with self._store.site_writing() as sql:
            view = self.view_in(sql)
            if group_id not in view.tree:
                raise NotFound("group", group_id)
            if "id" in changes and changes["id"] != group_id:
                raise refuse("id", "id_change")
            issues: list[Issue] = []
            current = group_to_dict(view.tree.group(group_id))
            group = parse_group(merged(current, changes), issues=issues)
            if group is None:
                raise InputRefused(issues)
            others = [g for g in view.tree.groups.values() if g.id != group_id]
            self._check_tree([*others, group])
            sql.put_group(group, now=self._clock())
            users = [u.id for u in view.users]
            write_group_escalation(sql.runner, group_id, changes, users, self._clock())
        return group

    def remove_group(self, group_id: str) -> None:
        """Delete a group with no subgroups and no users; raises :class:`NotFound`,
        :class:`InputRefused` (conflict) naming what still uses it."""
        with self._store.site_writing() as sql:
            view = self.view_in(sql)
            if group_id not in view.tree:
                raise NotFound("group", group_id)
            children = view.tree.children(group_id)
            if children:
                raise InputRefused(
                    [
                        issue(
                            "id", "group_has_children", group=group_id, children=", ".join(children)
                        )
                    ],
                    conflict=True,
                )
            users = [u.id for u in view.users if group_id in u.group_ids]
            if users:
                raise InputRefused(
                    [issue("id", "group_has_users", group=group_id, users=", ".join(users))],
                    conflict=True,
                )
            sql.delete_group(group_id)
            write_group_escalation(sql.runner, group_id, {ESCALATION: None}, (), self._clock())

    @staticmethod
    def _check_tree(groups: Sequence[AlarmGroup]) -> GroupTree:
        try:
            return build_tree(groups)
        except GroupTreeError as exc:
            raise InputRefused(_tree_issues(exc)) from None

    # ------------------------------------------------------------ users
    def users(self) -> list[User]:
        """Every user, in the order they were created."""
        return list(self.view().users)

    def user(self, user_id: str) -> User:
        """One user; raises :class:`NotFound`."""
        found = self.view().user(user_id)
        if found is None:
            raise NotFound("user", user_id)
        return found

    def add_user(self, data: Mapping[str, object]) -> User:
        """Create a user from its dictionary form; raises :class:`InputRefused`."""
        issues: list[Issue] = []
        user = parse_user(data, issues=issues, default_zone=self.site_zone)
        if user is None:
            raise InputRefused(issues)
        with self._store.site_writing() as sql:
            view = self.view_in(sql)
            if view.user(user.id) is not None:
                raise InputRefused(
                    [issue("id", "duplicate_id", what="user", id=user.id)], conflict=True
                )
            _check_user_groups(user, view.tree, issues)
            if issues:
                raise InputRefused(issues)
            sql.put_user(user, now=self._clock())
        return user

    def update_user(self, user_id: str, changes: Mapping[str, object]) -> User:
        """Change some fields of a user (a list given replaces the list).

        Raises :class:`NotFound` and :class:`InputRefused`.
        """
        with self._store.site_writing() as sql:
            view = self.view_in(sql)
            current = view.user(user_id)
            if current is None:
                raise NotFound("user", user_id)
            if "id" in changes and changes["id"] != user_id:
                raise refuse("id", "id_change")
            issues: list[Issue] = []
            user = parse_user(merged(user_to_dict(current), changes), issues=issues)
            if user is not None:
                _check_user_groups(user, view.tree, issues)
            if user is None or issues:
                raise InputRefused(issues)
            sql.put_user(user, now=self._clock())
        return user

    def remove_user(self, user_id: str) -> None:
        """Delete a user; raises :class:`NotFound`."""
        with self._store.site_writing() as sql:
            if not sql.delete_user(user_id):
                raise NotFound("user", user_id)

    # ------------------------------------------------------------ the whole site
    def export_site(self) -> dict[str, Any]:
        """The whole site in its dictionary form (parents before subgroups)."""
        view = self.view()
        site: dict[str, Any] = {
            "groups": [group_to_dict(g) for g in _tree_order(view.tree)],
            "users": [user_to_dict(u) for u in view.users],
        }
        with self._store.site_reading() as sql:
            export_escalations(sql.runner, site["groups"])
        if self._mapping is not None:
            site["webhook_mapping"] = self._mapping.as_dict()
        return site

    def import_site(
        self, data: object, *, replace: bool = True, dry_run: bool = False
    ) -> ImportReport:
        """Set up the site from its dictionary form (a parsed site file).

        ``replace``: groups and users missing from ``data`` are removed (the file is
        the whole site); otherwise they are kept.  ``dry_run``: only report.
        ``webhook_mapping`` (optional) replaces the label mapping of the webhooks (with
        ``replace``; else changes the fields it names); without it the mapping stays.
        Everything is checked before anything is written; raises :class:`InputRefused`.
        """
        groups, users = _parse_site(data, self.site_zone)
        escalation_issues: list[Issue] = []
        escalations = site_escalations(data, escalation_issues)
        if escalation_issues:
            raise InputRefused(escalation_issues)
        mapping = self._site_mapping(data, whole=replace)
        with self._store.site_writing() as sql:
            view = self.view_in(sql)
            given = {g.id for g in groups}
            kept = [] if replace else [g for g in view.tree.groups.values() if g.id not in given]
            try:
                tree = build_tree([*kept, *groups])
            except GroupTreeError as exc:
                raise InputRefused(_tree_issues(exc, "groups.")) from None
            issues: list[Issue] = []
            for index, user in enumerate(users):
                _check_user_groups(user, tree, issues, f"users[{index}].")
            kept_users = [] if replace else [u.id for u in view.users]
            names = {*kept_users, *(u.id for u in users)}
            issues += unknown_users(escalations, names, "groups.")
            if issues:
                raise InputRefused(issues)
            report = _diff(view, groups, users, replace=replace, applied=not dry_run)
            if not dry_run:
                self._write_site(sql, tree, given, users, replace=replace)
                import_escalations(
                    sql.runner, escalations, given, replace=replace, now=self._clock()
                )
        if mapping is not None and not dry_run and self._mapping is not None:
            self._mapping.save(mapping)  # after the site: a refused site changes nothing
        return report

    def _site_mapping(self, data: object, *, whole: bool) -> IntakeMapping | None:
        raw = data.get("webhook_mapping") if isinstance(data, dict) else None
        if raw is None or self._mapping is None:
            return None
        return self._mapping.check(raw, prefix="webhook_mapping.", whole=whole)

    def _write_site(
        self,
        sql: SiteSQL,
        tree: GroupTree,
        group_ids: set[str],
        users: Sequence[User],
        *,
        replace: bool,
    ) -> None:
        now = self._clock()
        if replace:
            sql.clear_site()
        for group in _tree_order(tree):
            if group.id in group_ids:
                sql.put_group(group, now=now)
        for user in users:
            sql.put_user(user, now=now)


def _tree_order(tree: GroupTree) -> list[AlarmGroup]:
    """Groups depth-first from each root, siblings in creation order."""
    ordered: list[AlarmGroup] = []
    stack = [g.id for g in reversed(list(tree.groups.values())) if g.parent_id is None]
    while stack:
        group_id = stack.pop()
        ordered.append(tree.group(group_id))
        stack.extend(reversed(tree.children(group_id)))
    return ordered


def _parse_site(data: object, zone: str) -> tuple[list[AlarmGroup], list[User]]:
    issues: list[Issue] = []
    if not isinstance(data, dict):
        raise refuse("site", "field_type", expected="an object with 'groups' and 'users'")
    for key in data:
        if key not in _SITE_KEYS:
            issues.append(issue(str(key), "field_unknown", known=", ".join(_SITE_KEYS)))
    groups = _parse_list(data.get("groups"), "groups", parse_group, issues)
    users = _parse_list(
        data.get("users"), "users", functools.partial(parse_user, default_zone=zone), issues
    )
    if issues:
        raise InputRefused(issues)
    return groups, users


def _parse_list(
    items: object, key: str, parse: Callable[..., T | None], issues: list[Issue]
) -> list[T]:
    if items is None:
        return []
    if not isinstance(items, list):
        issues.append(issue(key, "field_type", expected="a list"))
        return []
    found: list[T] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        parsed = parse(item, issues=issues, prefix=f"{key}[{index}].")
        if parsed is None:
            continue
        item_id = str(getattr(parsed, "id"))  # noqa: B009
        if item_id in seen:
            issues.append(issue(f"{key}[{index}].id", "duplicate_id", what=key[:-1], id=item_id))
        seen.add(item_id)
        found.append(parsed)
    return found


def _diff(
    view: SiteView,
    groups: Sequence[AlarmGroup],
    users: Sequence[User],
    *,
    replace: bool,
    applied: bool,
) -> ImportReport:
    old_groups = dict(view.tree.groups)
    old_users = {u.id: u for u in view.users}
    new_group_ids = {g.id for g in groups}
    new_user_ids = {u.id for u in users}
    unchanged = sum(1 for g in groups if old_groups.get(g.id) == g)
    unchanged += sum(1 for u in users if old_users.get(u.id) == u)
    return ImportReport(
        added_groups=tuple(g.id for g in groups if g.id not in old_groups),
        changed_groups=tuple(g.id for g in groups if g.id in old_groups and old_groups[g.id] != g),
        removed_groups=tuple(g for g in old_groups if replace and g not in new_group_ids),
        added_users=tuple(u.id for u in users if u.id not in old_users),
        changed_users=tuple(u.id for u in users if u.id in old_users and old_users[u.id] != u),
        removed_users=tuple(u for u in old_users if replace and u not in new_user_ids),
        applied=applied,
        unchanged=unchanged,
    )


def load_site(text: str) -> object:
    """Parse a site file (YAML, or JSON, which is YAML too); raises :class:`InputRefused`."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise refuse("file", "invalid_value", detail=f"not valid YAML{where}: {problem}") from None


def dump_site(data: Mapping[str, Any]) -> str:
    """A site in its dictionary form as YAML (Unicode kept, keys in their usual order)."""
    header = "# Tocsin site: alarm groups and users. Import with: tocsin site import FILE\n"
    return header + yaml.safe_dump(
        dict(data), allow_unicode=True, sort_keys=False, default_flow_style=False, width=100
    )
