"""RFC 2920 PIPELINING against the real Postfix (which offers it on every port)."""

from __future__ import annotations

import uuid

import pytest

from helpers import RealSMTP, wait_for_delivery
from tocsin.message import compose
from tocsin.secret import Secret
from tocsin.settings import EmailSettings, Encryption
from tocsin.transports import Outcome, SMTPSession

pytestmark = pytest.mark.postfix

SENDER = "alarm@example.com"
A, B, C = "a@example.net", "b@example.net", "c@example.net"


def settings(real_smtp: RealSMTP, port: int, **changes: object) -> EmailSettings:
    values: dict[str, object] = {
        "enabled": True,
        "sender_address": SENDER,
        "host": real_smtp.tls_name,
        "port": port,
        "encryption": Encryption.NONE,
        "ca_file": str(real_smtp.ca_path),
        "timeout": 5.0,
        "deadline": 20.0,
        "ehlo_name": "tocsin.test",
    }
    values.update(changes)
    return EmailSettings(**values)  # type: ignore[arg-type]


def alarm(*to: str, subject: str) -> object:
    return compose(sender=SENDER, to=list(to), subject=subject, text=".Fire\n.\nin room 1")


class WriteCounter:
    """Counts the writes aiosmtplib's protocol makes (observes; the bytes still go out)."""

    def __init__(self, session: SMTPSession) -> None:
        protocol = session.client.protocol
        assert protocol is not None
        self.writes: list[bytes] = []
        original = protocol.write

        def write(data: bytes) -> None:
            self.writes.append(data)
            original(data)

        protocol.write = write  # type: ignore[method-assign]


async def test_one_write_per_envelope_and_every_copy_delivered(real_smtp):
    session = SMTPSession(settings(real_smtp, real_smtp.plain_port))
    await session.open()
    assert session.client.supports_extension("pipelining")
    counter = WriteCounter(session)
    subjects = [f"pipelined {uuid.uuid4().hex} {i}" for i in range(2)]
    results = [await session.deliver(alarm(A, B, C, subject=s)) for s in subjects]
    await session.quit()
    assert all(r.all_accepted for r in results)
    assert results[0].server_reply.startswith("250 2.0.0 Ok: queued as ")
    # Per email: one write for MAIL + 3 RCPT + DATA, one for the content; then QUIT.
    assert len(counter.writes) == 5
    assert counter.writes[4] == b"QUIT\r\n"
    envelope = counter.writes[0].split(b"\r\n")
    assert envelope[0].startswith(b"MAIL FROM:<alarm@example.com> SIZE=")
    assert envelope[1:] == [b"RCPT TO:<a@example.net>", b"RCPT TO:<b@example.net>",
                            b"RCPT TO:<c@example.net>", b"DATA", b""]  # fmt: skip
    assert counter.writes[1].endswith(b"\r\n.\r\n")
    for subject in subjects:
        got = wait_for_delivery(real_smtp, lambda m, s=subject: m["Subject"] == s)
        assert got.get_content().replace("\r\n", "\n").startswith(".Fire\n.\nin room 1")


async def test_all_refused_then_reset_and_still_in_step(real_smtp):
    """Submission port without a login: Postfix refuses every recipient (relay access
    denied) and then the pipelined DATA (554 no valid recipients); RSET follows."""
    session = SMTPSession(
        settings(real_smtp, real_smtp.submission_port, encryption=Encryption.STARTTLS)
    )
    await session.open()
    counter = WriteCounter(session)
    first = await session.deliver(alarm(A, B, subject="refused"))
    assert session.usable
    second = await session.deliver(alarm(C, subject="refused again"))
    assert session.usable
    assert (await session.client.noop()).code == 250
    await session.quit()
    for result in (first, second):
        for r in result.recipients:
            assert (r.outcome, r.code) == (Outcome.PERMANENT, 554)
            assert "denied" in r.server_message
    assert [w.split(b" ", 1)[0].rstrip(b"\r\n") for w in counter.writes] == [
        b"MAIL", b"RSET", b"MAIL", b"RSET", b"NOOP", b"QUIT"
    ]  # fmt: skip


async def test_pipelined_over_starttls_with_auth(real_smtp):
    session = SMTPSession(
        settings(
            real_smtp,
            real_smtp.submission_port,
            encryption=Encryption.STARTTLS,
            username=real_smtp.user,
            password=Secret(real_smtp.password),
        )
    )
    await session.open()
    counter = WriteCounter(session)
    subject = f"pipelined tls {uuid.uuid4().hex}"
    result = await session.deliver(alarm(A, B, subject=subject))
    await session.quit()
    assert result.all_accepted
    assert len(counter.writes) == 3  # envelope, content, QUIT
    wait_for_delivery(real_smtp, lambda m: m["Subject"] == subject)
