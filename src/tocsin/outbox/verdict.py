"""From what the transport said to what the outbox records: pure decisions, tested directly.

- accepted (250 to DATA)            → sent, with the server's reply (its queue id)
- temporary (4xx, timeout, drop)    → queued again after a back-off, or dead when too old
- permanent for one recipient (5xx) → failed at once, with the reason
- the settings are wrong            → nothing spent: the deliveries go back to the queue
                                      and the engine pauses (see :mod:`.gate`)
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field

from tocsin.errors import AuthFailed, ConfigurationProblem, DeliveryError, Reason, Step
from tocsin.outbox.backoff import RetryPolicy
from tocsin.outbox.model import ClaimedDelivery, ClaimedEmail, DeliveryUpdate, Status
from tocsin.transports.base import DeliveryResult, Outcome, RecipientResult

__all__ = ["INTERNAL_ERROR", "Verdict", "judge_error", "judge_result"]

INTERNAL_ERROR = "internal_error"
"""Reason recorded when the transport failed in a way it did not classify (a bug)."""


@dataclass(slots=True)
class Verdict:
    """The updates to record for one send, and whether delivery must pause."""

    updates: list[DeliveryUpdate] = field(default_factory=list)
    pause: ConfigurationProblem | None = None

    def failures(self) -> list[DeliveryUpdate]:
        """The updates that are not a success (for the failure metric)."""
        return [u for u in self.updates if u.status is not Status.SENT]


class _Spread:
    """The send's one random retry factor (:meth:`RetryPolicy.spread`), drawn when a
    retry first needs it: a send that went out spends no random number."""

    __slots__ = ("_policy", "_rng", "_value")

    def __init__(self, policy: RetryPolicy, rng: random.Random | None) -> None:
        self._policy, self._rng, self._value = policy, rng, -1.0

    def __call__(self) -> float:
        if self._value < 0:
            self._value = self._policy.spread(self._rng)
        return self._value


def _temporary(
    d: ClaimedDelivery,
    *,
    now: float,
    policy: RetryPolicy,
    spread: _Spread,
    step: str,
    reason: str,
    error: str,
    code: int | None,
    link: str,
) -> DeliveryUpdate:
    later = policy.next_attempt(
        attempts=d.attempts + 1, queued_at=d.queued_at, now=now, spread=spread()
    )
    if later is None:
        hours = policy.max_age / 3600
        error = f"{error} — given up after {d.attempts + 1} attempts in {hours:g} h"
        return DeliveryUpdate(d.id, Status.DEAD, None, True, step, reason, error, code, link=link)
    return DeliveryUpdate(d.id, Status.QUEUED, later, True, step, reason, error, code, link=link)


def _held(d: ClaimedDelivery, error: DeliveryError, now: float, link: str) -> DeliveryUpdate:
    """Back to the queue, due now, no attempt spent: the settings were at fault."""
    return DeliveryUpdate(
        d.id,
        Status.QUEUED,
        now,
        False,
        error.step.value,
        error.reason.value,
        str(error),
        error.code,
        link=link,
    )


def _recipient_text(r: RecipientResult) -> str:
    where = r.step.value if r.step else "send"
    said = f"{r.code} {r.server_message}".strip() if r.code is not None else r.server_message
    return f"{where}: {said or 'refused'}"


def judge_result(
    email: ClaimedEmail,
    result: DeliveryResult,
    *,
    now: float,
    policy: RetryPolicy,
    rng: random.Random | None = None,
    link: str = "",
) -> Verdict:
    """The verdict for a send that returned per-recipient outcomes, carried by the
    failover chain's ``link``."""
    verdict = Verdict()
    spread = _Spread(policy, rng)
    for d in email.deliveries:
        try:
            r = result.for_recipient(d.recipient)
        except KeyError:
            r = RecipientResult(d.recipient, Outcome.TEMPORARY, Reason.DISCONNECTED)
        step = r.step.value if r.step else ""
        reason = r.reason.value if r.reason else ""
        if r.outcome is Outcome.ACCEPTED:
            reply = result.server_reply or f"{r.code or ''} {r.server_message}".strip()
            verdict.updates.append(
                DeliveryUpdate(
                    d.id,
                    Status.SENT,
                    step=Step.DATA.value,
                    code=r.code,
                    server_reply=reply,
                    tracking_id=result.tracking_id,
                    link=link,
                )
            )
        elif r.reason is Reason.AUTH_REQUIRED:
            # 530 at RCPT: the server wants a login we do not give; a settings problem.
            problem = AuthFailed(
                "the server requires authentication",
                step=r.step or Step.RCPT_TO,
                reason=Reason.AUTH_REQUIRED,
                code=r.code,
                server_message=r.server_message,
            )
            verdict.pause = verdict.pause or problem
            verdict.updates.append(_held(d, problem, now, link))
        elif r.outcome is Outcome.PERMANENT:
            verdict.updates.append(
                DeliveryUpdate(
                    d.id,
                    Status.FAILED,
                    None,
                    True,
                    step,
                    reason,
                    _recipient_text(r),
                    r.code,
                    link=link,
                )
            )
        else:
            verdict.updates.append(
                _temporary(
                    d,
                    now=now,
                    policy=policy,
                    spread=spread,
                    step=step,
                    reason=reason,
                    error=_recipient_text(r),
                    code=r.code,
                    link=link,
                )
            )
    return verdict


def judge_error(
    email: ClaimedEmail,
    error: BaseException,
    *,
    now: float,
    policy: RetryPolicy,
    rng: random.Random | None = None,
    link: str = "",
) -> Verdict:
    """The verdict for a send that raised (nothing of it was delivered), tried on the
    failover chain's ``link``."""
    verdict = Verdict()
    spread = _Spread(policy, rng)
    if isinstance(error, ConfigurationProblem):
        verdict.pause = error
        verdict.updates = [_held(d, error, now, link) for d in email.deliveries]
        return verdict
    if isinstance(error, DeliveryError):
        step, reason, code, text = error.step.value, error.reason.value, error.code, str(error)
    else:
        step, reason, code = "", INTERNAL_ERROR, None
        text = f"unexpected {type(error).__name__}: {error}"
    for d in email.deliveries:
        if isinstance(error, DeliveryError) and not error.temporary:
            verdict.updates.append(
                DeliveryUpdate(d.id, Status.FAILED, None, True, step, reason, text, code, link=link)
            )
        else:
            update = _temporary(
                d,
                now=now,
                policy=policy,
                spread=spread,
                step=step,
                reason=reason,
                error=text,
                code=code,
                link=link,
            )
            verdict.updates.append(_not_before(update, now + _retry_after(error)))
    return verdict


def _retry_after(error: BaseException) -> float:
    """The server's Retry-After (HTTP 429/503 from the relay), or 0."""
    wait = getattr(error, "retry_after", None)
    return float(wait) if isinstance(wait, (int, float)) and wait > 0 else 0.0


def _not_before(update: DeliveryUpdate, earliest: float) -> DeliveryUpdate:
    """Honour Retry-After: a queued retry never comes before the server asked for it."""
    if update.status is not Status.QUEUED or update.next_attempt_at is None:
        return update
    if update.next_attempt_at >= earliest:
        return update
    return dataclasses.replace(update, next_attempt_at=earliest)
