"""A whole site as a file: YAML in and out, its groups and users parsed, what an import changes.

The whole-site use cases themselves (export, import) are
:meth:`~tocsin.services.sites.SitesService.export_site` and
:meth:`~tocsin.services.sites.SitesService.import_site`; this module holds what they
need that is not about the store.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from tocsin.model import AlarmGroup, User
from tocsin.services.inputs import InputRefused, issue, refuse
from tocsin.services.site_input import parse_group, parse_user
from tocsin.services.site_view import SiteView
from tocsin.validation import Issue

__all__ = ["ImportReport", "diff_site", "dump_site", "load_site", "parse_site"]

_SITE_KEYS = ("groups", "users", "webhook_mapping")
T = TypeVar("T")


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


def parse_site(data: object, zone: str) -> tuple[list[AlarmGroup], list[User]]:
    """The groups and users of a site file's dictionary form; raises :class:`InputRefused`."""
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


def diff_site(
    view: SiteView,
    groups: Sequence[AlarmGroup],
    users: Sequence[User],
    *,
    replace: bool,
    applied: bool,
) -> ImportReport:
    """What importing ``groups`` and ``users`` over ``view`` changes."""
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
    import yaml  # here: every service that opens the site imports this module, few read YAML

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise refuse("file", "invalid_value", detail=f"not valid YAML{where}: {problem}") from None


def dump_site(data: Mapping[str, Any]) -> str:
    """A site in its dictionary form as YAML (Unicode kept, keys in their usual order)."""
    import yaml

    header = "# Tocsin site: alarm groups and users. Import with: tocsin site import FILE\n"
    return header + yaml.safe_dump(
        dict(data), allow_unicode=True, sort_keys=False, default_flow_style=False, width=100
    )
