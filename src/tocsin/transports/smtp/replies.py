"""The one table that turns an SMTP reply into a verdict.

RFC 5321 §4.2.1: 4yz is a transient negative completion (try again), 5yz a
permanent one.  421 (§3.8) closes the session: the connection is out of step and
is dropped.  535 (RFC 4954 §6) refuses the credentials; 534 asks for a stronger
mechanism, which providers also send when only an app password would do.
"""

from __future__ import annotations

from typing import Final

from tocsin.errors import (
    AuthFailed,
    DeliveryError,
    MessageRejected,
    Reason,
    SenderRejected,
    ServerBusy,
    ServerRejected,
    Step,
    TemporaryFailure,
)
from tocsin.transports.base import Outcome

__all__ = ["error_for_reply", "recipient_verdict", "session_must_close"]

# (step, code) rules first, then (step, class), then the class alone.
_EXACT: Final[dict[tuple[Step, int], tuple[type[DeliveryError], Reason]]] = {
    (Step.AUTH, 535): (AuthFailed, Reason.AUTH_FAILED),
    (Step.AUTH, 534): (AuthFailed, Reason.AUTH_FAILED),
    (Step.AUTH, 538): (AuthFailed, Reason.TLS_REQUIRED),
    (Step.MAIL_FROM, 530): (AuthFailed, Reason.AUTH_REQUIRED),
    (Step.MAIL_FROM, 552): (MessageRejected, Reason.MESSAGE_REJECTED),
    (Step.MAIL_FROM, 555): (MessageRejected, Reason.MESSAGE_REJECTED),
    (Step.RCPT_TO, 530): (AuthFailed, Reason.AUTH_REQUIRED),
}
_BY_CLASS: Final[dict[tuple[Step, int], tuple[type[DeliveryError], Reason]]] = {
    (Step.CONNECT, 5): (ServerRejected, Reason.SERVER_REJECTED),
    (Step.EHLO, 5): (ServerRejected, Reason.SERVER_REJECTED),
    (Step.STARTTLS, 5): (ServerRejected, Reason.TLS_FAILED),
    (Step.AUTH, 5): (AuthFailed, Reason.AUTH_FAILED),
    (Step.MAIL_FROM, 4): (ServerBusy, Reason.SENDER_DEFERRED),
    (Step.MAIL_FROM, 5): (SenderRejected, Reason.SENDER_REJECTED),
    (Step.DATA, 4): (ServerBusy, Reason.MESSAGE_DEFERRED),
    (Step.DATA, 5): (MessageRejected, Reason.MESSAGE_REJECTED),
}


def error_for_reply(step: Step, code: int, text: str) -> DeliveryError:
    """The exception for a negative reply ``code`` at ``step`` of the session."""
    cls, reason = _EXACT.get((step, code)) or _BY_CLASS.get(
        (step, code // 100), (ServerBusy, Reason.SERVER_BUSY)
    )
    if code // 100 != 4 and cls is ServerBusy:
        # An unexpected 1xx/2xx/3xx where a reply was needed: the session is confused.
        cls = TemporaryFailure
    message = "the server refused" if code // 100 == 5 else "the server answered"
    return cls(message, step=step, reason=reason, code=code, server_message=text)


def recipient_verdict(code: int) -> tuple[Outcome, Reason]:
    """The outcome for one recipient refused at RCPT TO with ``code``."""
    if code // 100 == 4:
        return Outcome.TEMPORARY, Reason.RECIPIENT_DEFERRED
    if code == 530:
        return Outcome.PERMANENT, Reason.AUTH_REQUIRED
    return Outcome.PERMANENT, Reason.RECIPIENT_REJECTED


def session_must_close(code: int) -> bool:
    """True when the server is closing the session (RFC 5321 §3.8: 421)."""
    return code == 421
