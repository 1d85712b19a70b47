"""The system notice of the failover chain: once when it falls back, once when it returns.

The notice is Tocsin's own problem ``delivery_failover`` (see
:func:`~tocsin.services.summaries.raise_system_event`): raised when the primary link
goes down and alarms take a backup link, resolved when the primary carries mail
again.  Raising an open problem sends nothing, so several workers that each see the
fall-back still make one notice.  Its email travels like an alarm (see
:data:`~tocsin.services.intake.URGENT_SYSTEM_CODES`): through the backup links, while the
primary is down.
"""

from __future__ import annotations

import asyncio
import logging

from tocsin.errors import FailureLog
from tocsin.model import Severity
from tocsin.outbox.chain import FailoverHook
from tocsin.services.context import Services
from tocsin.services.summaries import clear_system_event, raise_system_event

__all__ = ["DELIVERY_FAILOVER", "failover_notifier"]

log = logging.getLogger("tocsin.outbox")
_failures = FailureLog(log)

DELIVERY_FAILOVER = "delivery_failover"


def _text(why: str) -> str:
    return (
        f"Email falls back to a backup link: the primary link failed ({why}).\n"
        "Alarms go through the backup links of the failover chain until the primary "
        "works again; warnings and system mail wait for it unless the failover settings "
        "let them follow. Check the primary's settings with a test email."
    )


def failover_notifier(services: Services) -> FailoverHook:
    """An ``on_failover`` callback for the delivery engine; the store work runs on a
    thread, off the engine's event loop."""

    def on_failover(fallen_back: bool, why: str) -> None:
        def report() -> None:
            try:
                if fallen_back:
                    raise_system_event(
                        services, DELIVERY_FAILOVER, _text(why), severity=Severity.WARNING
                    )
                else:
                    clear_system_event(
                        services,
                        DELIVERY_FAILOVER,
                        "The primary email link works again; all email goes through it.",
                    )
            except Exception:
                _failures.failed("reporting the failover of the email links failed")

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            report()
        else:
            loop.run_in_executor(None, report)

    return on_failover
