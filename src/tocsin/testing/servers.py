"""The test servers: `SMTPTestServer` (caller's loop) and `ThreadedSMTPTestServer`."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Literal, Self, get_args

from tocsin.testing.certs import TestCA
from tocsin.testing.faults import Faults
from tocsin.testing.loops import finish_loop
from tocsin.testing.oauth import OAuthTestServer
from tocsin.testing.protocol import _MECHANISMS, _TestSMTP
from tocsin.testing.recording import ReceivedMessage, RecordingHandler

TLSMode = Literal["none", "implicit", "starttls"]
"""``none``: plain text; ``implicit``: TLS from the first byte; ``starttls``: RFC 3207."""

_WAIT = 10.0  # bound on every internal wait (start, stop, thread join)


class BaseSMTPTestServer:
    """What `SMTPTestServer` and `ThreadedSMTPTestServer` share: options, records, faults.

    Options (keyword-only):
        host: loopback address to listen on (``127.0.0.1`` or ``::1``); the port is free.
        tls: ``none``, ``implicit`` (TLS from the first byte) or ``starttls``.
        ca: the `TestCA` whose ``localhost`` certificate the server presents; one is made
            on first use if left out (see `ca`).
        server_context: present this context instead (e.g. ``ca.expired_server_context()``).
        require_starttls: with ``starttls``, answer 530 to everything but EHLO / NOOP /
            QUIT before STARTTLS.
        offer_starttls: False hides STARTTLS from the EHLO reply (a downgrade); a client
            that sends STARTTLS anyway still gets TLS.
        username, password: enable AUTH with this one account; None disables AUTH (not in
            EHLO, ``AUTH`` gets 503).
        auth_mechanisms: offered mechanisms, from PLAIN, LOGIN, CRAM-MD5, XOAUTH2 and
            OAUTHBEARER, listed in the EHLO reply in this order (clients such as
            Alertmanager take the first they know).  LOGIN challenges with ``Username:``
            and ``Password:``, as Postfix does.
        oauth: the `OAuthTestServer` that XOAUTH2 and OAUTHBEARER check bearer tokens
            against (a token must be active and may act for the user it names); a refused
            token gets the RFC 7628 error challenge, then 535.  Enables AUTH by itself.
        login_refusal: the 535 a wrong password gets (e.g. Google's ``535 5.7.8
            Username and Password not accepted. ...``).
        basic_auth_disabled: refuse every password with Exchange Online's ``535 5.7.139
            ... basic authentication is disabled``.
        smtp_client_auth_disabled: refuse even a valid OAuth2 token with Exchange Online's
            ``535 5.7.139 ... SmtpClientAuthentication is disabled for the Tenant``.
        send_as_check: refuse a MAIL FROM other than the logged-in user with Exchange
            Online's ``550 5.7.60 ... send as this sender`` (SendAsDenied).
        auth_required: 530 for MAIL / RCPT / DATA before a successful AUTH.
        auth_require_tls: offer and accept AUTH only over TLS; default True for
            ``starttls``, False otherwise (aiosmtpd counts only STARTTLS as TLS, so
            implicit TLS needs False).
        smtputf8: offer SMTPUTF8 (RFC 6531).
        pipelining: offer PIPELINING (RFC 2920).  aiosmtpd reads commands one line at a
            time and answers in order, so it copes with pipelined clients either way;
            this only tells clients they may pipeline.  `command_batches` shows how the
            commands arrived.
        hostname: the name in the greeting and EHLO reply.
        data_size_limit: SIZE limit; larger messages get 552.
        idle_timeout: seconds of client silence before the server hangs up.

    Raises:
        ValueError: unknown ``tls`` or mechanism.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: TLSMode = "none",
        ca: TestCA | None = None,
        server_context: ssl.SSLContext | None = None,
        require_starttls: bool = True,
        offer_starttls: bool = True,
        username: str | None = None,
        password: str = "",
        auth_mechanisms: Sequence[str] = ("PLAIN", "LOGIN"),
        oauth: OAuthTestServer | None = None,
        login_refusal: str = "535 5.7.8 Authentication credentials invalid",
        basic_auth_disabled: bool = False,
        smtp_client_auth_disabled: bool = False,
        send_as_check: bool = False,
        auth_required: bool = False,
        auth_require_tls: bool | None = None,
        smtputf8: bool = True,
        pipelining: bool = False,
        hostname: str = "localhost",
        data_size_limit: int = 32 * 1024 * 1024,
        idle_timeout: float = 60.0,
    ) -> None:
        if tls not in get_args(TLSMode):
            raise ValueError(f"tls must be one of {get_args(TLSMode)}, not {tls!r}")
        unknown = set(auth_mechanisms) - set(_MECHANISMS)
        if unknown:
            raise ValueError(f"unsupported AUTH mechanisms: {sorted(unknown)}")
        self.host = host
        self._listen_port = port  # 0: a free port; a fixed one lets a stopped server return
        self.tls: TLSMode = tls
        self._ca = ca
        self._server_context = server_context
        self.require_starttls = require_starttls
        self.offer_starttls = offer_starttls
        self.username = username
        self.password = password
        self.auth_mechanisms = tuple(auth_mechanisms)
        self.oauth = oauth
        self.bearer_attempts: list[tuple[str, str, bool]] = []
        """Every XOAUTH2 / OAUTHBEARER attempt: (mechanism, user, accepted)."""
        self.login_refusal = login_refusal
        self.basic_auth_disabled = basic_auth_disabled
        self.smtp_client_auth_disabled = smtp_client_auth_disabled
        self.send_as_check = send_as_check
        self.auth_required = auth_required
        self.auth_require_tls = tls == "starttls" if auth_require_tls is None else auth_require_tls
        self.smtputf8 = smtputf8
        self.pipelining = pipelining
        self.hostname = hostname
        self.data_size_limit = data_size_limit
        self.idle_timeout = idle_timeout
        self.faults = Faults()
        """Faults to inject; see `Faults`."""
        self.handler = RecordingHandler()
        """What the server received; `messages`, `commands`, `connections` are shortcuts."""
        self._server: asyncio.Server | None = None
        self._port: int | None = None
        self._protocols: set[_TestSMTP] = set()

    @property
    def auth_enabled(self) -> bool:
        """True when AUTH is offered: an account, or an OAuth server to check tokens."""
        return self.username is not None or self.oauth is not None

    @property
    def ca(self) -> TestCA:
        """The CA clients should trust (``srv.ca.ca_path``, ``srv.ca.client_context()``)."""
        if self._ca is None:
            self._ca = TestCA()
        return self._ca

    @property
    def tls_context(self) -> ssl.SSLContext:
        """The server-side TLS context (``server_context`` or the CA's ``localhost`` one)."""
        if self._server_context is None:
            self._server_context = self.ca.server_context()
        return self._server_context

    @property
    def port(self) -> int:
        """The listening port.  Raises RuntimeError before the server has started."""
        if self._port is None:
            raise RuntimeError("the server is not running")
        return self._port

    @property
    def messages(self) -> list[ReceivedMessage]:
        """Every accepted message, in order."""
        return self.handler.messages

    @property
    def command_lines(self) -> list[bytes]:
        """Every line read outside message content, raw, with its line ending."""
        return self.handler.command_lines

    @property
    def commands(self) -> list[str]:
        """`command_lines` as text without the line ending (UTF-8, surrogateescape)."""
        return [
            line.rstrip(b"\r\n").decode("utf-8", "surrogateescape")
            for line in self.handler.command_lines
        ]

    @property
    def command_batches(self) -> list[list[str]]:
        """`commands` grouped by the network read that brought them in.

        Lines a client wrote together (a pipelined group: ``MAIL``, ``RCPT``…, ``DATA``)
        arrive in one read and share a group; a client that waits for each reply makes
        groups of one.  Message content is not included.
        """
        batches: list[list[str]] = []
        last: tuple[int, int] | None = None
        for text, read in zip(self.commands, self.handler.command_reads, strict=True):
            if read != last:
                batches.append([])
                last = read
            batches[-1].append(text)
        return batches

    @property
    def connections(self) -> int:
        """Number of TCP connections accepted so far."""
        return self.handler.connections

    async def _astart(self) -> None:
        if self._server is not None:
            raise RuntimeError("the server is already running")
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _TestSMTP(self, loop),
            host=self.host,
            port=self._listen_port,
            ssl=self.tls_context if self.tls == "implicit" else None,
        )
        self._port = int(self._server.sockets[0].getsockname()[1])

    async def _astop(self) -> None:
        server, self._server, self._port = self._server, None, None
        if server is None:
            return
        server.close()
        protocols = list(self._protocols)
        for protocol in protocols:
            protocol.abort()
        await server.wait_closed()
        # Wait until every connection is gone and its command loop has ended, so nothing
        # is left pending on the loop (no "Task was destroyed" or ResourceWarning).
        waits: list[asyncio.Future[Any]] = [p._lost for p in protocols]
        waits += [p._handler_coroutine for p in protocols if p._handler_coroutine is not None]
        if waits:
            await asyncio.wait(waits, timeout=_WAIT)


