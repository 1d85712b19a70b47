"""The SMTP transport: aiosmtplib, walked step by step, with a small connection pool.

Each step (resolve, connect, tls, ehlo, starttls, auth, mail_from, rcpt_to, data)
runs inside :meth:`SMTPSession._step`, the one place where library exceptions are
translated into Tocsin's error tree (keeping the cause), and where an optional
observer hears of every step: the test email's live transcript is built from it.

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

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from typing import Any

import aiosmtplib

from tocsin.errors import (
    AuthFailed,
    ConnectFailed,
    DeliveryError,
    DeliveryTimeout,
    Reason,
    Step,
    TLSFailed,
    TLSRequired,
)
from tocsin.message import Mail
from tocsin.settings import EmailSettings, Encryption, host_problem
from tocsin.tlsinfo import TLSFacts, make_tls_context, tls_facts
from tocsin.transports.base import DeliveryResult, Outcome, RecipientResult
from tocsin.transports.smtp_replies import error_for_reply, recipient_verdict, session_must_close

__all__ = ["SMTPSession", "SMTPTransport", "StepEvent", "StepStatus"]


class StepStatus(StrEnum):
    """Where a step stands."""

    START = "start"
    OK = "ok"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class StepEvent:
    """One thing that happened in a session, for an observer (never holds a secret)."""

    step: Step
    status: StepStatus
    detail: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)
    error: DeliveryError | None = None


StepObserver = Callable[[StepEvent], None]


@cache
def _host_fqdn() -> str:
    return socket.getfqdn()


async def default_ehlo_name() -> str | None:
    """This machine's FQDN if it is a valid host name, else None (use an address literal)."""
    name = await asyncio.to_thread(_host_fqdn)
    return name if "." in name and host_problem(name) is None else None


def _address_literal(sock: socket.socket) -> str:
    # RFC 5321 §4.1.3: [192.0.2.1] or [IPv6:2001:db8::1]
    ip = sock.getsockname()[0]
    return f"[IPv6:{ip}]" if ":" in ip else f"[{ip}]"


def _classify_os_error(exc: BaseException, step: Step) -> DeliveryError:
    """Map an OS / TLS / aiosmtplib error (no reply code) onto the tree."""
    cause = exc.__cause__ if isinstance(exc, aiosmtplib.SMTPConnectError) else None
    inner = cause or exc
    if isinstance(inner, ssl.SSLCertVerificationError):
        return TLSFailed(
            f"the server's certificate was not accepted: {inner.verify_message}",
            step=Step.TLS if step is Step.CONNECT else step,
            reason=Reason.CERT_INVALID,
        )
    if isinstance(inner, ssl.SSLError):
        return TLSFailed(
            f"the TLS handshake failed: {inner.reason or inner}",
            step=Step.TLS if step is Step.CONNECT else step,
            reason=Reason.TLS_FAILED,
        )
    if isinstance(inner, (TimeoutError, aiosmtplib.SMTPTimeoutError)):
        what = "sent no greeting" if step is Step.CONNECT else f"did not answer {step.value}"
        return DeliveryTimeout(f"the server {what} in time", step=step, reason=Reason.TIMEOUT)
    if isinstance(inner, ConnectionRefusedError):
        return ConnectFailed("connection refused", step=step, reason=Reason.CONNECT_REFUSED)
    if isinstance(inner, (aiosmtplib.SMTPServerDisconnected, ConnectionError)):
        return ConnectFailed(
            f"the server closed the connection: {inner}", step=step, reason=Reason.DISCONNECTED
        )
    return ConnectFailed(
        f"{type(inner).__name__}: {inner}", step=step, reason=Reason.CONNECT_FAILED
    )


