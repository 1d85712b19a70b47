"""What a test server received: `RecordingHandler` and its `ReceivedMessage` records."""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from email.message import EmailMessage

from aiosmtpd.smtp import SMTP, Envelope, Session

from tocsin.testing.protocol import _TestSMTP


@dataclass(frozen=True)
class ReceivedMessage:
    """One message the server accepted (it answered 250 after the final dot)."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    """The DATA content exactly as received, dot-unstuffed (aiosmtpd ``original_content``)."""
    mail_options: tuple[str, ...]
    rcpt_options: tuple[str, ...]
    smtp_utf8: bool
    login: str | None
    """User name of a successful AUTH, None without AUTH."""
    tls: bool
    """True if the message came over TLS (implicit or after STARTTLS)."""
    helo: str | None
    connection: int
    """Number of the connection (1 = the server's first) that carried the message."""

    def message(self) -> EmailMessage:
        """Parse `raw` into an `EmailMessage` (``email.policy.default``)."""
        return email.message_from_bytes(self.raw, policy=email.policy.default)


class RecordingHandler:
    """aiosmtpd handler that keeps what a server received; shared by all its connections."""

    def __init__(self) -> None:
        self.messages: list[ReceivedMessage] = []
        """Every accepted message, in order."""
        self.command_lines: list[bytes] = []
        """Every line read outside DATA content (commands and AUTH responses), with CRLF."""
        self.command_reads: list[tuple[int, int]] = []
        """For each of `command_lines`: (connection, number of the network read on that
        connection that brought the line's end).  Lines written together share one."""
        self.connections = 0
        """Number of TCP connections accepted so far."""

    async def handle_EHLO(  # noqa: N802 (aiosmtpd hook name)
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        """Let a `BaseSMTPTestServer` hide STARTTLS or AUTH from the EHLO reply."""
        session.host_name = hostname  # the 5-argument hook must do this itself
        if isinstance(server, _TestSMTP):
            return server.filter_ehlo(responses)
        return responses

    async def handle_DATA(  # noqa: N802 (aiosmtpd hook name)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        """Apply ``data_end`` faults, then record the message and accept it."""
        connection = 0
        if isinstance(server, _TestSMTP):
            reply = await server.data_end_reply()
            if reply is not None:
                return reply
            connection = server.connection
        transport = server.transport
        self.messages.append(
            ReceivedMessage(
                mail_from=envelope.mail_from or "",
                rcpt_tos=tuple(envelope.rcpt_tos),
                raw=envelope.original_content or b"",
                mail_options=tuple(envelope.mail_options),
                rcpt_options=tuple(envelope.rcpt_options),
                smtp_utf8=envelope.smtp_utf8,
                login=session.auth_data if session.authenticated else None,
                tls=transport is not None and transport.get_extra_info("ssl_object") is not None,
                helo=session.host_name,
                connection=connection,
            )
        )
        return "250 2.0.0 OK queued"
