"""Builders for the routing and alarm-email tests: a three-level tree, users, events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tocsin.model import (
    AlarmGroup,
    Category,
    CategoryPolicy,
    Event,
    GroupSettings,
    Language,
    Severity,
    State,
    User,
    new_id,
)
from tocsin.routing import GroupTree, build_tree

T0 = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
ALL = frozenset(Category)

# The middle level overrides `always`: alarms only, at most 3 per hour.
MIDDLE_OVERRIDE = CategoryPolicy(email_warnings=False, max_per_hour=3)
# A room below it overrides `always` again: warnings back on, no cap.
ROOM_OVERRIDE = CategoryPolicy(email_warnings=True, max_per_hour=None)


def three_level_tree() -> GroupTree:
    """site → building-a (override) → server-room, lab (override); site → building-b → office."""
    return build_tree(
        [
            AlarmGroup(id="site", name="Site"),
            AlarmGroup(
                id="building-a",
                name="Building A",
                parent_id="site",
                settings=GroupSettings(always=MIDDLE_OVERRIDE),
            ),
            AlarmGroup(id="server-room", name="Server room", parent_id="building-a"),
            AlarmGroup(
                id="lab",
                name="Lab",
                parent_id="building-a",
                settings=GroupSettings(always=ROOM_OVERRIDE),
            ),
            AlarmGroup(id="building-b", name="Building B", parent_id="site"),
            AlarmGroup(id="office", name="Office", parent_id="building-b"),
        ]
    )


def two_level_tree() -> GroupTree:
    """Building A → Server room: the subject example of the issue."""
    return build_tree(
        [
            AlarmGroup(id="building-a", name="Building A"),
            AlarmGroup(id="server-room", name="Server room", parent_id="building-a"),
        ]
    )


def make_user(user_id: str, *groups: str, **overrides: Any) -> User:
    """A user with email on for every category, assigned to ``groups``."""
    fields: dict[str, Any] = {
        "id": user_id,
        "name": user_id.title(),
        "email": f"{user_id}@example.com",
        "group_ids": frozenset(groups),
        "email_categories": ALL,
        "language": Language.EN,
        "time_zone": "UTC",
    }
    fields.update(overrides)
    return User(**fields)


def make_event(**overrides: Any) -> Event:
    """A raised fire alarm in the server room, unless told otherwise."""
    fields: dict[str, Any] = {
        "id": new_id(T0),
        "group_id": "server-room",
        "device": "Smoke detector 2",
        "sensor": "",
        "category": Category.FIRE,
        "severity": Severity.ALARM,
        "state": State.RAISED,
        "occurred_at": T0,
    }
    fields.update(overrides)
    return Event(**fields)


def clear_of(raised: Event, *, minutes: int = 10) -> Event:
    """The cleared event that ends ``raised``."""
    return make_event(
        id=new_id(raised.occurred_at + timedelta(minutes=minutes)),
        group_id=raised.group_id,
        device=raised.device,
        sensor=raised.sensor,
        category=raised.category,
        severity=raised.severity,
        state=State.CLEARED,
        occurred_at=raised.occurred_at + timedelta(minutes=minutes),
        clears=raised.id,
    )
