"""The SMTP submission front (RFC 6409 style): any tool can use the relay as a smarthost.

aiosmtpd with STARTTLS required (RFC 3207: before it, everything but EHLO, NOOP and
QUIT gets ``530 5.7.0``) and AUTH required (PLAIN or LOGIN, only over TLS; the login
is the device name, the password the device credential), offered and answered the
way deployed clients expect (PLAIN first; LOGIN's ``Username:`` challenge).  The same
service as the HTTP API decides: allowed senders (553 at MAIL FROM), recipients per
message, size (552), quota (452 with the wait), and ``250 2.0.0 queued as <id>`` only
once stored.
Concurrent sessions' messages share commits (see :mod:`tocsin.relay.service`).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import weakref
from typing import Any

from tocsin.errors import MissingExtra

# aiosmtpd comes with the relay extra only: the appliance never runs this server.
try:
    from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
except ModuleNotFoundError as exc:
    if exc.name is None or not exc.name.startswith("aiosmtpd"):
        raise
    raise MissingExtra("The relay", "relay") from exc
from starlette.concurrency import run_in_threadpool

from tocsin.relay.errors import RelayRefused
from tocsin.relay.policy import MAX_MESSAGE_SIZE, sender_allowed
from tocsin.relay.records import Device
from tocsin.relay.service import Envelope as RelayEnvelope
from tocsin.relay.service import RelayService

__all__ = [
    "AUTH_MECHANISMS",
    "SubmissionHandler",
    "SubmissionSMTP",
    "SubmissionServer",
    "start_submission_server",
]

log = logging.getLogger("tocsin.relay")


class _HideLoginDataWarning(logging.Filter):
    """aiosmtpd 1.4.6 logs a deprecation of its own ``Session.login_data`` on every AUTH."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in record.getMessage()


logging.getLogger("mail.log").addFilter(_HideLoginDataWarning())


AUTH_MECHANISMS = ("PLAIN", "LOGIN")
"""What the front offers, in the order the EHLO reply lists them."""


class SubmissionSMTP(SMTP):
    """aiosmtpd's SMTP session with the AUTH LOGIN challenges clients expect.

    LOGIN has no RFC, only the expired draft-murchison-sasl-login.  What deployed servers
    send (Postfix through Cyrus SASL, Exchange) is ``Username:`` and ``Password:``, and
    clients built on Go's net/smtp, Prometheus Alertmanager among them, compare the
    challenge with exactly those and give up on anything else, such as aiosmtpd's
    default ``User Name\\0``.  aiosmtpd base64-encodes the challenge itself.
    """

    AuthLoginUsernameChallenge = "Username:"
    AuthLoginPasswordChallenge = "Password:"


def _auth_in_order(responses: list[str], order: tuple[str, ...]) -> list[str]:
    """The EHLO reply lines with the AUTH line's mechanisms in ``order``.

    aiosmtpd lists them alphabetically (LOGIN before PLAIN), and clients such as
    Alertmanager take the first one they know.  PLAIN goes first: it is the standard
    (RFC 4616) and draft-murchison-sasl-login-00 §1 asks clients to use it whenever it
    is offered.  Mechanisms not in ``order`` keep their place after those that are.
    """
    rank = {name: index for index, name in enumerate(order)}
    ordered: list[str] = []
    for line in responses:
        prefix, _, mechanisms = line.partition("AUTH ")
        if prefix in ("250-", "250 ") and mechanisms:
            offered = sorted(mechanisms.split(), key=lambda name: rank.get(name, len(order)))
            line = f"{prefix}AUTH {' '.join(offered)}"
        ordered.append(line)
    return ordered


def _device(session: Session) -> Device | None:
    data = session.auth_data
    return data if isinstance(data, Device) else None


