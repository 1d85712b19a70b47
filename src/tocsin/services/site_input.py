"""Alarm groups and users from outside (API JSON, the site file, CLI options), and back.

The dictionary form is the same everywhere: what ``GET /api/v1/groups`` answers is
what a site file holds and what ``POST`` takes.  Parsing checks every field and
names each problem (``users[2].time_zone``); whether the groups form a tree and the
users' groups exist is checked by :mod:`tocsin.services.sites`, which sees the whole
site.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tocsin.address import InvalidAddress, parse_address
from tocsin.i18n import Language
from tocsin.model import AlarmGroup, Category, CategoryPolicy, GroupSettings, User
from tocsin.quiet import QuietHoursError, QuietWindow, windows_from_data, windows_to_data
from tocsin.services.inputs import Fields
from tocsin.validation import Issue, address_issue, internal_address_issue

__all__ = [
    "GROUP_FIELDS",
    "USER_FIELDS",
    "group_to_dict",
    "parse_group",
    "parse_user",
    "user_advice",
    "user_to_dict",
    "valid_time_zone",
]

GROUP_FIELDS: Final = ("id", "name", "parent", "policies", "escalation", "ack_warnings")
USER_FIELDS: Final = (
    "id",
    "name",
    "email",
    "language",
    "time_zone",
    "enabled",
    "groups",
    "categories",
    "quiet_hours",
)
_POLICY_FIELDS: Final = ("email_warnings", "max_per_hour")
_INHERIT: Final = "inherit"
NAME_LIMIT: Final = 200
MAX_CAP: Final = 100_000


def valid_time_zone(name: str) -> bool:
    """True if ``name`` is an IANA time zone this system knows (e.g. ``Europe/Berlin``)."""
    if not name or name != name.strip() or len(name) > 64:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _policies(fields: Fields) -> GroupSettings:
    raw = fields.data.get("policies")
    settings = GroupSettings()
    if raw is None:
        return settings
    if not isinstance(raw, dict):
        fields.problem("policies", "field_type", expected="an object of category: policy")
        return settings
    for name, value in raw.items():
        try:
            category = Category(name)
        except ValueError:
            choices = ", ".join(c.value for c in Category)
            fields.problem(
                f"policies.{name}", "field_choice", value=str(name)[:40], choices=choices
            )
            continue
        policy = _policy(value, fields, f"policies.{name}")
        settings = settings.with_policy(category, policy)
    return settings


def _policy(value: object, fields: Fields, name: str) -> CategoryPolicy | None:
    """``"inherit"`` / null, or ``{email_warnings, max_per_hour}``."""
    if value is None or value == _INHERIT:
        return None
    inner = Fields(
        value, prefix=f"{fields.path(name)}.", known=_POLICY_FIELDS, issues=fields.issues
    )
    if not isinstance(value, dict):
        return None
    warnings = inner.boolean("email_warnings", default=True)
    cap = inner.integer("max_per_hour", low=1, high=MAX_CAP)
    return CategoryPolicy(email_warnings=warnings, max_per_hour=cap)


def parse_group(data: object, *, issues: list[Issue], prefix: str = "") -> AlarmGroup | None:
    """An :class:`AlarmGroup` from its dictionary form, or None (the problems are in ``issues``)."""
    before = len(issues)
    fields = Fields(data, prefix=prefix, known=GROUP_FIELDS, issues=issues)
    group_id = fields.text("id", limit=128)
    name = fields.text("name", limit=NAME_LIMIT)
    parent = fields.text("parent", limit=128, required=False) or None
    settings = _policies(fields)
    ack_warnings = _inherit_or_boolean(fields, "ack_warnings")
    if len(issues) > before:
        return None
    try:
        return AlarmGroup(
            id=group_id,
            name=name,
            parent_id=parent,
            settings=settings,
            ack_warnings=ack_warnings,
        )
    except ValueError as exc:
        field = "parent" if parent == group_id else "id"
        fields.problem(field, "invalid_value", detail=str(exc))
        return None


def _inherit_or_boolean(fields: Fields, name: str) -> bool | None:
    """``true`` / ``false``, or ``"inherit"`` / null / left out (``None``)."""
    value = fields.data.get(name) if isinstance(fields.data, Mapping) else None
    if value is None or value == _INHERIT:
        return None
    if isinstance(value, bool):
        return value
    fields.problem(name, "field_type", expected='true, false or "inherit"')
    return None


def _quiet_hours(fields: Fields) -> tuple[QuietWindow, ...]:
    """The user's quiet-hours windows; a bad one is reported under its own field name."""
    raw = fields.data.get("quiet_hours") if isinstance(fields.data, Mapping) else None
    try:
        return windows_from_data(raw, fields.path("quiet_hours"))
    except QuietHoursError as exc:
        fields.issues.extend(exc.issues)
        return ()


