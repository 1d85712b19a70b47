"""The SMTP transport: the sessions of one server, opened on demand and reused.

A session is reused while it is usable and not idle too long (a server that closed an
idle connection is noticed at once and the mail goes over a fresh one); several mails
for one server go out over one session, in order (see :mod:`.mail`).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable, Sequence

from tocsin.errors import (
    ConfigurationProblem,
    ConnectFailed,
    DeliveryError,
    DeliveryTimeout,
    Reason,
    Step,
)
from tocsin.message import Mail
from tocsin.secret import Secret
from tocsin.settings import EmailSettings
from tocsin.tlsinfo import make_tls_context
from tocsin.transports.base import DeliveryResult, Report
from tocsin.transports.smtp.connect import default_ehlo_name
from tocsin.transports.smtp.session import SMTPSession

__all__ = ["SMTPTransport"]


class SMTPTransport:
    """Sends through the configured SMTP server over up to ``max_connections`` sessions.

    Idle sessions are kept for ``idle_timeout`` seconds and reused; a session that
    failed in any way is dropped.  Every attempt (connect included) is bounded by
    the settings' ``deadline``.  ``on_refresh_token`` receives a refresh token the
    OAuth2 provider rotated (the services store it; the transport never writes settings).
    """

    def __init__(
        self,
        settings: EmailSettings,
        *,
        max_connections: int = 2,
        idle_timeout: float = 30.0,
        tls_context: ssl.SSLContext | None = None,
        on_refresh_token: Callable[[Secret], None] | None = None,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self._settings = settings
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: list[SMTPSession] = []
        self._idle_timeout = idle_timeout
        self._tls_context = tls_context or make_tls_context(
            verify=settings.tls_verify, ca_file=settings.ca_file
        )
        self._ehlo_name: str | None = None
        self._closed = False
        self._on_refresh_token = on_refresh_token

    async def _session(self) -> tuple[SMTPSession, bool]:
        now = time.monotonic()
        while self._idle:
            session = self._idle.pop()
            if session.usable and now - session.last_used < self._idle_timeout:
                return session, True
            await session.quit()
        if self._ehlo_name is None and not self._settings.ehlo_name:
            self._ehlo_name = await default_ehlo_name() or ""
        session = SMTPSession(
            self._settings,
            tls_context=self._tls_context,
            ehlo_name=self._ehlo_name or None,
            on_refresh_token=self._on_refresh_token,
        )
        return session, False

    async def send(self, mail: Mail) -> DeliveryResult:
        """Deliver ``mail``; raise a :class:`DeliveryError` if nothing was delivered."""
        outcomes: list[DeliveryResult | Exception] = []
        await self.send_many([mail], lambda _, outcome: outcomes.append(outcome))
        (outcome,) = outcomes
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def send_many(self, mails: Sequence[Mail], report: Report) -> None:
        """Deliver ``mails`` in order, back to back on kept sessions, and ``report(index,
        outcome)`` as each ends: the result, or the exception (reported, not raised).

        Each mail has the settings' ``deadline``, as if sent alone.  After a failure the
        next mail goes on a fresh session; a configuration problem (login refused, TLS
        missing, sender refused) is reported for every mail left, which are not tried:
        they would all fail alike, and a mail server locks out repeated failed logins.
        """
        if self._closed:
            raise RuntimeError("the transport is closed")
        start = 0
        while start < len(mails):
            async with self._slots:
                session, reused = await self._session()
                try:
                    start = await self._chain(session, mails, start, reused, report)
                except BaseException:
                    session.abort()
                    raise
                if session.usable:
                    self._idle.append(session)
                else:
                    await session.quit()

    async def _chain(
        self,
        session: SMTPSession,
        mails: Sequence[Mail],
        start: int,
        reused: bool,
        report: Report,
    ) -> int:
        """Send ``mails[start:]`` on ``session`` until one fails or the session falls out
        of step; return the index of the first mail not reported yet."""
        deadline = self._settings.deadline
        first_until = asyncio.get_running_loop().time() + deadline
        done, stale, failed = start, False, False

        def note(index: int, outcome: DeliveryResult | Exception) -> None:
            nonlocal done, stale, failed
            if reused and index == 0 and _closed_while_idle(outcome):
                stale = True  # not reported: the mail goes again on a fresh connection
                return
            failed = isinstance(outcome, DeliveryError)
            done = start + index + 1
            report(start + index, outcome)
            if isinstance(outcome, ConfigurationProblem):
                for rest in range(done, len(mails)):
                    report(rest, outcome)
                done = len(mails)

        for fresh in (not reused, True):
            if fresh and (problem := await self._open(session, first_until)) is not None:
                note(0, problem)
                return done
            await session.deliver_each(
                mails[start:], note, deadline=deadline, first_until=first_until
            )
            if not stale:
                break
            reused, stale = False, False
        if failed:
            session.abort()  # it may be out of step: no QUIT (which would wait for a reply)
        if done == start:  # cannot happen (every round reports a mail): never loop for ever
            lost = ConnectFailed("no outcome", step=session.step, reason=Reason.DISCONNECTED)
            report(start, lost)
            session.abort()
            done = start + 1
        return done

    async def _open(self, session: SMTPSession, until: float) -> DeliveryError | None:
        """Open ``session`` afresh by the loop time ``until``; the error if it failed."""
        session.abort()
        try:
            async with asyncio.timeout_at(until):
                await session.open()
        except DeliveryError as error:
            session.abort()
            return error
        except TimeoutError as exc:
            session.abort()
            late = DeliveryTimeout(
                f"the attempt took longer than the {self._settings.deadline:g} s deadline",
                step=session.step,
                reason=Reason.TIMEOUT,
            )
            late.__cause__ = exc
            return late
        return None

    async def aclose(self) -> None:
        """QUIT and close every idle session."""
        self._closed = True
        idle, self._idle = self._idle, []
        for session in idle:
            await session.quit()


def _closed_while_idle(outcome: DeliveryResult | Exception) -> bool:
    """A kept connection the server closed while idle: the first command found it gone,
    before the server accepted our MAIL FROM (so nothing was delivered)."""
    return isinstance(outcome, (ConnectFailed, DeliveryTimeout)) and outcome.step is Step.MAIL_FROM