class SubmissionHandler:
    """aiosmtpd handler and authenticator backed by :class:`RelayService`."""

    def __init__(self, service: RelayService) -> None:
        self._service = service

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        """Check the device name and credential (called by aiosmtpd after STARTTLS only)."""
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = data.login.decode("utf-8", "replace")
        password = data.password.decode("utf-8", "replace")
        client = str(session.peer[0]) if session.peer else ""
        try:
            device = self._service.authenticate(password, client=client)
        except RelayRefused:
            return AuthResult(success=False, handled=False)
        if device.name != login:
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, handled=False, auth_data=device)

    async def handle_EHLO(  # noqa: N802 (aiosmtpd's hook name)
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        """Offer PLAIN before LOGIN (see :func:`_auth_in_order`)."""
        session.host_name = hostname  # the 5-argument hook must do this itself
        return _auth_in_order(responses, AUTH_MECHANISMS)

    async def handle_MAIL(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        """Refuse a sender the device may not use, before any data is sent."""
        device = _device(session)
        if device is None:
            return "530 5.7.0 Authentication required"
        if not sender_allowed(address, device.policy.senders):
            return f"553 5.7.1 device {device.name} may not send as {address}"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        """Take recipients up to the device's limit per message."""
        device = _device(session)
        if device is None:
            return "530 5.7.0 Authentication required"
        if len(envelope.rcpt_tos) >= device.policy.burst:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        """Store the message (policy, rewrite, DKIM); 250 only once it is committed."""
        device = _device(session)
        if device is None:
            return "530 5.7.0 Authentication required"
        content = envelope.original_content or b""
        relay_envelope = RelayEnvelope(str(envelope.mail_from), tuple(envelope.rcpt_tos))
        try:
            # anyio's worker threads (as many as the HTTP API has), not asyncio's default
            # executor (CPUs + 4): every thread waiting for a commit adds to the group.
            accepted = await run_in_threadpool(
                self._service.submit, device, relay_envelope, content, via="ESMTPSA"
            )
        except RelayRefused as refused:
            return refused.smtp()
        except Exception:
            log.exception("storing a submission failed")
            return "451 4.3.0 Could not store the message; try again"
        return f"250 2.0.0 Ok: queued as {accepted.public_id}"


# A session told 421 and closed over TLS waits for the client's close_notify, which an
# idle client may never send (asyncio would wait 30 s); after this it is cut.
_CLOSE_LINGER = 0.2
_TICK = 0.05


class SubmissionServer:
    """The listening submission front and the sessions it has open."""

    def __init__(self, server: asyncio.Server, sessions: weakref.WeakSet[SMTP]) -> None:
        self.server = server
        self._sessions = sessions

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self, *, grace: float = 10.0) -> None:
        """Stop listening and end every session, each at the end of its transaction.

        A session between transactions is told ``421 4.3.2`` (RFC 5321 §3.8) and closed
        at once; one inside a transaction (MAIL FROM to the answer after DATA) gets up to
        ``grace`` seconds to finish it, so a message being stored still gets its 250.
        """
        loop = asyncio.get_running_loop()
        await _stop_accepting(self.server)
        deadline = loop.time() + grace
        told: dict[SMTP, float] = {}
        while loop.time() < deadline + 2 * _CLOSE_LINGER:
            open_sessions = [
                (s, s.transport)
                for s in self._sessions
                if isinstance(s.transport, asyncio.Transport)
            ]
            if not open_sessions:
                break
            now = loop.time()
            for session, transport in open_sessions:
                if session not in told:
                    envelope = session.envelope
                    if now < deadline and envelope is not None and envelope.mail_from:
                        continue  # a transaction in progress (MAIL FROM to the DATA answer)
                    transport.write(b"421 4.3.2 Service shutting down\r\n")
                    transport.close()
                    told[session] = now
                elif now - told[session] >= _CLOSE_LINGER:
                    transport.abort()
            await asyncio.sleep(_TICK)
        await asyncio.sleep(0)  # let the sessions' handler tasks see their cancellation


async def _stop_accepting(server: asyncio.Server) -> None:
    """Close ``server``'s listeners without losing a connection accepted a moment before.

    An accepted connection takes a loop round to get its transport; closing the server
    in between fails that transport's creation and leaves its socket open, unseen
    (CPython gh-109564, open in 3.11 to 3.13).  So stop taking new connections first,
    let those already taken get their sessions (then ended like any other), and only
    then close the listeners.
    """
    loop = asyncio.get_running_loop()
    for sock in server.sockets:
        loop.remove_reader(sock.fileno())
    for _ in range(2):  # the accepted connections' set-up tasks run on the next round
        await asyncio.sleep(0)
    server.close()


async def start_submission_server(
    service: RelayService,
    tls_context: ssl.SSLContext,
    *,
    host: str = "127.0.0.1",
    port: int = 587,
) -> SubmissionServer:
    """Listen for SMTP submissions on the running loop; ``stop()`` the result to end it."""
    handler = SubmissionHandler(service)
    loop = asyncio.get_running_loop()
    sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()

    def protocol() -> SMTP:
        session = SubmissionSMTP(
            handler,
            hostname=service.config.hostname,
            tls_context=tls_context,
            require_starttls=True,
            auth_required=True,
            auth_require_tls=True,
            auth_exclude_mechanism=["CRAM-MD5"],
            authenticator=handler.authenticate,
            data_size_limit=MAX_MESSAGE_SIZE,
            enable_SMTPUTF8=True,
            loop=loop,
        )
        sessions.add(session)
        return session

    server = await loop.create_server(protocol, host=host, port=port)
    return SubmissionServer(server, sessions)