async def connect_tcp(
    host: str,
    port: int,
    timeout: float,
    observer: Callable[[Step, StepStatus, str], None] | None = None,
) -> socket.socket:
    """Resolve ``host`` and connect to the first address that answers (IPv6 and IPv4)."""
    loop = asyncio.get_running_loop()
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        async with asyncio.timeout(timeout):
            infos = await loop.getaddrinfo(bare, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConnectFailed(
            f"cannot resolve {bare}: {exc.strerror}", step=Step.RESOLVE, reason=Reason.DNS_FAILED
        ) from exc
    except TimeoutError as exc:
        raise DeliveryTimeout(
            f"resolving {bare} took longer than {timeout:g} s",
            step=Step.RESOLVE,
            reason=Reason.TIMEOUT,
        ) from exc
    if observer:
        observer(Step.RESOLVE, StepStatus.OK, ", ".join(dict.fromkeys(str(i[4][0]) for i in infos)))
    last: BaseException | None = None
    for family, kind, proto, _, address in infos:
        if observer:
            observer(Step.CONNECT, StepStatus.START, f"{address[0]} port {port}")
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            async with asyncio.timeout(timeout):
                await loop.sock_connect(sock, address)
        except (OSError, TimeoutError) as exc:
            sock.close()
            last = exc
            continue
        if observer:
            observer(Step.CONNECT, StepStatus.OK, f"TCP connection to {address[0]} port {port}")
        return sock
    assert last is not None  # getaddrinfo never returns an empty list
    error = _classify_os_error(last, Step.CONNECT)
    raise type(error)(
        f"{bare} port {port}: {error.args[0]}", step=Step.CONNECT, reason=error.reason
    ) from last


class SMTPSession:
    """One SMTP connection, opened and used step by step."""

    def __init__(
        self,
        settings: EmailSettings,
        *,
        tls_context: ssl.SSLContext | None = None,
        ehlo_name: str | None = None,
        observer: StepObserver | None = None,
    ) -> None:
        self._settings = settings
        self._tls_context = tls_context or make_tls_context(
            verify=settings.tls_verify, ca_file=settings.ca_file
        )
        self._ehlo_name = settings.ehlo_name or ehlo_name
        self._observer = observer
        self._client: aiosmtplib.SMTP | None = None
        self._usable = False
        self.step = Step.RESOLVE
        self.tls: TLSFacts | None = None
        self.last_used = time.monotonic()

    # ------------------------------------------------------------ plumbing
    def _emit(
        self,
        step: Step,
        status: StepStatus,
        detail: str = "",
        error: DeliveryError | None = None,
        **data: Any,
    ) -> None:
        if self._observer is not None:
            self._observer(StepEvent(step, status, detail, data, error))

    @contextlib.contextmanager
    def _step(self, step: Step, detail: str = "", *, announce: bool = True) -> Iterator[None]:
        """Run one step: announce it, translate library errors at this boundary."""
        self.step = step
        if announce:
            self._emit(step, StepStatus.START, detail)
        try:
            try:
                yield
            except aiosmtplib.SMTPResponseException as exc:
                if session_must_close(exc.code):
                    self._usable = False
                raise error_for_reply(step, exc.code, exc.message) from exc
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                raise _classify_os_error(exc, step) from exc
        except DeliveryError as error:
            self._usable = False
            self._emit(error.step, StepStatus.FAIL, error.describe(), error)
            raise

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
        return self._usable and self._client is not None and self._client.is_connected

    @property
    def encrypted(self) -> bool:
        """True once the connection is protected by TLS."""
        return self.tls is not None

    # ------------------------------------------------------------ opening
    async def open(self) -> None:
        """Connect, secure, greet and log in, as the settings ask."""
        s = self._settings

        def seen(step: Step, status: StepStatus, detail: str) -> None:
            self._emit(step, status, detail)

        self.step = Step.RESOLVE
        self._emit(Step.RESOLVE, StepStatus.START, s.host)
        try:
            sock = await connect_tcp(s.host, s.port, s.timeout, seen)
        except DeliveryError as error:
            self._emit(error.step, StepStatus.FAIL, error.describe(), error)
            raise
        implicit = s.encryption is Encryption.SSL
        self._client = aiosmtplib.SMTP(
            hostname=s.host.strip("[]"),
            sock=sock,
            use_tls=implicit,
            start_tls=False,
            tls_context=self._tls_context,
            local_hostname=self._ehlo_name or _address_literal(sock),
            timeout=s.timeout,
        )
        if implicit:
            self._emit(Step.TLS, StepStatus.START, "implicit TLS (SSL)")
        with self._step(Step.CONNECT, announce=False):
            greeting = await self._client.connect()
        if implicit:
            self._note_tls()
        self._emit(
            Step.CONNECT,
            StepStatus.OK,
            f"greeting: {greeting.code} {greeting.message}",
            greeting=greeting.message,
        )
        await self._ehlo()
        if s.encryption is Encryption.STARTTLS:
            await self._starttls()
        if s.username:
            await self._login()
        self._usable = True

    def _note_tls(self) -> None:
        transport = self.client.transport
        self.tls = tls_facts(transport.get_extra_info("ssl_object") if transport else None)
        self._emit(Step.TLS, StepStatus.OK, self.tls.describe() if self.tls else "", tls=self.tls)

    async def _ehlo(self) -> None:
        with self._step(Step.EHLO):
            await self.client.ehlo()
        extensions = sorted(self.client.esmtp_extensions)
        self._emit(
            Step.EHLO,
            StepStatus.OK,
            " ".join(e.upper() for e in extensions),
            extensions=extensions,
            auth=list(self.client.server_auth_methods),
        )

    async def _starttls(self) -> None:
        with self._step(Step.STARTTLS):
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
        with self._step(Step.AUTH):
            mechanism = self._auth_mechanism()
            method = getattr(self.client, "auth_" + mechanism.replace("-", ""))
            await method(s.username, password)
        self._emit(
            Step.AUTH,
            StepStatus.OK,
            f"logged in as {s.username} ({mechanism.upper()})",
            mechanism=mechanism,
        )

    # ------------------------------------------------------------ sending
    async def deliver(self, mail: Mail) -> DeliveryResult:
        """Send one message over the open session; per-recipient results as data."""
        client = self.client
        if mail.smtputf8 and not client.supports_extension("smtputf8"):
            return _everyone(
                mail,
                Outcome.PERMANENT,
                Reason.SMTPUTF8_UNSUPPORTED,
                Step.MAIL_FROM,
                "the server does not support internationalised addresses (SMTPUTF8)",
            )
        options = [f"SIZE={len(mail.content)}"] if client.supports_extension("size") else []
        if mail.smtputf8:
            options += ["SMTPUTF8", "BODY=8BITMIME"]  # RFC 6531 §3.4
        encoding = "utf-8" if mail.smtputf8 else "ascii"
        with self._step(Step.MAIL_FROM, mail.sender):
            await client.mail(mail.sender, options=options, encoding=encoding)
        self._emit(Step.MAIL_FROM, StepStatus.OK, mail.sender)
        results: dict[str, RecipientResult] = {}
        for recipient in mail.recipients:
            refused = await self._rcpt(recipient, encoding)
            if refused is not None:
                results[recipient] = refused
        accepted = [r for r in mail.recipients if r not in results]
        if not accepted:
            await self._reset()
            return DeliveryResult(tuple(results[r] for r in mail.recipients))
        reply = await self._data(mail, accepted, results)
        return DeliveryResult(tuple(results[r] for r in mail.recipients), reply)

    async def _rcpt(self, recipient: str, encoding: str) -> RecipientResult | None:
        with self._step(Step.RCPT_TO, recipient):
            try:
                await self.client.rcpt(recipient, encoding=encoding)
            except aiosmtplib.SMTPRecipientRefused as exc:
                if session_must_close(exc.code):
                    raise
                outcome, reason = recipient_verdict(exc.code)
                self._emit(
                    Step.RCPT_TO,
                    StepStatus.FAIL,
                    f"{exc.code} {exc.message}",
                    recipient=recipient,
                    code=exc.code,
                )
                return RecipientResult(
                    recipient, outcome, reason, Step.RCPT_TO, exc.code, exc.message
                )
        self._emit(Step.RCPT_TO, StepStatus.OK, recipient)
        return None

    async def _data(
        self, mail: Mail, accepted: list[str], results: dict[str, RecipientResult]
    ) -> str:
        with self._step(Step.DATA):
            try:
                response = await self.client.data(mail.content)
            except aiosmtplib.SMTPDataError as exc:
                if session_must_close(exc.code):
                    raise
                temporary = exc.code // 100 == 4
                outcome = Outcome.TEMPORARY if temporary else Outcome.PERMANENT
                reason = Reason.MESSAGE_DEFERRED if temporary else Reason.MESSAGE_REJECTED
                for r in accepted:
                    results[r] = RecipientResult(
                        r, outcome, reason, Step.DATA, exc.code, exc.message
                    )
                self._emit(Step.DATA, StepStatus.FAIL, f"{exc.code} {exc.message}", code=exc.code)
                return ""
        reply = f"{response.code} {response.message}"
        for r in accepted:
            results[r] = RecipientResult(
                r, Outcome.ACCEPTED, code=response.code, server_message=response.message
            )
        self._emit(Step.DATA, StepStatus.OK, reply)
        self.last_used = time.monotonic()
        return reply

    async def _reset(self) -> None:
        with contextlib.suppress(aiosmtplib.SMTPException, OSError):
            await self.client.rset()

    # ------------------------------------------------------------ closing
    async def quit(self) -> None:
        """Say QUIT politely (bounded by the command timeout) and close."""
        client, self._client, self._usable = self._client, None, False
        if client is None:
            return
        with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
            await client.quit()
        client.close()

    def abort(self) -> None:
        """Drop the connection at once, without QUIT (it may be out of step)."""
        client, self._client, self._usable = self._client, None, False
        if client is not None:
            client.close()


def _everyone(
    mail: Mail, outcome: Outcome, reason: Reason, step: Step, message: str
) -> DeliveryResult:
    return DeliveryResult(
        tuple(RecipientResult(r, outcome, reason, step, None, message) for r in mail.recipients)
    )


class SMTPTransport:
    """Sends through the configured SMTP server over up to ``max_connections`` sessions.

    Idle sessions are kept for ``idle_timeout`` seconds and reused; a session that
    failed in any way is dropped.  Every attempt (connect included) is bounded by
    the settings' ``deadline``.
    """

    def __init__(
        self,
        settings: EmailSettings,
        *,
        max_connections: int = 2,
        idle_timeout: float = 30.0,
        tls_context: ssl.SSLContext | None = None,
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
            self._settings, tls_context=self._tls_context, ehlo_name=self._ehlo_name or None
        )
        return session, False

    async def send(self, mail: Mail) -> DeliveryResult:
        """Deliver ``mail``; raise a :class:`DeliveryError` if nothing was delivered."""
        if self._closed:
            raise RuntimeError("the transport is closed")
        async with self._slots:
            session, reused = await self._session()
            try:
                result = await self._attempt(session, mail, reused)
            except BaseException:
                session.abort()
                raise
            if session.usable:
                self._idle.append(session)
            else:
                await session.quit()
            return result

    async def _attempt(self, session: SMTPSession, mail: Mail, reused: bool) -> DeliveryResult:
        try:
            async with asyncio.timeout(self._settings.deadline):
                if not reused:
                    await session.open()
                try:
                    return await session.deliver(mail)
                except (ConnectFailed, DeliveryTimeout) as error:
                    # A kept connection the server closed while idle: one fresh try,
                    # only if the server never accepted our MAIL FROM.
                    if not reused or error.step is not Step.MAIL_FROM:
                        raise
                    session.abort()
                    await session.open()
                    return await session.deliver(mail)
        except DeliveryError:
            raise  # already classified (DeliveryTimeout is a TimeoutError too)
        except TimeoutError as exc:
            raise DeliveryTimeout(
                f"the attempt took longer than the {self._settings.deadline:g} s deadline",
                step=session.step,
                reason=Reason.TIMEOUT,
            ) from exc

    async def aclose(self) -> None:
        """QUIT and close every idle session."""
        self._closed = True
        idle, self._idle = self._idle, []
        for session in idle:
            await session.quit()
