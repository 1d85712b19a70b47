"""The real Postfix test instance (fixture ``real_smtp``) works as the tests expect."""

from __future__ import annotations

import asyncio
import ssl
import uuid
from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib
import pytest

from helpers import MessageMatch, RealSMTP, wait_for_delivery

pytestmark = pytest.mark.postfix

TIMEOUT = 10.0


def message() -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"] = "alarm@example.test", "ops@example.net"
    msg["Subject"] = f"Fire alarm {uuid.uuid4()}"
    msg["Message-ID"] = make_msgid(domain="tocsin.test")
    msg.set_content("Smoke detector 3 in server room A\n")
    return msg


def client(
    real_smtp: RealSMTP, port: int, *, use_tls: bool = False, start_tls: bool = False
) -> aiosmtplib.SMTP:
    """A client verifying the instance's certificate for ``localhost``."""
    return aiosmtplib.SMTP(
        hostname=real_smtp.tls_name,
        port=port,
        timeout=TIMEOUT,
        use_tls=use_tls,
        start_tls=start_tls,
        tls_context=real_smtp.client_context(),
    )


async def delivered(real_smtp: RealSMTP, match: MessageMatch) -> EmailMessage:
    """wait_for_delivery off the event loop."""
    return await asyncio.to_thread(wait_for_delivery, real_smtp, match)


async def test_implicit_tls_with_auth(real_smtp: RealSMTP) -> None:
    msg = message()
    async with client(real_smtp, real_smtp.smtps_port, use_tls=True) as smtp:
        await smtp.login(real_smtp.user, real_smtp.password)
        errors, _ = await smtp.send_message(msg)
    assert errors == {}
    got = await delivered(real_smtp, msg["Message-ID"])
    assert got["Subject"] == msg["Subject"]
    received = str(got["Received"])
    assert "Authenticated sender: tocsin@localhost" in received
    assert "TLS" in received


async def test_starttls_with_auth(real_smtp: RealSMTP) -> None:
    msg = message()
    async with client(real_smtp, real_smtp.submission_port, start_tls=True) as smtp:
        assert smtp.get_transport_info("ssl_object") is not None
        await smtp.login(real_smtp.user, real_smtp.password)
        await smtp.send_message(msg)
    got = await delivered(real_smtp, lambda m: m["Subject"] == msg["Subject"])
    assert "Authenticated sender" in str(got["Received"])


async def test_wrong_password_is_535(real_smtp: RealSMTP) -> None:
    async with client(real_smtp, real_smtp.smtps_port, use_tls=True) as smtp:
        with pytest.raises(aiosmtplib.SMTPAuthenticationError) as failed:
            await smtp.login(real_smtp.user, "not-the-password")
    assert failed.value.code == 535


async def test_no_auth_on_smtps_port_is_refused_at_rcpt(real_smtp: RealSMTP) -> None:
    async with client(real_smtp, real_smtp.smtps_port, use_tls=True) as smtp:
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
            await smtp.send_message(message())
    assert [r.code for r in refused.value.recipients] == [554]


async def test_plain_port_offers_no_starttls_but_delivers(real_smtp: RealSMTP) -> None:
    with pytest.raises(aiosmtplib.SMTPException, match="STARTTLS"):
        async with client(real_smtp, real_smtp.plain_port, start_tls=True):
            pass
    msg = message()
    async with client(real_smtp, real_smtp.plain_port) as smtp:
        await smtp.ehlo()
        assert "starttls" not in smtp.esmtp_extensions
        assert "auth" not in smtp.esmtp_extensions
        await smtp.send_message(msg)
    got = await delivered(real_smtp, msg["Message-ID"].strip("<>"))
    assert "Authenticated sender" not in str(got["Received"])


async def test_system_trust_store_rejects_the_test_ca(real_smtp: RealSMTP) -> None:
    smtp = aiosmtplib.SMTP(
        hostname=real_smtp.tls_name,
        port=real_smtp.smtps_port,
        timeout=TIMEOUT,
        use_tls=True,
        tls_context=ssl.create_default_context(),
    )
    with pytest.raises(aiosmtplib.SMTPConnectError) as failed:
        await smtp.connect()
    assert isinstance(failed.value.__cause__, ssl.SSLCertVerificationError)
