"""The aiosmtpd protocol of the test servers: recording, faults and options per connection."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
import re
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, NoReturn, SupportsIndex, cast

from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, LoginPassword, Session, syntax
from aiosmtpd.smtp import auth_mechanism as _auth_mechanism

from tocsin.signin.sasl import (
    Mechanism,
    SASLSyntaxError,
    error_challenge,
    parse_initial_response,
)

if TYPE_CHECKING:
    from asyncio.streams import _ReaduntilBuffer  # typeshed-only name

    from tocsin.testing.servers import BaseSMTPTestServer

_MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2", "OAUTHBEARER")
_RCPT_ADDRESS = re.compile(r"TO:\s*<?([^<>\s]*)>?", re.IGNORECASE)
_MAIL_ADDRESS = re.compile(r"FROM:\s*<?([^<>\s]*)>?", re.IGNORECASE)


class _HideLoginDataWarning(logging.Filter):
    """aiosmtpd 1.4.6 logs a deprecation of its own ``Session.login_data`` on every AUTH."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in record.getMessage()


_mail_log = logging.getLogger("mail.log")
if not any(isinstance(f, _HideLoginDataWarning) for f in _mail_log.filters):
    _mail_log.addFilter(_HideLoginDataWarning())


class _LineReader(asyncio.StreamReader):
    """StreamReader that reports every line read, and which network read brought it;
    swapped in by `_TestSMTP`."""

    on_line: Callable[[bytes, bool, int], Awaitable[None]]
    reads: int  # network reads so far
    unread: deque[list[int]]  # [read number, bytes not yet handed out] per read

    def start_tracking(self) -> None:
        """Set up the read tracking (the class is swapped in after ``__init__``)."""
        self.reads = 0
        self.unread = deque()

    def feed_data(self, data: Iterable[SupportsIndex]) -> None:
        before = len(self._buffer)  # type: ignore[attr-defined]
        super().feed_data(data)
        self.reads += 1
        self.unread.append([self.reads, len(self._buffer) - before])  # type: ignore[attr-defined]

    def _read_of_last_byte(self, size: int) -> int:
        """Hand out ``size`` bytes; the number of the read that brought the last one."""
        read = self.reads
        while size > 0 and self.unread:
            read, left = self.unread[0]
            taken = min(size, left)
            size -= taken
            if taken == left:
                self.unread.popleft()
            else:
                self.unread[0][1] -= taken
        if not self._buffer:  # type: ignore[attr-defined]
            self.unread.clear()  # in step again, whatever aiosmtpd skipped
        return read

    async def readuntil(self, separator: _ReaduntilBuffer = b"\n") -> bytes:
        line = await super().readuntil(separator)
        read = self._read_of_last_byte(len(line))
        # aiosmtpd reads commands (and AUTH responses) up to b"\n", DATA content up to
        # b"\r\n" (RFC 5321 §2.3.8): that is how content is told from commands.
        await self.on_line(line, separator == b"\r\n", read)
        return line


