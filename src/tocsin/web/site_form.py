"""Between the users and alarm-groups forms and the sites service's dictionary form.

The face only translates: a checkbox per group or category into a list, an empty
number into "no limit", and the service's field paths (``policies.fire.max_per_hour``,
``categories[0]``) back to the form field that shows the error.  Every rule (a valid
address, a tree without cycles, a group still in use) is the service's
(:mod:`tocsin.services.sites`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from tocsin.i18n import translate
from tocsin.model import ROOT_POLICY, AlarmGroup, Category, CategoryPolicy, User
from tocsin.routing import GroupTree, effective_policy
from tocsin.services.inputs import InputRefused
from tocsin.web.forms import Form
from tocsin.web.quiet_form import quiet_payload, quiet_rows, quiet_values_from_form

__all__ = [
    "CATEGORIES",
    "PolicySource",
    "errors_by_field",
    "group_payload",
    "group_values",
    "group_values_from_form",
    "policy_source",
    "user_payload",
    "user_values",
    "user_values_from_form",
]

CATEGORIES: Final = tuple(c.value for c in Category)
OTHER: Final = "_form"  # an error no field of the form shows
_SPLIT: Final = re.compile(r"[.\[]")
_ACK_CHOICE: Final = {None: "inherit", True: "yes", False: "no"}
_ACKS: Final = ("inherit", "yes", "no")
_WINDOW: Final = re.compile(r"quiet_hours\[(\d+)\]")


# ---------------------------------------------------------------------- users
def user_values(user: User | None, *, zone: str = "UTC") -> dict[str, Any]:
    """What the user form shows for ``user`` (None: a new user, every category off,
    in the site's time zone ``zone``)."""
    if user is None:
        return {
            "id": "",
            "name": "",
            "email": "",
            "language": "en",
            "time_zone": zone,
            "enabled": True,
            "groups": [],
            "categories": [],
            "quiet": quiet_rows(None),
        }
    return {
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "language": str(user.language),
        "time_zone": user.time_zone,
        "enabled": user.enabled,
        "groups": sorted(user.group_ids),
        "categories": [c.value for c in Category if c in user.email_categories],
        "quiet": quiet_rows(user),
    }


def user_values_from_form(form: Form) -> dict[str, Any]:
    """What the user typed, in the shape of :func:`user_values` (shown again on error).

    A ticked box sends its group (``groups=<id>``) or category (``categories=<name>``).
    """
    return {
        "id": form.get("id", "").strip(),
        "name": form.get("name", "").strip(),
        "email": form.get("email", "").strip(),
        "language": form.get("language", ""),
        "time_zone": form.get("time_zone", "").strip(),
        "enabled": form.get("enabled") == "on",
        "groups": sorted(set(form.every("groups"))),
        "categories": [c for c in CATEGORIES if c in form.every("categories")],
        "quiet": quiet_values_from_form(form),
    }


def user_payload(values: dict[str, Any], *, with_id: bool) -> dict[str, object]:
    """The service's dictionary form of a user (``with_id``: for adding)."""
    payload: dict[str, object] = {
        "name": values["name"],
        "email": values["email"],
        "language": values["language"],
        "enabled": values["enabled"],
        "groups": list(values["groups"]),
        "categories": list(values["categories"]),
        "quiet_hours": quiet_payload(values["quiet"]),
    }
    if values["time_zone"]:
        payload["time_zone"] = values["time_zone"]
    if with_id:
        payload["id"] = values["id"]
    return payload


# ---------------------------------------------------------------------- groups
def group_values(group: AlarmGroup | None, *, parent: str = "") -> dict[str, Any]:
    """What the group form shows for ``group`` (None: a new group under ``parent``)."""
    policies: dict[str, dict[str, Any]] = {}
    for category in Category:
        own = group.settings.own(category) if group is not None else None
        shown = own or ROOT_POLICY
        policies[category.value] = {
            "mode": "own" if own is not None else "inherit",
            "warnings": shown.email_warnings,
            "cap": "" if shown.max_per_hour is None else str(shown.max_per_hour),
        }
    return {
        "id": group.id if group is not None else "",
        "name": group.name if group is not None else "",
        "parent": (group.parent_id or "") if group is not None else parent,
        "policies": policies,
        "ack_warnings": _ACK_CHOICE[group.ack_warnings if group is not None else None],
    }


def group_values_from_form(form: dict[str, str]) -> dict[str, Any]:
    """What the admin typed, in the shape of :func:`group_values`."""
    return {
        "id": form.get("id", "").strip(),
        "name": form.get("name", "").strip(),
        "parent": form.get("parent", ""),
        "ack_warnings": form.get("ack_warnings")
        if form.get("ack_warnings") in _ACKS
        else "inherit",
        "policies": {
            c: {
                "mode": "own" if form.get(f"mode_{c}") == "own" else "inherit",
                "warnings": form.get(f"warnings_{c}") == "on",
                "cap": form.get(f"cap_{c}", "").strip(),
            }
            for c in CATEGORIES
        },
    }


def _cap(text: str) -> object:
    """An empty field is "no limit"; a non-number goes on as text for the service to name."""
    if not text:
        return None
    return int(text) if text.isascii() and text.isdigit() else text


def group_payload(values: dict[str, Any], *, with_id: bool) -> dict[str, object]:
    """The service's dictionary form of a group (``"inherit"`` drops an override)."""
    policies: dict[str, object] = {}
    for category, policy in values["policies"].items():
        if policy["mode"] == "own":
            policies[category] = {
                "email_warnings": policy["warnings"],
                "max_per_hour": _cap(policy["cap"]),
            }
        else:
            policies[category] = "inherit"
    payload: dict[str, object] = {
        "name": values["name"],
        "parent": values["parent"] or None,
        "policies": policies,
        "ack_warnings": {"yes": True, "no": False}.get(values["ack_warnings"], "inherit"),
    }
    if with_id:
        payload["id"] = values["id"]
    return payload


@dataclass(frozen=True, slots=True)
class PolicySource:
    """The policy in force for a category and the group that sets it (None: the default)."""

    group_id: str | None
    policy: CategoryPolicy


def policy_source(tree: GroupTree, group_id: str | None, category: Category) -> PolicySource:
    """Where ``category``'s policy for ``group_id`` comes from, walking up its lineage.

    The value is :func:`tocsin.routing.effective_policy`'s; this only names the
    nearest group (itself or an ancestor) with its own setting, for display.
    ``group_id`` None (a top-level group inheriting) gives the built-in default.
    """
    if group_id is None or group_id not in tree:
        return PolicySource(None, ROOT_POLICY)
    policy = effective_policy(tree, group_id, category)
    for ancestor in tree.lineage(group_id):
        if tree.group(ancestor).settings.own(category) is not None:
            return PolicySource(ancestor, policy)
    return PolicySource(None, policy)


# ---------------------------------------------------------------------- errors
def _form_key(field: str) -> str:
    if field.startswith("policies."):
        return "policy_" + field.split(".")[1]
    return _SPLIT.split(field, maxsplit=1)[0] or OTHER


def errors_by_field(
    exc: InputRefused, language: str, known: tuple[str, ...]
) -> dict[str, list[str]]:
    """The refusal's texts per form field; a field not in ``known`` goes under ``_form``."""
    errors: dict[str, list[str]] = {}
    for found in exc.issues:
        key, text = _form_key(found.field), found.text(language)
        window = _WINDOW.match(found.field)
        if window is not None:  # which row: numbered among the rows sent
            text = f"{translate('quiet_window_n', language, n=int(window[1]) + 1)} {text}"
        if key not in known:
            key, text = OTHER, f"{found.field}: {text}" if found.field else text
        errors.setdefault(key, []).append(text)
    return errors
