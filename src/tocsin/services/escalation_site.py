"""The escalation policies as part of the site's dictionary form (site YAML, group API).

A group's dictionary may carry ``escalation``: its own policy (see
:func:`tocsin.escalation.policy_to_dict`), ``null`` / ``"inherit"`` for none.  The
policies live in their own table; these helpers read and write them in the site's
transaction, so a refused site file changes neither groups nor policies.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Final

from tocsin.escalation import (
    EscalationPolicy,
    PolicyError,
    effective_escalation,
    policy_from_dict,
    policy_to_dict,
)
from tocsin.routing import GroupTree
from tocsin.services.inputs import InputRefused, issue
from tocsin.store import EscalationSQL
from tocsin.store.runner import Runner
from tocsin.validation import Issue

__all__ = [
    "ESCALATION",
    "escalation_of",
    "export_escalations",
    "group_escalation_fields",
    "import_escalations",
    "parse_escalation",
    "site_escalations",
    "unknown_users",
    "write_group_escalation",
]

ESCALATION: Final = "escalation"
_INHERIT: Final = "inherit"


def parse_escalation(raw: object, prefix: str, issues: list[Issue]) -> EscalationPolicy | None:
    """The policy in ``raw`` (``None``: inherit); a problem goes into ``issues``."""
    if raw is None or raw == _INHERIT:
        return None
    try:
        return policy_from_dict(raw)
    except PolicyError as exc:
        for found in exc.issues:
            inner = f".{found.field}" if found.field else ""
            field = f"{prefix}{ESCALATION}{inner}"
            issues.append(issue(field, found.code, **found.params))
        return None


def site_escalations(data: object, issues: list[Issue]) -> dict[str, EscalationPolicy | None]:
    """Per group id in a site's dictionary that has the key: its policy or ``None``."""
    found: dict[str, EscalationPolicy | None] = {}
    groups = data.get("groups") if isinstance(data, Mapping) else None
    if not isinstance(groups, list):
        return found
    for index, group in enumerate(groups):
        if isinstance(group, Mapping) and ESCALATION in group:
            policy = parse_escalation(group[ESCALATION], f"groups[{index}].", issues)
            found[str(group.get("id"))] = policy
    return found


def unknown_users(
    policies: Mapping[str, EscalationPolicy | None], users: Collection[str], prefix: str = ""
) -> list[Issue]:
    """An issue per policy naming a user not in ``users``."""
    problems: list[Issue] = []
    for group_id, policy in policies.items():
        missing = sorted(policy.users() - set(users)) if policy else []
        if missing:
            problems.append(
                issue(
                    f"{prefix}{group_id}.{ESCALATION}", "escalation_unknown_user", user=missing[0]
                )
            )
    return problems


def escalation_of(runner: Runner, group_id: str) -> dict[str, Any] | None:
    """The group's own policy in its dictionary form (``None``: it inherits)."""
    policy = EscalationSQL(runner).policies().get(group_id)
    return None if policy is None else policy_to_dict(policy)


def group_escalation_fields(runner: Runner, tree: GroupTree, group_id: str) -> dict[str, Any]:
    """``escalation`` (own) and ``effective_escalation`` (with ``from``: the group it
    comes from) for a group's dictionary."""
    policies = EscalationSQL(runner).policies()
    found = effective_escalation(tree, policies, group_id)
    own = policies.get(group_id)
    effective = None if found is None else {"from": found[0], **policy_to_dict(found[1])}
    return {
        ESCALATION: None if own is None else policy_to_dict(own),
        "effective_escalation": effective,
    }


def write_group_escalation(
    runner: Runner, group_id: str, data: Mapping[str, object], user_ids: Collection[str], now: float
) -> None:
    """Apply ``data[ESCALATION]`` to ``group_id`` if given; raises :class:`InputRefused`."""
    if ESCALATION not in data:
        return
    issues: list[Issue] = []
    policy = parse_escalation(data[ESCALATION], "", issues)
    issues += unknown_users({group_id: policy}, user_ids) if not issues else []
    if issues:
        raise InputRefused([_plain(i, group_id) for i in issues])
    EscalationSQL(runner).set_policy(group_id, policy, now=now)


def _plain(found: Issue, group_id: str) -> Issue:
    field = found.field.removeprefix(f"{group_id}.")
    return issue(field, found.code, **found.params)


def export_escalations(runner: Runner, groups: list[dict[str, Any]]) -> None:
    """Add each group's own policy to the exported ``groups`` (those that have one)."""
    policies = EscalationSQL(runner).policies()
    for group in groups:
        policy = policies.get(str(group.get("id")))
        if policy is not None:
            group[ESCALATION] = policy_to_dict(policy)


def import_escalations(
    runner: Runner,
    policies: Mapping[str, EscalationPolicy | None],
    group_ids: Collection[str],
    *,
    replace: bool,
    now: float,
) -> None:
    """Write the imported policies; with ``replace`` the file's policies are all there are."""
    sql = EscalationSQL(runner)
    if replace:
        sql.replace_policies({g: p for g, p in policies.items() if p is not None}, now=now)
        return
    for group_id, policy in policies.items():
        if group_id in group_ids:
            sql.set_policy(group_id, policy, now=now)
