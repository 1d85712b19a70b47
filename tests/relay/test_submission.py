"""The SMTP submission front: STARTTLS and AUTH required, same policies, swaks works."""

from __future__ import annotations

import asyncio
import base64
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiosmtplib
import pytest
from relay_support import SITE_SENDER, InProcessRelay, dkim_verifies, serve_options

from tocsin.relay.dkim_signer import DKIMKey
from tocsin.relay.mx import Destination, StaticResolver
from tocsin.relay.records import Device
from tocsin.relay.service import RelayService
from tocsin.testing import SMTPTestServer, TestCA

MESSAGE = (
    f"From: {SITE_SENDER}\r\nTo: ops@example.net\r\nSubject: Leak in plant room\r\n"
    "Message-ID: <leak-1@site.example.org>\r\n\r\nWater detected.\r\n"
).encode()


@pytest.fixture
async def mx(ca: TestCA) -> AsyncIterator[SMTPTestServer]:
    async with SMTPTestServer(tls="starttls", ca=ca) as server:
        yield server


@pytest.fixture
async def relay(
    service: RelayService, relay_cert: Path, mx: SMTPTestServer
) -> AsyncIterator[InProcessRelay]:
    resolver = StaticResolver({"example.net": [Destination("localhost", mx.port)]})
    options = serve_options(relay_cert, api=False, smtp=True, resolver=resolver)
    running = await asyncio.to_thread(InProcessRelay(service, options).start)
    yield running
    await running.astop()


def client(relay: InProcessRelay, ca: TestCA) -> aiosmtplib.SMTP:
    return aiosmtplib.SMTP(
        hostname="localhost",
        port=relay.ports["smtp_port"],
        start_tls=False,
        tls_context=ca.client_context(),
        timeout=10,
    )


async def test_plaintext_and_unauthenticated_submissions_are_refused(
    relay: InProcessRelay, ca: TestCA, device: tuple[str, Device], mx: SMTPTestServer
) -> None:
    smtp = client(relay, ca)
    await smtp.connect()
    try:
        await smtp.ehlo()
        assert smtp.supports_extension("starttls")
        assert not smtp.supports_extension("auth")
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as plain:
            await smtp.mail(SITE_SENDER)
        assert plain.value.code == 530  # Must issue a STARTTLS command first
        await smtp.starttls()
        await smtp.ehlo()
        assert smtp.supports_extension("auth")
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as anonymous:
            await smtp.mail(SITE_SENDER)
        assert anonymous.value.code == 530
        with pytest.raises(aiosmtplib.SMTPAuthenticationError) as wrong:
            await smtp.login("site-1", "tcr_wrong")
        assert wrong.value.code == 535
    finally:
        smtp.close()
    assert mx.messages == []


def b64(text: str) -> bytes:
    return base64.b64encode(text.encode())


async def test_auth_is_offered_and_challenged_the_way_clients_expect(
    relay: InProcessRelay, ca: TestCA, device: tuple[str, Device]
) -> None:
    # Issue 15: PLAIN listed first (clients like Alertmanager take the first they know),
    # and LOGIN challenges "Username:" / "Password:" (Go's net/smtp refuses others).
    smtp = client(relay, ca)
    await smtp.connect()
    try:
        await smtp.starttls()
        ehlo = await smtp.ehlo()
        assert "AUTH PLAIN LOGIN" in ehlo.message.splitlines()
        asked = await smtp.execute_command(b"AUTH", b"LOGIN")
        assert (asked.code, base64.b64decode(asked.message)) == (334, b"Username:")
        asked = await smtp.execute_command(b64("site-1"))
        assert (asked.code, base64.b64decode(asked.message)) == (334, b"Password:")
        refused = await smtp.execute_command(b64("tcr_wrong"))
        assert refused.code == 535
        # The user name as the initial response: only the password is asked for.
        asked = await smtp.execute_command(b"AUTH", b"LOGIN", b64("site-1"))
        assert (asked.code, asked.message) == (334, "UGFzc3dvcmQ6")
        accepted = await smtp.execute_command(b64(device[0]))
        assert accepted.code == 235
    finally:
        smtp.close()


async def test_policies_hold_on_the_smtp_front(
    relay: InProcessRelay, ca: TestCA, service: RelayService, mx: SMTPTestServer
) -> None:
    credential, _ = service.add_device("tiny", ["@site.example.org"], quota_per_hour=60, burst=1)
    smtp = client(relay, ca)
    await smtp.connect()
    try:
        await smtp.starttls()
        await smtp.login("tiny", credential)
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as foreign:
            await smtp.mail("ceo@bank.example.com")
        assert foreign.value.code == 553
        await smtp.rset()
        errors, reply = await smtp.sendmail(SITE_SENDER, ["ops@example.net"], MESSAGE)
        assert not errors
        assert "queued as msg_" in reply
        with pytest.raises(aiosmtplib.SMTPDataError) as over:
            await smtp.sendmail(SITE_SENDER, ["ops@example.net"], MESSAGE)
        assert over.value.code == 452
        assert "quota" in over.value.message
    finally:
        smtp.close()


async def test_swaks_delivers_with_starttls_and_auth(
    relay: InProcessRelay,
    ca: TestCA,
    device: tuple[str, Device],
    mx: SMTPTestServer,
    dkim_key: DKIMKey,
) -> None:
    swaks = shutil.which("swaks")
    assert swaks, "swaks is missing: run scripts/real-smtp/start.sh (it installs swaks)"
    args = [
        swaks, "--server", "localhost", "--port", str(relay.ports["smtp_port"]),
        "--tls", "--tls-verify", "--tls-ca-path", str(ca.ca_path),
        "--auth", "PLAIN", "--auth-user", "site-1", "--auth-password", device[0],
        "--from", SITE_SENDER, "--to", "ops@example.net",
        "--header", "Subject: swaks through the relay", "--body", "Door forced open.",
    ]  # fmt: skip
    done = await asyncio.to_thread(
        subprocess.run, args, capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "250 2.0.0 Ok: queued as msg_" in done.stdout
    for _ in range(200):
        if mx.messages:
            break
        await asyncio.sleep(0.05)
    assert len(mx.messages) == 1
    delivered = mx.messages[0]
    assert delivered.rcpt_tos == ("ops@example.net",)
    assert delivered.mail_from == "bounces@relay.example.com"
    assert delivered.tls
    assert dkim_verifies(delivered.raw, dkim_key)
