"""Transports: how a rendered message leaves Tocsin. One tiny interface, several wires.

The interface (:mod:`.base`) is imported with the package; the SMTP names load their
module on first use (PEP 562), so what only needs the interface (the outbox, a mock)
does not import aiosmtplib and the OAuth2 sign-in behind it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tocsin import _lazy_exports
from tocsin.transports.base import (
    DeliveryResult,
    MockTransport,
    Outcome,
    RecipientResult,
    Transport,
    accept_all,
)

if TYPE_CHECKING:
    from tocsin.transports.smtp import SMTPSession, SMTPTransport, StepEvent, StepStatus

_EXPORTS: dict[str, tuple[str, ...]] = {
    "tocsin.transports.smtp": ("SMTPSession", "SMTPTransport", "StepEvent", "StepStatus"),
}
"""The names loaded on first use, by module (the imports under ``TYPE_CHECKING`` above)."""
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

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

# Type checkers see the imports above, and no catch-all.
if not TYPE_CHECKING:
    __getattr__, __dir__ = _lazy_exports(__name__, _MODULE_OF, __all__)
