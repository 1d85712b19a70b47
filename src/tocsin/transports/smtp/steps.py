"""Where one SMTP session stands, and the one boundary every step of it runs in.

An :class:`~tocsin.transports.smtp.SMTPSession` is made of parts: opening the
connection (the session itself) and sending mail over it
(:class:`~tocsin.transports.smtp.mail.MailTransactions`).  Both hold the same
:class:`SessionState`: the step the session is at, whether it is still in step with
the server, when it last delivered, and the observer that hears of every step.
:meth:`SessionState.run` is the one place where library exceptions become Tocsin's
error tree (keeping the cause).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import aiosmtplib

from tocsin.errors import DeliveryError, Step
from tocsin.transports.smtp.connect import StepEvent, StepObserver, StepStatus, classify_os_error
from tocsin.transports.smtp.replies import error_for_reply, session_must_close

__all__ = ["SessionState"]


class SessionState:
    """The state one session's parts share, and the boundary their steps run in."""

    def __init__(self, observer: StepObserver | None = None) -> None:
        self._observer = observer
        self.step = Step.RESOLVE
        self.usable = False  # set once open; any doubt about being in step clears it
        self.last_used = time.monotonic()

    def emit(
        self,
        step: Step,
        status: StepStatus,
        detail: str = "",
        error: DeliveryError | None = None,
        **data: Any,
    ) -> None:
        """Tell the observer, if any, of one thing that happened."""
        if self._observer is not None:
            self._observer(StepEvent(step, status, detail, data, error))

    @contextlib.contextmanager
    def run(self, step: Step, detail: str = "", *, announce: bool = True) -> Iterator[None]:
        """Run one step: announce it, translate library errors at this boundary."""
        self.step = step
        if announce:
            self.emit(step, StepStatus.START, detail)
        try:
            try:
                yield
            except aiosmtplib.SMTPResponseException as exc:
                if session_must_close(exc.code):
                    self.usable = False
                raise error_for_reply(step, exc.code, exc.message) from exc
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                raise classify_os_error(exc, step) from exc
        except DeliveryError as error:
            self.usable = False
            self.emit(error.step, StepStatus.FAIL, error.describe(), error)
            raise
