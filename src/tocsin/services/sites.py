"""Use cases around the site: alarm groups and users, and a whole site from a YAML file.

Every change is validated here, once, for every face: field by field
(:mod:`tocsin.services.site_input`), then as a whole — the groups must form a tree
(:func:`tocsin.routing.build_tree`), a user's groups must exist, a group still in
use cannot go.  A refused change raises :class:`~tocsin.services.inputs.InputRefused`
naming each field; nothing is half-written.

The site is read often (every event) and changed rarely, so :class:`SitesService`
keeps it in memory as a :class:`SiteView` and reloads it only when the store's
change counter moved — also when another process (the CLI, a second node) changed it.
The view and its checks are :mod:`tocsin.services.site_view`; the site file (YAML,
parsing, what an import changes) is :mod:`tocsin.services.site_file`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tocsin.model import AlarmGroup, User
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
from tocsin.services.site_file import ImportReport, diff_site, dump_site, load_site, parse_site
from tocsin.services.site_input import (
    group_to_dict,
    merged,
    parse_group,
    parse_user,
    user_to_dict,
)
from tocsin.services.site_view import (
    NotFound,
    SiteView,
    check_user_groups,
    tree_issues,
    tree_order,
)
from tocsin.services.site_zone import system_zone
from tocsin.store import EscalationSQL, SiteSQL, SQLSites
from tocsin.validation import Issue

if TYPE_CHECKING:  # the mapping's modules import the services package: no cycle at run time
    from tocsin.intake.mapping import IntakeMapping
    from tocsin.services.intake_mapping import IntakeMappingService

__all__ = ["ImportReport", "NotFound", "SiteView", "SitesService", "dump_site", "load_site"]


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

    def view_in(self, sql: SiteSQL, *, version: int | None = None) -> SiteView:
        """The current site as seen inside ``sql``'s transaction (``version``: its
        version, if just read there with something else)."""
        if version is None:
            version = sql.version()
        cached = self._view
        if cached is not None and cached.version == version:
            return cached
        policies = EscalationSQL(sql.runner).policies()
        view = SiteView(version, build_tree(sql.groups()), sql.users(), policies)
        self._view = view
        return view

    # ------------------------------------------------------------ groups
    def groups(self) -> list[AlarmGroup]:
        """Every group, parents before their subgroups."""
        view = self.view()
        return tree_order(view.tree)

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
            raise InputRefused(tree_issues(exc)) from None

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
            check_user_groups(user, view.tree, issues)
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
                check_user_groups(user, view.tree, issues)
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
            "groups": [group_to_dict(g) for g in tree_order(view.tree)],
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
        groups, users = parse_site(data, self.site_zone)
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
                raise InputRefused(tree_issues(exc, "groups.")) from None
            issues: list[Issue] = []
            for index, user in enumerate(users):
                check_user_groups(user, tree, issues, f"users[{index}].")
            kept_users = [] if replace else [u.id for u in view.users]
            names = {*kept_users, *(u.id for u in users)}
            issues += unknown_users(escalations, names, "groups.")
            if issues:
                raise InputRefused(issues)
            report = diff_site(view, groups, users, replace=replace, applied=not dry_run)
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
        for group in tree_order(tree):
            if group.id in group_ids:
                sql.put_group(group, now=now)
        for user in users:
            sql.put_user(user, now=now)
