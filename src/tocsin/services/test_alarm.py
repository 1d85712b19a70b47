"""A test alarm to one user: the real alarm email, routed and queued like any alarm.

An admin proves one person's whole path with it: the user's groups and categories
(checked by :func:`tocsin.routing.route`, whose reason is reported when it would not
reach them), the alarm template in the user's language and time zone, the outbox, the
transport, the mailbox.  The event is stored like any other (the events page and the
delivery log list it) but closed at once, and it does not count against the hourly cap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from tocsin.i18n import translate
from tocsin.model import Category, Event, Severity, State, User, new_id
from tocsin.routing import GroupTree, RoutingReason
from tocsin.services.inputs import InputRefused
from tocsin.validation import Issue, Level

__all__ = [
    "TEST_ALARM_REFUSALS",
    "QueuedTestAlarm",
    "probe_event",
    "reason_refusal",
    "refusal",
    "target_of",
]

_REFUSALS = {
    RoutingReason.NOT_ASSIGNED: "test_alarm_no_group",
    RoutingReason.DISABLED: "test_alarm_disabled",
    RoutingReason.CATEGORY_OFF: "test_alarm_no_category",
    RoutingReason.HOURLY_CAP: "test_alarm_held",
    RoutingReason.QUIET_HOURS: "test_alarm_quiet",
}

TEST_ALARM_REFUSALS: Final = frozenset(
    {*_REFUSALS.values(), "test_alarm_no_sender", "test_alarm_email_off", "test_alarm_not_queued"}
)
"""Every code a test alarm may be refused with (each a text with ``{name}``, ``{group}``)."""


@dataclass(frozen=True, slots=True)
class QueuedTestAlarm:
    """What was queued: the stored event, the email's outbox id, to whom."""

    event_id: str
    outbox_id: int
    user_id: str
    email: str
    group_id: str
    category: Category

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready form (API, CLI ``--json``)."""
        return {
            "event": self.event_id,
            "outbox_id": self.outbox_id,
            "user": self.user_id,
            "email": self.email,
            "group": self.group_id,
            "category": self.category.value,
        }


def refusal(code: str, user: User, **params: object) -> InputRefused:
    """The one-sentence refusal ``code`` about ``user``."""
    values = {"name": user.name or user.id, "group": "", **{k: str(v) for k, v in params.items()}}
    return InputRefused([Issue("user", code, Level.ERROR, values)])


def reason_refusal(reason: RoutingReason, user: User, group: str) -> InputRefused:
    """Why routing would not email ``user`` a real alarm, as a refusal."""
    return refusal(_REFUSALS.get(reason, "test_alarm_no_category"), user, group=group)


def target_of(user: User, tree: GroupTree) -> tuple[str, Category]:
    """The group and category of the user's test alarm: their first group (in site
    order of paths) and the first category they get email for, ``system`` last.

    Raises :class:`InputRefused` when the user is disabled, in no group or gets no email.
    """
    if not user.enabled:
        raise refusal("test_alarm_disabled", user)
    groups = sorted((tree.path(g), g) for g in user.group_ids if g in tree)
    if not groups:
        raise refusal("test_alarm_no_group", user)
    order = [c for c in Category if c is not Category.SYSTEM] + [Category.SYSTEM]
    wanted = [c for c in order if user.wants_email(c)]
    if not wanted:
        raise refusal("test_alarm_no_category", user)
    return groups[0][1], wanted[0]


def probe_event(user: User, group_id: str, category: Category, now: float) -> Event:
    """The test alarm, its texts in the user's language."""
    language = str(user.language)
    return Event(
        id=new_id(),
        group_id=group_id,
        device=translate("test_alarm_device", language),
        sensor=translate("test_alarm_sensor", language),
        category=category,
        severity=Severity.ALARM,
        state=State.RAISED,
        occurred_at=datetime.fromtimestamp(now, UTC),
        text=translate("test_alarm_text", language, name=user.name or user.id),
    )
