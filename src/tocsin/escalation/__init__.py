"""Escalation of unacknowledged alarms: the policy model, its inheritance and the timers.

Pure (no I/O): :mod:`tocsin.escalation.policy` holds the per-group policy, its
validation and the "nearest ancestor's policy wins" inheritance;
:mod:`tocsin.escalation.timers` turns a policy into the scheduled rows the store
keeps, so a restart or a second worker never loses or repeats a step.
"""

from tocsin.escalation.policy import (
    MAX_MINUTES,
    MAX_REMINDERS,
    MAX_STEPS,
    EscalationPolicy,
    EscalationStep,
    PolicyError,
    effective_escalation,
    policy_from_dict,
    policy_to_dict,
)
from tocsin.escalation.timers import (
    EscalationState,
    Timer,
    TimerKind,
    TimerState,
    applies,
    escalation_state,
    plan_timers,
)

__all__ = [
    "MAX_MINUTES",
    "MAX_REMINDERS",
    "MAX_STEPS",
    "EscalationPolicy",
    "EscalationState",
    "EscalationStep",
    "PolicyError",
    "Timer",
    "TimerKind",
    "TimerState",
    "applies",
    "effective_escalation",
    "escalation_state",
    "plan_timers",
    "policy_from_dict",
    "policy_to_dict",
]
