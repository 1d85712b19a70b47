"""One SMTP session: a connection walked step by step with aiosmtplib.

Each step (resolve, connect, tls, ehlo, starttls, auth, mail_from, rcpt_to, data)
runs inside :meth:`SessionState.run <tocsin.transports.smtp.steps.SessionState.run>`,
the one place where library exceptions are translated into Tocsin's error tree
(keeping the cause), and where an optional observer hears of every step: the test
email's live transcript is built from it.
A mail transaction goes out pipelined (RFC 2920) when the server offers PIPELINING:
the envelope in one write, then the message (see :mod:`.wire`).

Security rules kept here:
- STARTTLS, when chosen, is mandatory: no STARTTLS offered means :class:`TLSRequired`
  and nothing (no credential, no message) is sent (RFC 3207 §4: never downgrade).
- After STARTTLS everything learnt before is discarded and EHLO is sent again
  (RFC 3207 §4.2; aiosmtplib also drops bytes buffered before the handshake).
- Only one AUTH mechanism is tried: retrying a refused password with every
  mechanism only multiplies failed logins and trips account lock-outs.
- A session that may be out of step (timeout, disconnect, 421, any error) is
  closed, never reused.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

import aiosmtplib

from tocsin.errors import (
    AuthFailed,
    ConnectFailed,
    DeliveryError,
    Reason,
    Step,
    TLSRequired,
)
from tocsin.message import Mail
from tocsin.secret import Secret
from tocsin.settings import AuthMethod, EmailSettings, Encryption
from tocsin.signin.sasl import Mechanism
from tocsin.signin.smtp_auth import BearerLogin, login_for
from tocsin.tlsinfo import TLSFacts, make_tls_context, tls_facts
from tocsin.transports.base import DeliveryResult, Report
from tocsin.transports.smtp.connect import (
    StepObserver,
    StepStatus,
    address_literal,
    connect_tcp,
)
from tocsin.transports.smtp.mail import MailTransactions
from tocsin.transports.smtp.steps import SessionState

__all__ = ["SMTPSession"]


class SMTPSession:
    """One SMTP connection, opened and used step by step.

    Made of parts: it opens the connection itself and sends over it through a
    :class:`~tocsin.transports.smtp.mail.MailTransactions`; both share one
    :class:`~tocsin.transports.smtp.steps.SessionState`.
    """

    def __init__(
        self,
        settings: EmailSettings,
        *,
        tls_context: ssl.SSLContext | None = None,
        ehlo_name: str | None = None,
        observer: StepObserver | None = None,
        on_refresh_token: Callable[[Secret], None] | None = None,
    ) -> None:
        self._settings = settings
        self._tls_context = tls_context or make_tls_context(
            verify=settings.tls_verify, ca_file=settings.ca_file
        )
        self._ehlo_name = settings.ehlo_name or ehlo_name
        self._on_refresh_token = on_refresh_token
        self._state = SessionState(observer)
        self._client: aiosmtplib.SMTP | None = None
        self._sock: socket.socket | None = None
        self.tls: TLSFacts | None = None

    @property
    def step(self) -> Step:
        """The step the session is at (or failed at)."""
        return self._state.step

    @property
    def last_used(self) -> float:
        """When (monotonic clock) the session last delivered a message, or was made."""
        return self._state.last_used

    @property
    def client(self) -> aiosmtplib.SMTP:
        """The connected client; raises if the session is not open."""
        if self._client is None:
            raise ConnectFailed(
                "the session is not open", step=self.step, reason=Reason.DISCONNECTED
            )
        return self._client

    @property
    def usable(self) -> bool:
        """True while the session is open and in step with the server."""
        return self._state.usable and self._client is not None and self._client.is_connected

    @property
    def encrypted(self) -> bool:
        """True once the connection is protected by TLS."""
        return self.tls is not None

    # ------------------------------------------------------------ opening
    async def open(self) -> None:
        """Connect, secure, greet and log in, as the settings ask."""
        s = self._settings

        def seen(step: Step, status: StepStatus, detail: str) -> None:
            self._state.emit(step, status, detail)

        self._state.step = Step.RESOLVE
        self._state.emit(Step.RESOLVE, StepStatus.START, s.host)
        try:
            sock = await connect_tcp(s.host, s.port, s.timeout, seen)
        except DeliveryError as error:
            self._state.emit(error.step, StepStatus.FAIL, error.describe(), error)
            raise
        self._sock = sock
        implicit = s.encryption is Encryption.SSL
        self._client = aiosmtplib.SMTP(
            hostname=s.host.strip("[]"),
            sock=sock,
            use_tls=implicit,
            start_tls=False,
            tls_context=self._tls_context,
            local_hostname=self._ehlo_name or address_literal(sock),
            timeout=s.timeout,
        )
        if implicit:
            self._state.emit(Step.TLS, StepStatus.START, "implicit TLS (SSL)")
        with self._state.run(Step.CONNECT, announce=False):
            greeting = await self._client.connect()
        if implicit:
            self._note_tls()
        self._state.emit(
            Step.CONNECT,
            StepStatus.OK,
            f"greeting: {greeting.code} {greeting.message}",
            greeting=greeting.message,
        )
        await self._ehlo()
        if s.encryption is Encryption.STARTTLS:
            await self._starttls()
        if s.auth_method is AuthMethod.OAUTH2:
            await self._bearer_login()
        elif s.auth_method is AuthMethod.PASSWORD and s.username:
            await self._login()
        self._state.usable = True

    def _note_tls(self) -> None:
        transport = self.client.transport
        self.tls = tls_facts(transport.get_extra_info("ssl_object") if transport else None)
        self._state.emit(
            Step.TLS, StepStatus.OK, self.tls.describe() if self.tls else "", tls=self.tls
        )

    async def _ehlo(self) -> None:
        with self._state.run(Step.EHLO):
            await self.client.ehlo()
        extensions = sorted(self.client.esmtp_extensions)
        self._state.emit(
            Step.EHLO,
            StepStatus.OK,
            " ".join(e.upper() for e in extensions),
            extensions=extensions,
            auth=list(self.client.server_auth_methods),
        )

    async def _starttls(self) -> None:
        with self._state.run(Step.STARTTLS):
            if not self.client.supports_extension("starttls"):
                raise TLSRequired(
                    "the server does not offer STARTTLS; nothing was sent unencrypted",
                    step=Step.STARTTLS,
                    reason=Reason.TLS_REQUIRED,
                )
            await self.client.starttls(
                server_hostname=self._settings.host.strip("[]"), tls_context=self._tls_context
            )
        self._note_tls()
        await self._ehlo()  # RFC 3207 §4.2: forget the pre-TLS capabilities, ask again

    def _auth_mechanism(self) -> str:
        offered = self.client.server_auth_methods
        order = ("plain", "login", "cram-md5") if self.encrypted else ("cram-md5", "plain", "login")
        usable = [m for m in order if m in offered]
        if not self.client.supports_extension("auth") or not usable:
            where = "" if self.encrypted else " on this unencrypted connection"
            what = f" (it offers {', '.join(offered).upper()})" if offered else ""
            raise AuthFailed(
                f"the server offers no usable login{where}{what}",
                step=Step.AUTH,
                reason=Reason.AUTH_UNAVAILABLE,
            )
        if (
            not self.encrypted
            and usable[0] != "cram-md5"
            and not self._settings.allow_plaintext_auth
        ):
            raise TLSRequired(
                "the password would be sent unencrypted; refused",
                step=Step.AUTH,
                reason=Reason.TLS_REQUIRED,
            )
        return usable[0]

    async def _login(self) -> None:
        s = self._settings
        password = s.password.reveal() if s.password else ""
        with self._state.run(Step.AUTH):
            mechanism = self._auth_mechanism()
            method = getattr(self.client, "auth_" + mechanism.replace("-", ""))
            await method(s.username, password)
        self._state.emit(
            Step.AUTH,
            StepStatus.OK,
            f"logged in as {s.username} ({mechanism.upper()})",
            mechanism=mechanism,
        )

    async def _bearer_login(self) -> None:
        """Log in with an OAuth2 access token (XOAUTH2 or OAUTHBEARER, RFC 7628).

        A 535 refreshes the token once and tries once more; a refusal of the token
        endpoint itself is a configuration problem (delivery pauses).
        """
        s = self._settings
        login = login_for(s, on_refresh_token=self._on_refresh_token)
        assert login is not None  # only called for auth_method oauth2
        endpoint = urlsplit(login.endpoint).netloc
        with self._state.run(Step.OAUTH, f"token endpoint {endpoint}"):
            fetched = await login.prepare()
        lifetime = max(0, round((login.expires_at - time.time()) / 60))
        how = f"token obtained from {endpoint}" if fetched else "token still valid"
        self._state.emit(
            Step.OAUTH,
            StepStatus.OK,
            f"{how}: scope {login.scope or 'default'}, expires in {lifetime} min",
            scope=login.scope,
            expires_in=lifetime * 60,
            fetched=fetched,
        )
        with self._state.run(Step.AUTH):
            if not self.encrypted and not s.allow_plaintext_auth:
                raise TLSRequired(
                    "the access token would be sent unencrypted; refused",
                    step=Step.AUTH,
                    reason=Reason.TLS_REQUIRED,
                )
            offered = (
                self.client.server_auth_methods if self.client.supports_extension("auth") else []
            )
            mechanism = login.mechanism(m.upper() for m in offered)
            await self._present_token(login, mechanism)
        self._state.emit(
            Step.AUTH,
            StepStatus.OK,
            f"logged in as {s.username} ({mechanism.value}, OAuth2 token"
            f" for {login.scope or 'the default scope'})",
            mechanism=mechanism.value.lower(),
        )

    async def _present_token(self, login: BearerLogin, mechanism: Mechanism) -> None:
        host, port = self._settings.host.strip("[]"), self._settings.port
        while True:
            response = await login.initial_response(mechanism, host=host, port=port)
            reply = await self.client.execute_command(
                b"AUTH", mechanism.value.encode("ascii"), response.encode("ascii")
            )
            if reply.code == 334:  # RFC 7628 §3.2.2: an error challenge; end the exchange
                reply = await self.client.execute_command(
                    login.abort_response(mechanism).encode("ascii")
                )
            if reply.code == 235:
                return
            if not await login.rejected(reply.code, reply.message):
                raise login.failure(reply.code, reply.message)

    # ------------------------------------------------------------ sending
    def _sending(self) -> MailTransactions:
        return MailTransactions(self.client, self._state, self._settings)

    async def deliver(self, mail: Mail) -> DeliveryResult:
        """Send one message over the open session; see :meth:`MailTransactions.deliver`."""
        return await self._sending().deliver(mail)

    async def deliver_each(
        self,
        mails: Sequence[Mail],
        report: Report,
        *,
        deadline: float | None = None,
        first_until: float | None = None,
    ) -> None:
        """Send ``mails`` in order; see :meth:`MailTransactions.deliver_each`."""
        await self._sending().deliver_each(
            mails, report, deadline=deadline, first_until=first_until
        )

    # ------------------------------------------------------------ closing
    async def quit(self) -> None:
        """Say QUIT politely (bounded by the command timeout) and close."""
        client, self._client, self._state.usable = self._client, None, False
        if client is None:
            return
        with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
            await client.quit()
        client.close()

    def abort(self) -> None:
        """Drop the connection at once, without QUIT (it may be out of step)."""
        client, self._client, self._state.usable = self._client, None, False
        sock, self._sock = self._sock, None
        if sock is not None:
            # Ends the connection even while the library is still setting it up (and
            # so has no transport to close yet): the server sees it end at once.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if client is not None:
            client.close()