class SMTPTestServer(BaseSMTPTestServer):
    """An SMTP test server on the caller's running event loop.

    ``async with SMTPTestServer(...) as srv:`` starts it on a free port (`host`, `port`)
    and stops it, closing open connections.  Options: see `BaseSMTPTestServer`.
    """

    async def start(self) -> Self:
        """Listen on `host` and a free port.  Raises RuntimeError if already running."""
        await self._astart()
        return self

    async def stop(self) -> None:
        """Stop listening and abort open connections; a no-op when not running."""
        await self._astop()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


class ThreadedSMTPTestServer(BaseSMTPTestServer):
    """An SMTP test server on its own event-loop thread, for sync code and subprocesses.

    ``with ThreadedSMTPTestServer(...) as srv:`` or `start()` / `stop()`.  `faults` may be
    changed from any thread.  Options: see `BaseSMTPTestServer`.
    """

    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None

    def start(self) -> Self:
        """Start the loop thread and listen.  Raises RuntimeError if already running."""
        if self._thread is not None:
            raise RuntimeError("the server is already running")
        loop = asyncio.new_event_loop()
        thread = threading.Thread(
            target=self._run_loop, args=(loop,), name="tocsin-smtp-test-server", daemon=True
        )
        self._loop, self._thread = loop, thread
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._astart(), loop).result(_WAIT)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop listening, abort open connections, end the thread; a no-op if not running."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._astop(), loop).result(_WAIT)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(_WAIT)
            self._loop = self._thread = None

    @staticmethod
    def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            try:
                finish_loop(loop)
            finally:
                asyncio.set_event_loop(None)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
