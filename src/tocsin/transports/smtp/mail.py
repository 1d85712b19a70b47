"""The mail transactions of an SMTP session: MAIL FROM, RCPT TO, DATA, one after another.

When the server offers PIPELINING (RFC 2920) the envelope of a mail (MAIL FROM, every
RCPT TO and DATA) leaves in one write and the replies are read back in order; the
message follows the 354.  Mails sent back to back (:meth:`deliver_each`) go further:
RFC 2920 §3.1 lets message content open a command group, so each message leaves in
one write with the next mail's envelope - one write and one round trip per mail.
Without PIPELINING, one command at a time.  Each reply is judged at its own step
either way, with the same per-recipient results.

:class:`MailTransactions` is a part of :class:`~tocsin.transports.smtp.SMTPSession`, which
makes one over its open connection for each run of mails.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import aiosmtplib

from tocsin.errors import DeliveryError, DeliveryTimeout, Reason, Step
from tocsin.message import Mail
from tocsin.settings import EmailSettings
from tocsin.transports.base import DeliveryResult, Outcome, RecipientResult, Report
from tocsin.transports.smtp.connect import StepStatus
from tocsin.transports.smtp.replies import error_for_reply, recipient_verdict, session_must_close
from tocsin.transports.smtp.steps import SessionState
from tocsin.transports.smtp.wire import (
    Conversation,
    DeadlinePassed,
    command,
    message_data,
    path,
)

__all__ = ["MailTransactions"]

_DATA = b"DATA\r\n"
_Envelope = list[bytes] | DeliveryResult | ValueError
"""A mail's MAIL FROM and RCPT TO lines, or the outcome when it cannot be sent."""


class _Next:
    """The next mail's envelope, to leave with this mail's last write (its message, a
    lone dot or RSET): RFC 2920 §3.1 lets message content open a command group."""

    __slots__ = ("lines", "sent")

    def __init__(self, lines: tuple[bytes, ...]) -> None:
        self.lines = lines
        self.sent = False

    def send_last(self, wire: Conversation, *lines: bytes) -> None:
        """Write ``lines``, then the next envelope, in one write."""
        wire.send(*lines, *self.lines)
        self.sent = bool(self.lines)


