"""From a policy to the timer rows the store keeps, and when a timer still applies.

A raised alarm in a group with an escalation policy gets all its timers at once,
each with the time it is due: one per step (kind ``step``) and one per reminder
(kind ``remind``).  The rows name their recipients (step users) so a later change
of the policy does not change an escalation under way.  A worker fires a due
timer, in one transaction with the emails it enqueues, only while the alarm is
open and unacknowledged; otherwise the timer is cancelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from tocsin.escalation.policy import EscalationPolicy
from tocsin.model import Event, Severity, State

__all__ = [
    "EscalationState",
    "Timer",
    "TimerKind",
    "TimerState",
    "applies",
    "escalation_state",
    "plan_timers",
]


class TimerKind(StrEnum):
    """A step of the policy, or a reminder to those told."""

    STEP = "step"
    REMIND = "remind"


class TimerState(StrEnum):
    """``pending`` until due; then ``fired`` or ``cancelled`` (acknowledged, cleared)."""

    PENDING = "pending"
    FIRED = "fired"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Timer:
    """One scheduled row: ``seq`` orders an event's timers (and is its key with the event)."""

    event_id: str
    seq: int
    kind: TimerKind
    number: int  # the step (1-based) or the reminder (1-based)
    due_at: float
    minutes: int  # minutes after the alarm, for the email's words
    user_ids: tuple[str, ...] = ()
    state: TimerState = TimerState.PENDING
    fired_at: float | None = None


def applies(policy: EscalationPolicy, event: Event) -> bool:
    """True when ``policy`` escalates ``event``: a raised alarm (never a warning) of one of
    its categories."""
    return (
        not policy.off
        and event.state is State.RAISED
        and event.severity is Severity.ALARM
        and event.category in policy.categories
    )


def plan_timers(policy: EscalationPolicy, event: Event, raised_at: float) -> list[Timer]:
    """The timers of ``event`` raised at ``raised_at`` (empty when the policy does not apply),
    in the order they fall due."""
    if not applies(policy, event):
        return []
    found: list[tuple[float, TimerKind, int, int, tuple[str, ...]]] = []
    for number, step in enumerate(policy.steps, start=1):
        at = raised_at + 60.0 * step.after_minutes
        found.append((at, TimerKind.STEP, number, step.after_minutes, step.user_ids))
    if policy.remind_every is not None:
        for number in range(1, policy.remind_max + 1):
            minutes = policy.remind_every * number
            found.append((raised_at + 60.0 * minutes, TimerKind.REMIND, number, minutes, ()))
    found.sort(key=lambda t: (t[0], t[1] != TimerKind.STEP, t[2]))
    return [
        Timer(event.id, seq, kind, number, at, minutes, users)
        for seq, (at, kind, number, minutes, users) in enumerate(found)
    ]


@dataclass(frozen=True, slots=True)
class EscalationState:
    """An alarm's escalation for the events page and API."""

    steps_done: int
    steps_total: int
    reminders_done: int
    reminders_total: int
    next_due_at: float | None
    stopped: bool

    def as_dict(self) -> dict[str, object]:
        """As JSON."""
        due = self.next_due_at
        return {
            "steps_done": self.steps_done,
            "steps_total": self.steps_total,
            "reminders_done": self.reminders_done,
            "reminders_total": self.reminders_total,
            "next_due_at": None
            if due is None
            else datetime.fromtimestamp(due, UTC).isoformat().replace("+00:00", "Z"),
            "stopped": self.stopped,
        }


def escalation_state(timers: Sequence[Timer]) -> EscalationState:
    steps = [t for t in timers if t.kind is TimerKind.STEP]
    reminders = [t for t in timers if t.kind is TimerKind.REMIND]
    """The escalation of one alarm from its timers (for the events page and API)."""
    pending = [t.due_at for t in timers if t.state is TimerState.PENDING]
    return EscalationState(
        steps_done=sum(t.state is TimerState.FIRED for t in steps),
        steps_total=len(steps),
        reminders_done=sum(t.state is TimerState.FIRED for t in reminders),
        reminders_total=len(reminders),
        next_due_at=min(pending) if pending else None,
        stopped=any(t.state is TimerState.CANCELLED for t in timers),
    )