class _TestSMTP(SMTP):
    """aiosmtpd's SMTP protocol with recording, faults and the server's options.

    AUTH as deployed servers do it, not as aiosmtpd does by default: the mechanisms in the
    order the server was given (aiosmtpd sorts them, LOGIN before PLAIN, and clients such
    as Alertmanager take the first they know), and LOGIN's challenges ``Username:`` and
    ``Password:`` (Postfix's, through Cyrus SASL) instead of ``User Name\\0``, which Go's
    net/smtp clients refuse.  aiosmtpd base64-encodes the challenges itself.
    """

    AuthLoginUsernameChallenge = "Username:"
    AuthLoginPasswordChallenge = "Password:"

    def __init__(self, owner: BaseSMTPTestServer, loop: asyncio.AbstractEventLoop) -> None:
        self._owner = owner
        self._data_lines = 0
        self._drop_after: int | None = None
        self._lost = loop.create_future()
        owner.handler.connections += 1
        self.connection = owner.handler.connections
        excluded = [m for m in _MECHANISMS if m not in owner.auth_mechanisms]
        super().__init__(
            owner.handler,
            hostname=owner.hostname,
            tls_context=owner.tls_context if owner.tls == "starttls" else None,
            require_starttls=owner.require_starttls,
            enable_SMTPUTF8=owner.smtputf8,
            data_size_limit=owner.data_size_limit,
            timeout=owner.idle_timeout,
            # auth_required is enforced by check_auth_needed below: aiosmtpd warns when it
            # is combined with auth_require_tls=False, as implicit TLS needs.
            auth_required=False,
            auth_require_tls=owner.auth_require_tls,
            auth_exclude_mechanism=excluded,
            authenticator=self._check_password,
            loop=loop,
        )
        for name, method in list(self._smtp_methods.items()):
            self._smtp_methods[name] = self._with_faults(name.lower(), method)

    # -- connection life cycle
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None
        super().connection_made(transport)
        if first:
            self._owner._protocols.add(self)

    def connection_lost(self, error: Exception | None) -> None:
        super().connection_lost(error)
        self._owner._protocols.discard(self)
        if not self._lost.done():
            self._lost.set_result(None)

    def _cb_client_connected(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        # aiosmtpd reads its own StreamReader; turning that very object into a _LineReader
        # is the one way to see every line without copying aiosmtpd's command loop.
        if not isinstance(reader, _LineReader):
            reader.__class__ = _LineReader
            cast(_LineReader, reader).start_tracking()
        cast(_LineReader, reader).on_line = self._on_line
        super()._cb_client_connected(reader, writer)

    def abort(self) -> None:
        """Tear the connection down now (server stop)."""
        transport = self.transport
        if isinstance(transport, asyncio.Transport):
            transport.abort()
        elif transport is not None:
            transport.close()

    async def _handle_client(self) -> None:
        if await self._fault_reply("connect") is None:
            await super()._handle_client()

    @syntax("STARTTLS", when="tls_context")
    async def smtp_STARTTLS(self, arg: str) -> None:  # noqa: N802 (aiosmtpd command name)
        """aiosmtpd's STARTTLS, except that losing the connection mid-handshake ends the session.

        When the TCP connection is closed or aborted with no error during the handshake (the
        server stopping, the idle timeout, or a client whose refusal is not yet read),
        asyncio's SSL layer wakes the handshake waiter with *success* but never calls
        ``connection_made`` or ``connection_lost`` on this protocol (it never connected it).
        aiosmtpd would then wait for the next command on a connection that is gone, for
        ever: nothing can close it a second time.
        """
        started = self._tls_protocol
        await super().smtp_STARTTLS(arg)
        transport = self.transport
        if (
            self._tls_protocol is not started  # a handshake was attempted
            and transport is not None  # connection_lost has not run
            and transport.get_extra_info("ssl_object") is None  # ... nor did TLS come up
        ):
            # Deliver the connection_lost the SSL layer swallowed, then end the command
            # loop the way a lost connection does.
            self.connection_lost(None)
            raise asyncio.CancelledError

    # -- recording and faults
    async def _on_line(self, line: bytes, in_data: bool, read: int) -> None:
        if not in_data:
            self._owner.handler.command_lines.append(line)
            self._owner.handler.command_reads.append((self.connection, read))
            return
        self._data_lines += 1
        if self._data_lines == 1:
            self._drop_after = self._owner.faults._take_data_drop()
        if self._drop_after is not None and (
            self._data_lines >= self._drop_after or line == b".\r\n"
        ):
            await self._hang_up()

    def _with_faults(
        self, stage: str, method: Callable[[str | None], Awaitable[None]]
    ) -> Callable[[str | None], Awaitable[None]]:
        async def run(arg: str | None) -> None:
            if stage == "auth" and not self._owner.auth_enabled:
                await self.push("503 5.5.1 Error: authentication not enabled")
                return
            recipient = None
            if stage == "rcpt" and arg and (found := _RCPT_ADDRESS.match(arg)):
                recipient = found.group(1)
            if stage == "data":
                self._data_lines = 0
            if stage == "mail" and (refusal := self._send_as_refusal(arg)) is not None:
                await self.push(refusal)
                return
            reply = await self._fault_reply(stage, recipient)
            if reply is None:
                await method(arg)
            else:
                await self.push(reply)

        return run

    def _send_as_refusal(self, arg: str | None) -> str | None:
        """Exchange Online's answer to a sender other than the signed-in mailbox."""
        assert self.session is not None
        user = self.session.auth_data
        if not self._owner.send_as_check or not isinstance(user, str) or not arg:
            return None
        found = _MAIL_ADDRESS.match(arg)
        if found is None or found.group(1).lower() == user.lower():
            return None
        return "550 5.7.60 SMTP; Client does not have permissions to send as this sender"

    async def _fault_reply(self, stage: str, recipient: str | None = None) -> str | None:
        """Apply the faults at ``stage``: the reply to give instead of the normal one, or
        None to carry on normally.  Drops and hangs never return."""
        seconds, rule = self._owner.faults._take(stage, recipient)
        if seconds:
            await asyncio.sleep(seconds)
        if rule is None:
            return None
        if rule.action == "drop":
            await self._hang_up()
        if rule.action == "hang":
            await self._wait_for_ever()
        if stage == "connect" or rule.reply.startswith("421"):
            await self.push(rule.reply)
            await self._hang_up()
        return rule.reply

    async def data_end_reply(self) -> str | None:
        """Called after the final dot: the fault reply to give, or None to accept."""
        return await self._fault_reply("data_end")

    async def _hang_up(self) -> NoReturn:
        # Close, then end aiosmtpd's command loop the way a lost connection does, so no
        # command already buffered is handled after the close.
        assert self.transport is not None
        self.transport.close()
        raise asyncio.CancelledError

    async def _wait_for_ever(self) -> NoReturn:
        # Ends with CancelledError when the client leaves, the idle timeout fires, or the
        # server stops.
        await asyncio.shield(self._lost)
        raise asyncio.CancelledError

    def filter_ehlo(self, responses: list[str]) -> list[str]:
        """Add PIPELINING, drop STARTTLS / AUTH, list the AUTH mechanisms in the order
        given, as the server is configured to offer."""
        if self._owner.pipelining:
            responses = [*responses[:1], "250-PIPELINING", *responses[1:]]
        hidden: list[str] = []
        if not self._owner.offer_starttls:
            hidden.append("250-STARTTLS")
        if not self._owner.auth_enabled:
            hidden.append("250-AUTH")
        return [
            self._auth_in_order(r) if r.startswith("250-AUTH ") else r
            for r in responses
            if not any(r.startswith(h) for h in hidden)
        ]

    def _auth_in_order(self, line: str) -> str:
        order = self._owner.auth_mechanisms
        offered = line.removeprefix("250-AUTH ").split()
        offered.sort(key=lambda m: order.index(m) if m in order else len(order))
        return f"250-AUTH {' '.join(offered)}"

    async def check_auth_needed(self, caller_method: str) -> bool:
        """530 for MAIL, RCPT, DATA, ... before a successful AUTH, if AUTH is required."""
        assert self.session is not None
        if self._owner.auth_required and not self.session.authenticated:
            await self.push("530 5.7.0 Authentication required")
            return True
        return False

    # -- AUTH
    def _login_ok(self, login: bytes) -> bool:
        username = self._owner.username
        return username is not None and hmac.compare_digest(login, username.encode())

    def _check_password(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and self._login_ok(auth_data.login)
            and hmac.compare_digest(auth_data.password, self._owner.password.encode())
        )
        login = auth_data.login.decode("utf-8", "replace") if ok else None
        refusal = self._owner.login_refusal
        if self._owner.basic_auth_disabled:
            ok, login = False, None
            refusal = "535 5.7.139 Authentication unsuccessful, basic authentication is disabled."
        if ok:
            return AuthResult(success=True, handled=False, auth_data=login)
        return AuthResult(success=False, handled=False, message=refusal)

    @_auth_mechanism("CRAM-MD5")
    async def auth_cram_md5(self, _server: SMTP, args: list[str]) -> AuthResult:
        """RFC 2195 CRAM-MD5, offered only when listed in ``auth_mechanisms``."""
        if len(args) > 1:
            await self.push("501 5.5.4 CRAM-MD5 takes no initial response")
            return AuthResult(success=False, handled=True)
        challenge = f"<{secrets.token_hex(8)}.{int(time.time())}@{self.hostname}>".encode()
        response = await self.challenge_auth(challenge)
        if response is MISSING:  # challenge_auth has replied already
            return AuthResult(success=False, handled=True)
        assert isinstance(response, bytes)
        login, _, digest = response.partition(b" ")
        key = self._owner.password.encode()
        expected = hmac.new(key, challenge, "md5").hexdigest().encode()
        ok = self._login_ok(login) and hmac.compare_digest(digest, expected)
        return AuthResult(success=ok, handled=False, auth_data=login.decode() if ok else None)

    # -- AUTH with an OAuth2 bearer token (RFC 7628, and XOAUTH2)
    @_auth_mechanism("XOAUTH2")
    async def auth_xoauth2(self, _server: SMTP, args: list[str]) -> AuthResult:
        """XOAUTH2, offered when listed; the token is checked against the server's `oauth`."""
        return await self._bearer(Mechanism.XOAUTH2, args)

    @_auth_mechanism("OAUTHBEARER")
    async def auth_oauthbearer(self, _server: SMTP, args: list[str]) -> AuthResult:
        """RFC 7628 OAUTHBEARER, offered when listed; checked like XOAUTH2."""
        return await self._bearer(Mechanism.OAUTHBEARER, args)

    async def _bearer(self, mechanism: Mechanism, args: list[str]) -> AuthResult:
        if len(args) > 1:
            try:
                raw = b"" if args[1] == "=" else base64.b64decode(args[1], validate=True)
            except binascii.Error:
                await self.push("501 5.5.2 Can't decode base64")
                return AuthResult(success=False, handled=True)
        else:
            response = await self.challenge_auth(b"")
            if response is MISSING:
                return AuthResult(success=False, handled=True)
            assert isinstance(response, bytes)
            raw = response
        try:
            creds = parse_initial_response(mechanism, raw)
        except SASLSyntaxError as exc:
            self._owner.bearer_attempts.append((mechanism.value, "", False))
            await self.push(f"501 5.5.2 {mechanism.value}: {exc}")
            return AuthResult(success=False, handled=True)
        oauth = self._owner.oauth
        ok = oauth is not None and oauth.check(creds.token.reveal(), creds.user)
        self._owner.bearer_attempts.append((mechanism.value, creds.user, ok))
        if ok and self._owner.smtp_client_auth_disabled:
            # Exchange Online: a valid token, but SMTP AUTH is off for the mailbox/tenant.
            return AuthResult(
                success=False,
                handled=False,
                message="535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication "
                "is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for "
                "more information.",
            )
        if ok:
            return AuthResult(success=True, handled=False, auth_data=creds.user)
        # RFC 7628 §3.2.2: the error goes in a challenge; the client answers with a dummy
        # response (^A, or an empty line for XOAUTH2) and only then gets the failure.
        scope = oauth.scope_hint if oauth is not None else ""
        answer = await self.challenge_auth(error_challenge(mechanism, scope=scope))
        if answer is MISSING:
            return AuthResult(success=False, handled=True)
        return AuthResult(
            success=False,
            handled=False,
            message="535 5.7.3 Authentication unsuccessful",
        )