class MailTransactions:
    """Sending mail over one open connection: the part of an ``SMTPSession`` that sends.

    Made by the session for each run over its current ``client``; it shares the
    session's :class:`~tocsin.transports.smtp.steps.SessionState` (the step boundary,
    the observer, whether the session is still in step).
    """

    def __init__(
        self, client: aiosmtplib.SMTP, state: SessionState, settings: EmailSettings
    ) -> None:
        self._client = client
        self._state = state
        self._settings = settings

    # ------------------------------------------------------------ one mail
    async def deliver(self, mail: Mail) -> DeliveryResult:
        """Send one message over the open session; per-recipient results as data.

        Raises:
            DeliveryError: nothing was delivered: MAIL FROM refused, 421 at any step (the
                session is closed), the connection lost, a reply late or malformed.
            ValueError: an address that is not safe on a command line (compose() never
                makes one); nothing was sent.
        """
        outcomes: list[DeliveryResult | Exception] = []
        await self.deliver_each([mail], lambda _, outcome: outcomes.append(outcome))
        (outcome,) = outcomes
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    # ------------------------------------------------------------ mails back to back
    async def deliver_each(
        self,
        mails: Sequence[Mail],
        report: Report,
        *,
        deadline: float | None = None,
        first_until: float | None = None,
    ) -> None:
        """Send ``mails`` in order; ``report(index, outcome)`` as each one ends.

        The outcome is the :class:`DeliveryResult`, or the exception that says nothing was
        delivered.  After a :class:`DeliveryError` (the session is then unusable), or when
        the session falls out of step, the remaining mails are not reported: send them on
        another session.  A mail with an unsafe address gets a ``ValueError`` and the
        others go on.  Each mail may take ``deadline`` seconds (the first one until the
        loop time ``first_until``, when given).
        """
        client = self._client
        pipelining = client.supports_extension("pipelining")
        loop = asyncio.get_running_loop()
        async with Conversation(client.protocol, timeout=self._settings.timeout) as wire:
            envelope: _Envelope | None = None
            sent = False  # whether the envelope already left, with the previous message
            for i, mail in enumerate(mails):
                if envelope is None:
                    envelope = self._envelope(mail)
                if not isinstance(envelope, list):  # refused before anything was sent
                    report(i, envelope)
                    envelope, sent = None, False
                    continue
                ahead = self._envelope(mails[i + 1]) if pipelining and i + 1 < len(mails) else None
                then = _Next((*ahead, _DATA) if isinstance(ahead, list) else ())
                until = first_until if i == 0 else None
                if until is None and deadline is not None:
                    until = loop.time() + deadline
                # The deadline is kept where the mail waits: for the server's replies.
                wire.until = until
                try:
                    result = await self._transaction(wire, mail, envelope, pipelining, sent, then)
                except DeliveryError as error:
                    report(i, error)
                    return
                except DeadlinePassed as exc:
                    self._state.usable = False
                    late = DeliveryTimeout(
                        f"the attempt took longer than the {deadline or 0:g} s deadline",
                        step=self._state.step,
                        reason=Reason.TIMEOUT,
                    )
                    late.__cause__ = exc
                    report(i, late)
                    return
                report(i, result)
                if not self._state.usable:
                    return
                envelope, sent = ahead, then.sent
            if not wire.in_step:
                self._state.usable = False  # the server said more than it was asked

    def _envelope(self, mail: Mail) -> _Envelope:
        """MAIL FROM and RCPT TO lines; a result or error instead when it cannot be sent."""
        client = self._client
        if mail.smtputf8 and not client.supports_extension("smtputf8"):
            return _everyone(
                mail,
                Outcome.PERMANENT,
                Reason.SMTPUTF8_UNSUPPORTED,
                Step.MAIL_FROM,
                "the server does not support internationalised addresses (SMTPUTF8)",
            )
        encoding = "utf-8" if mail.smtputf8 else "ascii"
        options = [b"SIZE=%d" % len(mail.content)] if client.supports_extension("size") else []
        if mail.smtputf8:
            options += [b"SMTPUTF8", b"BODY=8BITMIME"]  # RFC 6531 §3.4
        try:
            lines = [command(b"MAIL", b"FROM:" + path(mail.sender, encoding), *options)]
            lines += [command(b"RCPT", b"TO:" + path(r, encoding)) for r in mail.recipients]
        except ValueError as exc:
            return exc
        return lines

    # ------------------------------------------------------------ the steps of one mail
    async def _transaction(
        self,
        wire: Conversation,
        mail: Mail,
        envelope: list[bytes],
        pipelining: bool,
        sent: bool,
        then: _Next,
    ) -> DeliveryResult:
        with self._state.run(Step.MAIL_FROM, mail.sender):
            if sent:
                pass  # left with the previous mail's message
            elif pipelining:
                wire.send(*envelope, _DATA)  # RFC 2920 §3.1: DATA ends the group
            else:
                wire.send(envelope[0])
            reply = await wire.reply()
            if reply.code != 250:
                raise error_for_reply(Step.MAIL_FROM, reply.code, reply.message)
        self._state.emit(Step.MAIL_FROM, StepStatus.OK, mail.sender)
        results: dict[str, RecipientResult] = {}
        for recipient, line in zip(mail.recipients, envelope[1:], strict=True):
            refused = await self._rcpt(wire, recipient, None if pipelining else line)
            if refused is not None:
                results[recipient] = refused
        accepted = [r for r in mail.recipients if r not in results]
        if accepted:
            reply_text = await self._data(wire, mail, accepted, results, pipelining, then)
        else:
            reply_text = ""
            await self._end_empty(wire, pipelining, then)
        return DeliveryResult(tuple(results[r] for r in mail.recipients), reply_text)

    async def _rcpt(
        self, wire: Conversation, recipient: str, line: bytes | None
    ) -> RecipientResult | None:
        """Judge the reply to one RCPT TO (sending it first when not pipelining)."""
        with self._state.run(Step.RCPT_TO, recipient):
            if line is not None:
                wire.send(line)
            reply = await wire.reply()
            if session_must_close(reply.code):
                raise error_for_reply(Step.RCPT_TO, reply.code, reply.message)
        if reply.code in (250, 251):
            self._state.emit(Step.RCPT_TO, StepStatus.OK, recipient)
            return None
        outcome, reason = recipient_verdict(reply.code)
        self._state.emit(
            Step.RCPT_TO,
            StepStatus.FAIL,
            f"{reply.code} {reply.message}",
            recipient=recipient,
            code=reply.code,
        )
        return RecipientResult(recipient, outcome, reason, Step.RCPT_TO, reply.code, reply.message)

    async def _data(
        self,
        wire: Conversation,
        mail: Mail,
        accepted: list[str],
        results: dict[str, RecipientResult],
        pipelining: bool,
        then: _Next,
    ) -> str:
        """DATA and the message for the accepted recipients; the server's final reply."""
        with self._state.run(Step.DATA):
            if not pipelining:
                wire.send(_DATA)
            reply = await wire.reply()
            started = reply.code == 354
            if started:
                then.send_last(wire, message_data(mail.content))
                reply = await wire.reply()
            if session_must_close(reply.code):
                raise error_for_reply(Step.DATA, reply.code, reply.message)
        if reply.code != 250 or not started:
            temporary = reply.code // 100 == 4
            outcome = Outcome.TEMPORARY if temporary else Outcome.PERMANENT
            reason = Reason.MESSAGE_DEFERRED if temporary else Reason.MESSAGE_REJECTED
            for r in accepted:
                results[r] = RecipientResult(
                    r, outcome, reason, Step.DATA, reply.code, reply.message
                )
            self._state.emit(
                Step.DATA, StepStatus.FAIL, f"{reply.code} {reply.message}", code=reply.code
            )
            if not started:
                await self._reset(wire, then)  # DATA refused: the envelope still stands
            return ""
        text = f"{reply.code} {reply.message}"
        for r in accepted:
            results[r] = RecipientResult(
                r, Outcome.ACCEPTED, code=reply.code, server_message=reply.message
            )
        self._state.emit(Step.DATA, StepStatus.OK, text)
        self._state.last_used = time.monotonic()
        return text

    async def _end_empty(self, wire: Conversation, pipelining: bool, then: _Next) -> None:
        """Every recipient was refused: end the transaction without a message.

        The recipients' verdicts stand whatever happens here; a failure only closes the
        session.  RFC 2920 §3.1: a pipelined DATA must still be read, and if the server
        took it (354) anyway, a lone dot ends the empty message; otherwise RSET.
        """
        try:
            if pipelining:
                reply = await wire.reply()
                if reply.code == 354:
                    then.send_last(wire, b".\r\n")
                    reply = await wire.reply()
                    if session_must_close(reply.code):
                        self._state.usable = False
                    return
                if session_must_close(reply.code):
                    self._state.usable = False
                    return
            await self._reset(wire, then)
        except (aiosmtplib.SMTPException, OSError):
            self._state.usable = False

    async def _reset(self, wire: Conversation, then: _Next) -> None:
        """RSET (RFC 5321 §4.1.1.5); a session that cannot reset is not reused."""
        try:
            then.send_last(wire, b"RSET\r\n")
            reply = await wire.reply()
        except (aiosmtplib.SMTPException, OSError):
            self._state.usable = False
            return
        if reply.code != 250:
            self._state.usable = False


def _everyone(
    mail: Mail, outcome: Outcome, reason: Reason, step: Step, message: str
) -> DeliveryResult:
    return DeliveryResult(
        tuple(RecipientResult(r, outcome, reason, step, None, message) for r in mail.recipients)
    )
