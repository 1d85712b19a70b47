"""Why the relay refuses a submission; each refusal knows its HTTP status and SMTP reply.

::

    TocsinError
    └── RelayRefused                 (.status, .code, .smtp_reply)
        ├── NotAuthenticated         401  535 5.7.8   unknown or revoked credential
        ├── SenderNotAllowed         403  553 5.7.1   not one of the device's senders
        ├── MessageTooLarge          413  552 5.3.4   above the device's maximum size
        ├── QuotaExceeded            429  452 4.7.1   hourly quota spent (.retry_after)
        └── InvalidSubmission        422  554 5.6.0   not a message we can relay

The codes are stable strings (API clients and the appliance branch on them).
"""

from __future__ import annotations

import math

from tocsin.errors import TocsinError

__all__ = [
    "InvalidSubmission",
    "MessageTooLarge",
    "NotAuthenticated",
    "QuotaExceeded",
    "RelayRefused",
    "SenderNotAllowed",
]


class RelayRefused(TocsinError):
    """A submission the relay will not take; nothing was stored."""

    status: int = 400
    code: str = "refused"
    smtp_reply: tuple[int, str] = (554, "5.7.0")

    def smtp(self) -> str:
        """The whole SMTP reply line for the submission front."""
        number, enhanced = self.smtp_reply
        return f"{number} {enhanced} {self}"


class NotAuthenticated(RelayRefused):
    """The credential is missing, unknown or revoked."""

    status = 401
    code = "auth_failed"
    smtp_reply = (535, "5.7.8")


class SenderNotAllowed(RelayRefused):
    """The device may not send from this address."""

    status = 403
    code = "sender_not_allowed"
    smtp_reply = (553, "5.7.1")


class MessageTooLarge(RelayRefused):
    """The message is larger than the device may send."""

    status = 413
    code = "message_too_large"
    smtp_reply = (552, "5.3.4")


class QuotaExceeded(RelayRefused):
    """The device has used its hourly quota; ``retry_after`` says when to come back."""

    status = 429
    code = "rate_limited"
    smtp_reply = (452, "4.7.1")

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    @property
    def retry_after_header(self) -> str:
        """Whole seconds, rounded up (RFC 9110 §10.2.3)."""
        return str(max(1, math.ceil(self.retry_after)))


class InvalidSubmission(RelayRefused):
    """The submission is not a message the relay can deliver (headers, envelope, size)."""

    status = 422
    code = "invalid_message"
    smtp_reply = (554, "5.6.0")
