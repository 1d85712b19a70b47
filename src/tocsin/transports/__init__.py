"""Transports: how a rendered message leaves Tocsin. One tiny interface, several wires."""

from tocsin.transports.base import (
    DeliveryResult,
    MockTransport,
    Outcome,
    RecipientResult,
    Transport,
    accept_all,
)
from tocsin.transports.smtp import SMTPSession, SMTPTransport, StepEvent, StepStatus

__all__ = [
    "DeliveryResult",
    "MockTransport",
    "Outcome",
    "RecipientResult",
    "SMTPSession",
    "SMTPTransport",
    "StepEvent",
    "StepStatus",
    "Transport",
    "accept_all",
]
