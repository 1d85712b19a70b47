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

import time
from types import TracebackType
from typing import Any, Literal

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

    def run(self, step: Step, detail: str = "", *, announce: bool = True) -> _StepRun:
        """Run one step (``with state.run(step):``): announce it, translate library
        errors at this boundary."""
        self.step = step
        if announce:
            self.emit(step, StepStatus.START, detail)
        return _StepRun(self, step)


class _StepRun:
    """The boundary of one step: library errors become Tocsin's error tree (the cause
    kept), and any :class:`DeliveryError` leaving the step marks the session unusable
    and is told to the observer.

    A class rather than a ``@contextmanager`` generator: a mail runs through several
    steps, and a generator's set-up cost about 1 µs a step.
    """

    __slots__ = ("_state", "_step")

    def __init__(self, state: SessionState, step: Step) -> None:
        self._state = state
        self._step = step

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        if exc is None:
            return False
        state = self._state
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            if session_must_close(exc.code):
                state.usable = False
            error: DeliveryError = error_for_reply(self._step, exc.code, exc.message)
        elif isinstance(exc, (aiosmtplib.SMTPException, OSError, TimeoutError)):
            error = classify_os_error(exc, self._step)
        elif isinstance(exc, DeliveryError):
            state.usable = False
            state.emit(exc.step, StepStatus.FAIL, exc.describe(), exc)
            return False  # raised on as it is
        else:
            return False
        state.usable = False
        state.emit(error.step, StepStatus.FAIL, error.describe(), error)
        raise error from exc
