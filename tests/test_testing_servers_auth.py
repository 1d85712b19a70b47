"""AUTH on the `tocsin.testing` servers as deployed servers do it (issue 15): mechanisms in
the order given, LOGIN challenging ``Username:`` / ``Password:``; proven on the wire and
with the strictest real client, Prometheus Alertmanager (Go's net/smtp)."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import aiosmtplib
import pytest

from smtp_clients import EmailReceiver, alertmanager, unique_alertname
from tocsin.testing import SMTPTestServer, ThreadedSMTPTestServer

USER, PASSWORD = "tocsin", "s3cret pass"


def b64(text: str) -> bytes:
    return base64.b64encode(text.encode())


@pytest.mark.parametrize(
    ("mechanisms", "line"),
    [
        (("PLAIN", "LOGIN"), "AUTH PLAIN LOGIN"),
        (("LOGIN", "CRAM-MD5", "PLAIN"), "AUTH LOGIN CRAM-MD5 PLAIN"),
        (("CRAM-MD5",), "AUTH CRAM-MD5"),
    ],
)
async def test_mechanisms_are_listed_in_the_order_given(
    mechanisms: tuple[str, ...], line: str
) -> None:
    server = SMTPTestServer(
        tls="implicit", username=USER, password=PASSWORD, auth_mechanisms=mechanisms
    )
    async with server as srv:
        smtp = aiosmtplib.SMTP(
            hostname=srv.host, port=srv.port, use_tls=True, tls_context=srv.ca.client_context()
        )
        async with smtp:
            ehlo = await smtp.ehlo()
    assert line in ehlo.message.splitlines()


async def test_the_default_offers_plain_first() -> None:
    async with SMTPTestServer(tls="starttls", username=USER, password=PASSWORD) as srv:
        smtp = aiosmtplib.SMTP(
            hostname=srv.host, port=srv.port, start_tls=True, tls_context=srv.ca.client_context()
        )
        async with smtp:
            ehlo = await smtp.ehlo()
    assert "AUTH PLAIN LOGIN" in ehlo.message.splitlines()


async def test_login_challenges_username_and_password() -> None:
    async with SMTPTestServer(tls="starttls", username=USER, password=PASSWORD) as srv:
        smtp = aiosmtplib.SMTP(
            hostname=srv.host, port=srv.port, start_tls=True, tls_context=srv.ca.client_context()
        )
        async with smtp:
            await smtp.ehlo()
            asked = await smtp.execute_command(b"AUTH", b"LOGIN")
            assert (asked.code, asked.message) == (334, "VXNlcm5hbWU6")  # "Username:"
            asked = await smtp.execute_command(b64(USER))
            assert (asked.code, asked.message) == (334, "UGFzc3dvcmQ6")  # "Password:"
            done = await smtp.execute_command(b64(PASSWORD))
            assert done.code == 235
    start = srv.commands.index("AUTH LOGIN")
    assert srv.commands[start : start + 3] == [
        "AUTH LOGIN",
        b64(USER).decode(),
        b64(PASSWORD).decode(),
    ]


def test_alertmanager_logs_in_with_login(tmp_path: Path) -> None:
    # LOGIN alone, so Alertmanager's strict LOGIN (Go) must get along with the challenges.
    server = ThreadedSMTPTestServer(
        tls="starttls",
        username=USER,
        password=PASSWORD,
        auth_mechanisms=("LOGIN",),
        auth_required=True,
    )
    subject = unique_alertname()
    with server as srv:
        receiver = EmailReceiver(
            smarthost=f"127.0.0.1:{srv.port}",
            username=USER,
            password=PASSWORD,
            sender="alertmanager@example.test",
            to="ops@example.net",
            ca_file=srv.ca.ca_path,
        )
        with alertmanager(receiver, tmp_path) as am:
            am.post_alert(subject)
            deadline = time.monotonic() + 20
            while not srv.messages and time.monotonic() < deadline:
                time.sleep(0.05)
            assert srv.messages, f"nothing arrived in 20 s; alertmanager's log:\n{am.log_text()}"
        (got,) = srv.messages
        assert "AUTH LOGIN" in srv.commands
    assert got.login == USER
    assert got.tls
    assert got.message()["Subject"] == subject
    assert got.rcpt_tos == ("ops@example.net",)
