"""The wire of one mail transaction: command lines out, replies in, pipelined or not.

:class:`SMTPSession.deliver <tocsin.transports.smtp.SMTPSession.deliver>` borrows
aiosmtplib's connection for one transaction (MAIL, RCPT…, DATA, content, maybe RSET)
through a :class:`Conversation`.  With RFC 2920 PIPELINING the whole envelope goes out
in one write and the replies are read back in order; without it, one command at a time.

Why not aiosmtplib's own ``read_response()``: its protocol parses one reply per network
read and drops bytes that arrive while no command is waiting ("if multiple commands are
written to the transport without awaiting, response data will be lost").  Pipelined
replies arrive several to a read, so for the length of a transaction a
:class:`ReplyReader` stands in for aiosmtplib's protocol on the same transport
(``transport.set_protocol``), under aiosmtplib's command lock, and hands the
connection back afterwards.  Writes still go through aiosmtplib's ``protocol.write``;
a lost connection is still reported to aiosmtplib, so its client knows it is closed.

This is the one module that reaches below aiosmtplib's public API (its protocol
module's limits and helpers, the protocol's ``_command_lock``);
``tests/smtp/test_aiosmtplib_seam.py`` fails, naming what changed, if an upgrade breaks it.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Final

from aiosmtplib import SMTPReadTimeoutError, SMTPResponseException, SMTPServerDisconnected
from aiosmtplib.protocol import (
    MAX_LINE_LENGTH,
    MAX_RESPONSE_LENGTH,
    PERIOD_REGEX,
    SMTPProtocol,
    normalize_message_line_endings,
)
from aiosmtplib.response import SMTPResponse

__all__ = ["Conversation", "DeadlinePassed", "ReplyReader", "command", "message_data", "path"]

# What may never appear in a path on a command line: controls (CR and LF above all,
# which would end the line and start a command of the sender's choosing), space (which
# would start an ESMTP parameter), and the angle brackets that delimit the path.
_UNSAFE_IN_PATH: Final = re.compile(rb"[\x00-\x20\x7f<>]")
_UNSAFE_IN_COMMAND: Final = re.compile(rb"[\x00-\x1f\x7f]")


def path(address: str, encoding: str) -> bytes:
    """``<address>`` for MAIL FROM / RCPT TO (RFC 5321 §4.1.2).

    Addresses arrive validated (:func:`tocsin.message.compose`); this only refuses to put
    anything on the wire that could end the command or add a parameter.

    Raises:
        ValueError: the address holds a control character, space or angle bracket, or
            cannot be encoded (``ascii`` without SMTPUTF8).
    """
    try:
        raw = address.encode(encoding)
    except UnicodeEncodeError as exc:
        raise ValueError(f"refusing to send the address {address!r} without SMTPUTF8") from exc
    if not raw or _UNSAFE_IN_PATH.search(raw):
        raise ValueError(f"refusing to send the address {address!r}: unsafe character")
    return b"<" + raw + b">"


def command(*parts: bytes) -> bytes:
    """One command line with its CRLF.

    Raises:
        ValueError: a part holds a control character (CR, LF, NUL, …).
    """
    for part in parts:
        if _UNSAFE_IN_COMMAND.search(part):
            raise ValueError("refusing to send a command with a control character")
    return b" ".join(parts) + b"\r\n"


def message_data(content: bytes) -> bytes:
    """The message as sent after a 354: CRLF line ends, dot-stuffed, with the final dot.

    Exactly what aiosmtplib's own DATA path sends (RFC 5321 §4.5.2 transparency).
    """
    if (
        content.endswith(b"\r\n")
        and not content.startswith(b".")
        # As many CR as LF, and every CR before an LF: every LF after a CR, too.
        and content.count(b"\r") == content.count(b"\n")
        and _LONE_CR.search(content) is None
        and _DOT_LINE.search(content) is None
    ):
        return content + b".\r\n"  # already canonical (compose() makes it so): no copies
    return PERIOD_REGEX.sub(b"..", normalize_message_line_endings(content)) + b".\r\n"


# Found by the regex engine's literal scan: about twice as fast as bytes.find() or
# bytes.count() of a two-octet string on an alarm email (1.9 kB: 3.3 us for 5.4 us).
_LONE_CR: Final = re.compile(rb"\r(?!\n)")
_DOT_LINE: Final = re.compile(rb"\n\.")


class ReplyReader(asyncio.Protocol):
    """Reads every SMTP reply that arrives, however many come in one network read.

    Installed on aiosmtplib's transport by :class:`Conversation` for one transaction;
    passes flow control and the loss of the connection on to aiosmtplib's protocol.
    """

    def __init__(self, inner: SMTPProtocol) -> None:
        self._inner = inner
        self._buffer = bytearray()
        self._lines: list[bytes] = []  # of a multi-line reply still coming
        self._replies: deque[SMTPResponse] = deque()
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        # The wait's end (loop time) and what ends it then; one timer for every wait.
        self._expiry = 0.0
        self._late: Callable[[], Exception] = _read_timeout
        self._timer: asyncio.TimerHandle | None = None

    # --------------------------------------------------------- asyncio.Protocol
    def data_received(self, data: bytes) -> None:
        self._buffer += data
        try:
            self._parse()
        except SMTPResponseException as exc:
            self._fail(exc)
        self._wake()

    def eof_received(self) -> bool:
        self._fail(SMTPServerDisconnected("Unexpected EOF received"))
        return False  # close the transport, as aiosmtplib does

    def connection_lost(self, exc: Exception | None) -> None:
        error = SMTPServerDisconnected("Connection lost")
        error.__cause__ = exc
        self._fail(error)
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    # --------------------------------------------------------- replies
    def _parse(self) -> None:
        """Move every complete reply from the buffer to the queue (RFC 5321 §4.2).

        The complete lines leave the buffer in one piece and are split in one C pass
        (a mail's pipelined replies come four to a read); a one-line reply, the usual
        kind, goes to the queue without the list a multi-line one is gathered in.
        """
        buffer = self._buffer
        end = buffer.rfind(b"\n") + 1
        if end:
            if end == len(buffer):
                lines = bytes(buffer).split(b"\n")
                buffer.clear()
            else:
                lines = bytes(buffer[:end]).split(b"\n")
                del buffer[:end]
            lines.pop()  # what followed the last LF: nothing
            replies, gathered = self._replies, self._lines
            for line in lines:
                if len(line) >= MAX_LINE_LENGTH:  # its LF makes it longer than allowed
                    raise SMTPResponseException(-1, "Response too long")
                code = line[:3]
                if not code.isdigit():
                    text = line.decode("utf-8", "replace").rstrip()
                    raise SMTPResponseException(-1, f"Malformed SMTP response line: {text}")
                message = line[4:].strip(b" \t\r\n")
                if line[3:4] == b"-":
                    gathered.append(message)
                    continue
                if gathered:
                    gathered.append(message)
                    message = b"\n".join(gathered)
                    gathered = self._lines = []
                replies.append(SMTPResponse(int(code), message.decode("utf-8", "surrogateescape")))
        if len(buffer) + sum(map(len, self._lines)) > MAX_RESPONSE_LENGTH:
            raise SMTPResponseException(-1, "Response too long")

    def _fail(self, error: BaseException) -> None:
        if self._error is None:
            self._error = error
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def reply(self, timeout: float, until: float | None = None) -> SMTPResponse:
        """The next reply, waiting up to ``timeout`` seconds for it to arrive, and not
        past the loop time ``until`` (the mail's deadline), when given.

        Raises:
            SMTPServerDisconnected: the connection closed first.
            SMTPReadTimeoutError: nothing complete arrived in ``timeout`` seconds.
            DeadlinePassed: nothing complete arrived before ``until``.
            SMTPResponseException: the server sent something that is not a reply.
        """
        while not self._replies:
            if self._error is not None:
                raise self._error
            loop = asyncio.get_running_loop()
            expiry, late = loop.time() + timeout, _read_timeout
            if until is not None and until < expiry:
                expiry, late = until, DeadlinePassed
            self._expiry, self._late = expiry, late
            waiter = self._waiter = loop.create_future()
            self._watch(loop, expiry)
            try:
                await waiter
            finally:
                self._waiter = None
        return self._replies.popleft()

    def _watch(self, loop: asyncio.AbstractEventLoop, expiry: float) -> None:
        """Have the timer check the wait by ``expiry``.

        One timer serves every wait of the transaction (a timer made and cancelled per
        wait was a measurable part of a mail's CPU): it stays set while waits come and
        go, and a wait that ends later than it fires is set again by :meth:`_check`.
        """
        timer = self._timer
        if timer is not None and timer.when() <= expiry:
            return  # fires first: _check() looks at whatever wait is on then
        if timer is not None:
            timer.cancel()
        self._timer = loop.call_at(expiry, self._check)

    def _check(self) -> None:
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return  # no wait now: the next one sets the timer
        loop = waiter.get_loop()
        if loop.time() + _TIMER_SLACK < self._expiry:
            self._timer = loop.call_at(self._expiry, self._check)  # a later wait
        else:
            waiter.set_exception(self._late())

    def stop_watching(self) -> None:
        """Cancel the timer (the transaction is over)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    @property
    def idle(self) -> bool:
        """True when nothing arrived beyond the replies taken (the session is in step)."""
        return not (self._buffer or self._lines or self._replies or self._error)


class DeadlinePassed(Exception):
    """The mail's deadline came before the server's reply.

    Not an ``SMTPException``, ``OSError`` nor ``TimeoutError``: the step boundary
    (:meth:`~tocsin.transports.smtp.steps.SessionState.run`) lets it through as it is,
    and the sender reports the mail late (:class:`~tocsin.errors.DeliveryTimeout`).
    """


def _read_timeout() -> Exception:
    return SMTPReadTimeoutError("Timed out waiting for server response")


_TIMER_SLACK: Final = 0.001
"""Seconds a timer may fire early (the loop's clock is in milliseconds) and still end
the wait it was set for."""


class Conversation:
    """One mail transaction on aiosmtplib's connection: ``async with Conversation(...)``.

    Entering takes aiosmtplib's command lock and puts a :class:`ReplyReader` on the
    transport; leaving gives both back.  Entering never raises: on a connection that is
    already gone, the first :meth:`send` raises instead, inside the caller's step.
    """

    def __init__(self, protocol: SMTPProtocol | None, *, timeout: float) -> None:
        self._protocol = protocol
        self._timeout = timeout
        self._transport: asyncio.BaseTransport | None = None
        self._lock: asyncio.Lock | None = None
        self._reader: ReplyReader | None = None
        self.until: float | None = None
        """The current mail's deadline (loop time): no reply is waited for past it."""

    async def __aenter__(self) -> Conversation:
        protocol = self._protocol
        if protocol is None or not protocol.is_connected or protocol._command_lock is None:
            return self
        lock = protocol._command_lock
        await lock.acquire()
        self._lock = lock
        transport = protocol.transport
        if transport is None or transport.is_closing():
            return self  # lost while waiting for the lock
        self._reader = ReplyReader(protocol)
        self._transport = transport
        transport.set_protocol(self._reader)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        transport, self._transport = self._transport, None
        if self._reader is not None:
            self._reader.stop_watching()
        if transport is not None and transport.get_protocol() is self._reader:
            assert self._protocol is not None
            transport.set_protocol(self._protocol)
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.release()

    def send(self, *lines: bytes) -> None:
        """Write ``lines`` in one write (one TCP segment for a small group).

        Raises:
            SMTPServerDisconnected: the connection is gone.
        """
        if self._reader is None or self._protocol is None:
            raise SMTPServerDisconnected("Connection lost")
        self._protocol.write(lines[0] if len(lines) == 1 else b"".join(lines))

    async def reply(self) -> SMTPResponse:
        """The next reply, in the order the commands were sent, waited for until
        :attr:`until` at most; see :meth:`ReplyReader.reply`."""
        if self._reader is None:
            raise SMTPServerDisconnected("Connection lost")
        return await self._reader.reply(self._timeout, self.until)

    @property
    def in_step(self) -> bool:
        """True when the server sent nothing unasked and the connection still stands."""
        return self._reader is not None and self._reader.idle
