"""A group's escalation policy and its inheritance down the alarm-group tree.

A policy says, for the categories it names, who else is emailed when nobody
acknowledges an alarm: step 0 is the normal routing (the group's users); each
:class:`EscalationStep` adds users after its number of minutes.  Optionally the
users already told are reminded every ``remind_every`` minutes, at most
``remind_max`` times.  Warnings never escalate.

Inheritance works like the category settings: the nearest group walking up from
the event's group that has a policy of its own decides; a policy with no
categories switches escalation off below it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from tocsin.errors import ConfigError
from tocsin.i18n import translate
from tocsin.model import Category
from tocsin.routing import GroupTree
from tocsin.validation import Issue, Level

__all__ = [
    "MAX_MINUTES",
    "MAX_REMINDERS",
    "MAX_STEPS",
    "EscalationPolicy",
    "EscalationStep",
    "PolicyError",
    "effective_escalation",
    "policy_from_dict",
    "policy_to_dict",
]

MAX_STEPS: Final = 10
MAX_MINUTES: Final = 10_080  # a week
MAX_REMINDERS: Final = 20
MAX_USERS_PER_STEP: Final = 50


class PolicyError(ConfigError, ValueError):
    """An escalation policy that cannot be used; ``code`` and ``field`` say why and where."""

    def __init__(self, code: str, field: str, **params: object) -> None:
        texts = {"name": field, **{k: str(v) for k, v in params.items()}}
        issue = Issue(field=field, code=code, level=Level.ERROR, params=texts)
        super().__init__(translate(code, "en", **texts), issues=(issue,))
        self.code = code
        self.field = field


def _minutes(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_MINUTES:
        raise PolicyError("escalation_minutes", field, max=MAX_MINUTES, value=repr(value)[:40])
    return value


@dataclass(frozen=True, slots=True)
class EscalationStep:
    """Email ``user_ids`` when the alarm is still unacknowledged ``after_minutes`` after it."""

    after_minutes: int
    user_ids: tuple[str, ...]

    def __post_init__(self) -> None:
        _minutes(self.after_minutes, "after_minutes")
        if not self.user_ids:
            raise PolicyError("escalation_no_users", "users")
        if len(self.user_ids) > MAX_USERS_PER_STEP or len(set(self.user_ids)) != len(self.user_ids):
            raise PolicyError("escalation_users", "users", max=MAX_USERS_PER_STEP)


@dataclass(frozen=True, slots=True)
class EscalationPolicy:
    """A group's own escalation policy (see the module text).

    Raises :class:`PolicyError` for steps out of order, too many steps, or a
    reminder setting out of range.
    """

    categories: frozenset[Category] = frozenset()
    steps: tuple[EscalationStep, ...] = ()
    remind_every: int | None = None
    remind_max: int = 0

    def __post_init__(self) -> None:
        if len(self.steps) > MAX_STEPS:
            raise PolicyError("escalation_steps", "steps", max=MAX_STEPS)
        times = [s.after_minutes for s in self.steps]
        if times != sorted(set(times)):
            raise PolicyError("escalation_order", "steps")
        if self.remind_every is None:
            if self.remind_max:
                raise PolicyError("escalation_remind_every", "remind_every")
            return
        _minutes(self.remind_every, "remind_every")
        max_ = self.remind_max
        if isinstance(max_, bool) or not isinstance(max_, int) or not 1 <= max_ <= MAX_REMINDERS:
            raise PolicyError("escalation_remind", "remind_max", max=MAX_REMINDERS)

    @property
    def off(self) -> bool:
        """True when this policy escalates nothing (it still stops inheritance)."""
        return not self.categories or (not self.steps and self.remind_every is None)

    def users(self) -> frozenset[str]:
        """Every user a step names."""
        return frozenset(u for s in self.steps for u in s.user_ids)


def effective_escalation(
    tree: GroupTree, policies: Mapping[str, EscalationPolicy], group_id: str
) -> tuple[str, EscalationPolicy] | None:
    """The (group id, policy) that applies in ``group_id``: the nearest own one walking up.

    ``None`` when neither the group nor an ancestor has one.  Raises
    :class:`~tocsin.routing.UnknownGroup`.
    """
    for ancestor in tree.lineage(group_id):
        policy = policies.get(ancestor)
        if policy is not None:
            return ancestor, policy
    return None


def policy_to_dict(policy: EscalationPolicy) -> dict[str, object]:
    """The policy as plain data (store, API, site YAML)."""
    return {
        "categories": [c.value for c in Category if c in policy.categories],
        "steps": [
            {"after_minutes": s.after_minutes, "users": list(s.user_ids)} for s in policy.steps
        ],
        "remind_every": policy.remind_every,
        "remind_max": policy.remind_max,
    }


def _category(value: object) -> Category:
    try:
        return Category(str(value))
    except ValueError:
        choices = ", ".join(c.value for c in Category)
        raise PolicyError(
            "escalation_category", "categories", value=str(value)[:40], choices=choices
        ) from None


def _step(index: int, raw: object) -> EscalationStep:
    if not isinstance(raw, Mapping) or set(raw) - {"after_minutes", "users"}:
        raise PolicyError("escalation_step", f"steps[{index}]")
    users = raw.get("users", [])
    if not isinstance(users, list) or not all(isinstance(u, str) for u in users):
        raise PolicyError("escalation_users", f"steps[{index}].users", max=MAX_USERS_PER_STEP)
    return EscalationStep(raw.get("after_minutes"), tuple(users))  # type: ignore[arg-type]


def policy_from_dict(raw: object) -> EscalationPolicy:
    """Read a policy written by :func:`policy_to_dict`; raises :class:`PolicyError`."""
    known = {"categories", "steps", "remind_every", "remind_max"}
    if not isinstance(raw, Mapping) or set(raw) - known:
        raise PolicyError("escalation_shape", "")
    categories = raw.get("categories", [])
    steps = raw.get("steps", [])
    if not isinstance(categories, list) or not isinstance(steps, list):
        raise PolicyError("escalation_shape", "")
    return EscalationPolicy(
        categories=frozenset(_category(c) for c in categories),
        steps=tuple(_step(i, s) for i, s in enumerate(steps)),
        remind_every=raw.get("remind_every"),
        remind_max=raw.get("remind_max", 0) or 0,
    )
