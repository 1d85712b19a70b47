"""Planning and stopping an alarm's escalation timers, inside the caller's transaction.

Apart from :mod:`tocsin.services.escalation` so the intake can call it without an
import cycle (escalation firing uses the intake's priorities).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from tocsin.escalation import (
    EscalationPolicy,
    Timer,
    TimerKind,
    effective_escalation,
    plan_timers,
)
from tocsin.model import Event
from tocsin.routing import GroupTree
from tocsin.store import EscalationSQL
from tocsin.store.runner import Runner

__all__ = ["cancel_escalation", "plan_escalation", "skip_quiet_step"]


def plan_escalation(
    event: Event,
    tree: GroupTree,
    now: float,
    policies: Mapping[str, EscalationPolicy],
    *,
    all_quiet: bool = False,
) -> list[Timer]:
    """The timers of the raised alarm ``event``, to store with it (``EscalationSQL.schedule``).

    ``policies``: the groups' own policies (the cached site's).  ``all_quiet``: nobody
    was emailed because everyone routing chose is in quiet hours; the first step not
    yet due is then due at once instead of after its minutes.
    Empty when no policy applies (a warning, a clear, another category).
    """
    if event.cleared or event.group_id not in tree:
        return []
    found = effective_escalation(tree, policies, event.group_id)
    if found is None:
        return []
    timers = plan_timers(found[1], event, now)
    if all_quiet:
        step = next((t for t in timers if t.kind is TimerKind.STEP and t.due_at > now), None)
        if step is not None:
            timers[timers.index(step)] = dataclasses.replace(step, due_at=now)
    return timers


def skip_quiet_step(runner: Runner, event_id: str, seq: int, now: float) -> bool:
    """Everyone of step ``seq`` is in quiet hours: the next step is due at once."""
    return EscalationSQL(runner).bring_forward(event_id, after_seq=seq, now=now)


def cancel_escalation(runner: Runner, event_ids: Sequence[str], now: float) -> int:
    """Stop the escalation of these events (acknowledged or cleared); pending timers only."""
    return EscalationSQL(runner).cancel(event_ids, now=now)
