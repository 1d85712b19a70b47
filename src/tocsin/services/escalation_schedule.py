"""Writing and stopping an alarm's escalation timers, inside the caller's transaction.

Apart from :mod:`tocsin.services.escalation` so the intake can call it without an
import cycle (escalation firing uses the intake's priorities).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tocsin.escalation import EscalationPolicy, effective_escalation, plan_timers
from tocsin.model import Event
from tocsin.routing import GroupTree
from tocsin.store import EscalationSQL
from tocsin.store.runner import Runner

__all__ = ["cancel_escalation", "schedule_escalation", "skip_quiet_step"]


def schedule_escalation(
    runner: Runner,
    event: Event,
    tree: GroupTree,
    now: float,
    *,
    all_quiet: bool = False,
    policies: Mapping[str, EscalationPolicy] | None = None,
) -> int:
    """Write the timers of the raised alarm ``event`` (stored in this transaction).

    ``all_quiet``: nobody was emailed because everyone routing chose is in quiet
    hours; the first step is then due at once instead of after its minutes.
    ``policies``: the groups' own policies as read in this transaction (read here if
    not given: a request of many events reads them once).
    Returns how many; 0 when no policy applies (a warning, a clear, another category).
    """
    if event.cleared or event.group_id not in tree:
        return 0
    sql = EscalationSQL(runner)
    own = sql.policies() if policies is None else policies
    found = effective_escalation(tree, own, event.group_id)
    if found is None:
        return 0
    added = sql.schedule(plan_timers(found[1], event, now))
    if added and all_quiet:
        sql.bring_forward(event.id, after_seq=-1, now=now)
    return added


def skip_quiet_step(runner: Runner, event_id: str, seq: int, now: float) -> bool:
    """Everyone of step ``seq`` is in quiet hours: the next step is due at once."""
    return EscalationSQL(runner).bring_forward(event_id, after_seq=seq, now=now)


def cancel_escalation(runner: Runner, event_ids: Sequence[str], now: float) -> int:
    """Stop the escalation of these events (acknowledged or cleared); pending timers only."""
    return EscalationSQL(runner).cancel(event_ids, now=now)