def _categories(fields: Fields) -> frozenset[Category]:
    found: set[Category] = set()
    for index, name in enumerate(fields.strings("categories", limit=len(Category) * 4)):
        try:
            found.add(Category(name))
        except ValueError:
            choices = ", ".join(c.value for c in Category)
            fields.problem(f"categories[{index}]", "field_choice", value=name[:40], choices=choices)
    return frozenset(found)


def parse_user(
    data: object, *, issues: list[Issue], prefix: str = "", default_zone: str = "UTC"
) -> User | None:
    """A :class:`User` from its dictionary form, or None (the problems are in ``issues``).

    The address is validated (and normalised), the time zone must exist; without
    one the user gets ``default_zone`` (the site's zone, from the sites service).
    """
    before = len(issues)
    fields = Fields(data, prefix=prefix, known=USER_FIELDS, issues=issues)
    user_id = fields.text("id", limit=128)
    name = fields.text("name", limit=NAME_LIMIT)
    email = fields.text("email", limit=254)
    if email:
        try:
            email = parse_address(email).text
        except InvalidAddress as exc:
            fields.issues.append(address_issue(fields.path("email"), exc))
    language = fields.choice("language", Language, default=Language.EN)
    zone = fields.text("time_zone", limit=64, required=False, default=default_zone)
    if zone and not valid_time_zone(zone):
        fields.problem("time_zone", "invalid_zone", zone=zone[:64])
    enabled = fields.boolean("enabled", default=True)
    groups = frozenset(fields.strings("groups"))
    categories = _categories(fields)
    quiet = _quiet_hours(fields)
    if len(issues) > before:
        return None
    try:
        return User(
            id=user_id,
            name=name,
            email=email,
            language=language or Language.EN,
            time_zone=zone,
            enabled=enabled,
            group_ids=groups,
            email_categories=categories,
            quiet_hours=quiet,
        )
    except ValueError as exc:
        fields.problem("id", "invalid_value", detail=str(exc))
        return None


def user_advice(user: User) -> list[Issue]:
    """Advice on a saved user: an address at an internal domain is fine, but worth knowing."""
    try:
        address = parse_address(user.email)
    except InvalidAddress:
        return []  # stored before the rules changed; the next edit will say why
    return [internal_address_issue("email", address)] if address.internal else []


def group_to_dict(group: AlarmGroup) -> dict[str, Any]:
    """The dictionary form of ``group`` (only the categories it overrides under ``policies``)."""
    policies: dict[str, Any] = {}
    for category in Category:
        policy = group.settings.own(category)
        if policy is not None:
            policies[category.value] = {
                "email_warnings": policy.email_warnings,
                "max_per_hour": policy.max_per_hour,
            }
    found: dict[str, Any] = {
        "id": group.id,
        "name": group.name,
        "parent": group.parent_id,
        "policies": policies,
    }
    if group.ack_warnings is not None:  # left out when inherited, as files before it were
        found["ack_warnings"] = group.ack_warnings
    return found


def user_to_dict(user: User) -> dict[str, Any]:
    """The dictionary form of ``user`` (groups sorted, categories in their usual order)."""
    return {
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "language": Language(user.language).value,
        "time_zone": user.time_zone,
        "enabled": user.enabled,
        "groups": sorted(user.group_ids),
        "categories": [c.value for c in Category if c in user.email_categories],
        "quiet_hours": windows_to_data(user.quiet_hours),
    }


def merged(current: Mapping[str, Any], changes: Mapping[str, object]) -> dict[str, object]:
    """``current`` with ``changes`` applied (a ``policies`` change merges per category)."""
    result: dict[str, object] = dict(current)
    for key, value in changes.items():
        if key == "policies" and isinstance(value, dict) and isinstance(result.get(key), dict):
            policies = dict(result[key])  # type: ignore[call-overload]
            policies.update(value)
            result[key] = {k: v for k, v in policies.items() if v not in (None, _INHERIT)}
        else:
            result[key] = value
    return result
