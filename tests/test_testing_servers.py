"""The in-process test servers of `tocsin.testing`, proven with a real client (aiosmtplib)."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import pytest

import tocsin.testing
from tocsin.testing import (
    BlackHole,
    SMTPTestServer,
    TestCA,
    ThreadedSMTPTestServer,
    closed_port,
    unused_port,
)

USER, PASSWORD = "tocsin", "s3cret pass"
TIMEOUT = 5.0  # client timeout for calls that should succeed


def message(subject: str = "Fire alarm", to: str = "ops@example.net") -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "alarm@example.test", to, subject
    msg.set_content("Smoke detector 3 in server room A\n")
    return msg


def client(srv: SMTPTestServer, *, timeout: float = TIMEOUT, **kwargs: Any) -> aiosmtplib.SMTP:
    """An aiosmtplib client for ``srv``: TLS as the server does it, trusting its CA."""
    if srv.tls == "implicit":
        kwargs.setdefault("use_tls", True)
    kwargs.setdefault("start_tls", srv.tls == "starttls")
    if srv.tls != "none":
        kwargs.setdefault("tls_context", srv.ca.client_context())
    return aiosmtplib.SMTP(
        hostname=srv.host, port=srv.port, timeout=timeout, local_hostname="client.test", **kwargs
    )


# ---------------------------------------------------------------------------- modes
async def test_plain_server_records_message_and_commands() -> None:
    async with SMTPTestServer() as srv, client(srv) as smtp:
        await smtp.ehlo()
        assert "starttls" not in smtp.esmtp_extensions
        assert "auth" not in smtp.esmtp_extensions
        errors, _ = await smtp.send_message(message("plain"))
    assert errors == {}
    (got,) = srv.messages
    assert got.mail_from == "alarm@example.test"
    assert got.rcpt_tos == ("ops@example.net",)
    assert got.message()["Subject"] == "plain"
    assert b"Smoke detector 3" in got.raw
    assert (got.tls, got.login, got.helo, got.connection) == (False, None, "client.test", 1)
    assert [c.split(" ")[0] for c in srv.commands] == ["EHLO", "MAIL", "RCPT", "DATA", "QUIT"]
    assert srv.commands[1].startswith("MAIL FROM:<alarm@example.test> ")
    assert srv.commands[2] == "RCPT TO:<ops@example.net>"
    assert all(line.endswith(b"\r\n") for line in srv.command_lines)
    assert srv.connections == 1


async def test_message_content_is_not_recorded_as_commands() -> None:
    msg = message()
    msg.set_content("RCPT TO:<evil@example.test>\n.leading dot\n")
    async with SMTPTestServer() as srv, client(srv) as smtp:
        await smtp.send_message(msg)
    assert "RCPT TO:<evil@example.test>" not in srv.commands
    assert b"RCPT TO:<evil@example.test>\r\n.leading dot\r\n" in srv.messages[0].raw


async def test_raw_command_lines_show_injected_commands() -> None:
    async with SMTPTestServer() as srv:
        reader, writer = await asyncio.open_connection(srv.host, srv.port)
        try:
            await asyncio.wait_for(reader.readline(), TIMEOUT)  # greeting
            writer.write(b"EHLO x\r\nNOOP one\nRSET\r\n")
            replies = [await asyncio.wait_for(reader.readline(), TIMEOUT) for _ in range(7)]
        finally:
            writer.close()
            await writer.wait_closed()
    assert replies[-2:] == [b"250 OK\r\n", b"250 OK\r\n"]
    assert srv.command_lines == [b"EHLO x\r\n", b"NOOP one\n", b"RSET\r\n"]


async def test_implicit_tls_with_auth_plain() -> None:
    async with (
        SMTPTestServer(tls="implicit", username=USER, password=PASSWORD, auth_required=True) as srv,
        client(srv) as smtp,
    ):
        assert smtp.get_transport_info("ssl_object") is not None
        await smtp.ehlo()
        assert set(smtp.server_auth_methods) == {"plain", "login"}
        await smtp.auth_plain(USER, PASSWORD)
        await smtp.send_message(message())
    (got,) = srv.messages
    assert (got.tls, got.login) == (True, USER)


async def test_implicit_tls_auth_login_and_wrong_password() -> None:
    async with (
        SMTPTestServer(tls="implicit", username=USER, password=PASSWORD) as srv,
        client(srv) as smtp,
    ):
        await smtp.ehlo()
        with pytest.raises(aiosmtplib.SMTPAuthenticationError) as failed:
            await smtp.auth_login(USER, "wrong")
        assert failed.value.code == 535
        await smtp.auth_login(USER, PASSWORD)
        await smtp.send_message(message())
    assert srv.messages[0].login == USER


async def test_auth_required_refuses_mail_without_login() -> None:
    async with (
        SMTPTestServer(tls="implicit", username=USER, password=PASSWORD, auth_required=True) as srv,
        client(srv) as smtp,
    ):
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
            await smtp.send_message(message())
    assert refused.value.code == 530
    assert srv.messages == []


async def test_cram_md5_when_enabled() -> None:
    mechanisms = ("PLAIN", "LOGIN", "CRAM-MD5")
    async with (
        SMTPTestServer(
            tls="implicit", username=USER, password=PASSWORD, auth_mechanisms=mechanisms
        ) as srv,
        client(srv) as smtp,
    ):
        await smtp.ehlo()
        assert "cram-md5" in smtp.server_auth_methods
        with pytest.raises(aiosmtplib.SMTPAuthenticationError) as failed:
            await smtp.auth_crammd5(USER, "wrong")
        assert failed.value.code == 535
        await smtp.auth_crammd5(USER, PASSWORD)
        await smtp.send_message(message())
    assert srv.messages[0].login == USER


async def test_starttls_required_before_auth_and_mail() -> None:
    async with (
        SMTPTestServer(tls="starttls", username=USER, password=PASSWORD, auth_required=True) as srv,
        client(srv, start_tls=False) as smtp,
    ):
        await smtp.ehlo()
        assert "starttls" in smtp.esmtp_extensions
        assert "auth" not in smtp.esmtp_extensions  # only after TLS
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
            await smtp.mail("alarm@example.test")
        assert refused.value.code == 530
        await smtp.starttls(tls_context=srv.ca.client_context())
        await smtp.login(USER, PASSWORD)
        await smtp.send_message(message())
    (got,) = srv.messages
    assert (got.tls, got.login) == (True, USER)
    assert "STARTTLS" in srv.commands


async def test_starttls_not_offered_makes_a_starttls_client_fail() -> None:
    async with SMTPTestServer(tls="starttls", offer_starttls=False) as srv:
        with pytest.raises(aiosmtplib.SMTPException, match="STARTTLS"):
            async with client(srv, start_tls=True):
                pass
        assert srv.messages == []
        assert "STARTTLS" not in srv.commands


async def test_auth_disabled_is_not_offered_and_refused() -> None:
    async with SMTPTestServer(tls="implicit") as srv, client(srv) as smtp:
        await smtp.ehlo()
        assert "auth" not in smtp.esmtp_extensions
        response = await smtp.execute_command(b"AUTH", b"PLAIN", b"AHUAcA==")
    assert response.code == 503


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
async def test_listens_on_ipv4_and_ipv6_loopback(host: str) -> None:
    async with SMTPTestServer(host=host, tls="implicit") as srv, client(srv) as smtp:
        await smtp.send_message(message())
    assert srv.messages[0].tls


async def test_smtputf8_on_and_off() -> None:
    to = "jürgen@bücher.example"
    async with SMTPTestServer(smtputf8=True) as srv, client(srv) as smtp:
        await smtp.ehlo()
        assert "smtputf8" in smtp.esmtp_extensions
        await smtp.send_message(message(to=to))
    (got,) = srv.messages
    assert got.rcpt_tos == (to,)
    assert got.smtp_utf8
    assert "SMTPUTF8" in got.mail_options
    async with SMTPTestServer(smtputf8=False) as srv, client(srv) as smtp:
        await smtp.ehlo()
        assert "smtputf8" not in smtp.esmtp_extensions
        response = await smtp.execute_command(b"MAIL", b"FROM:<a@b.test>", b"SMTPUTF8")
    assert response.code == 501


async def test_data_size_limit() -> None:
    msg = message()
    msg.set_content("x" * 2000)
    async with SMTPTestServer(data_size_limit=1000) as srv, client(srv) as smtp:
        await smtp.ehlo()
        assert smtp.esmtp_extensions["size"] == "1000"
        with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
            await smtp.send_message(msg)
    assert refused.value.code == 552


# ---------------------------------------------------------------------------- certificates
@pytest.mark.parametrize("bad", ["untrusted", "wrong_host", "expired"])
async def test_certificate_failures(bad: str) -> None:
    with TestCA() as ca:
        contexts = {
            "untrusted": ca.untrusted_server_context,
            "wrong_host": ca.wrong_host_server_context,
            "expired": ca.expired_server_context,
        }
        async with SMTPTestServer(tls="implicit", ca=ca, server_context=contexts[bad]()) as srv:
            with pytest.raises(aiosmtplib.SMTPConnectError) as failed:
                await client(srv).connect()
    assert isinstance(failed.value.__cause__, ssl.SSLCertVerificationError)
    assert srv.messages == []


def test_ca_path_is_a_pem_file_removed_on_close() -> None:
    ca = TestCA()
    assert ca.ca_path.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    ctx = ssl.create_default_context(cafile=str(ca.ca_path))
    assert ctx.cert_store_stats()["x509_ca"] == 1
    ca.close()
    assert not ca.ca_path.exists()


# ---------------------------------------------------------------------------- unfinished TLS
# A handshake that never finishes must not outlive the connection: asyncio's SSL layer then
# tells the protocol neither "connected" nor "lost", and stop() used to wait its full 10 s.
STOP_BOUND = 2.0  # seconds


async def test_leaving_the_block_is_quick_after_the_client_rejects_the_starttls_cert() -> None:
    with TestCA() as ca:
        context = ssl.create_default_context(cafile=str(ca.ca_path))
        server_context = ca.wrong_host_server_context()
        async with SMTPTestServer(tls="starttls", ca=ca, server_context=server_context) as srv:
            smtp = aiosmtplib.SMTP(hostname=srv.host, port=srv.port, timeout=TIMEOUT)
            await smtp.connect(start_tls=False)
            with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
                await smtp.starttls(server_hostname="localhost", tls_context=context)
            smtp.close()
            leaving = time.monotonic()
        assert time.monotonic() - leaving < STOP_BOUND
    assert srv.messages == []


async def test_leaving_the_block_is_quick_after_the_client_rejects_the_implicit_cert() -> None:
    with TestCA() as ca:
        server_context = ca.wrong_host_server_context()
        async with SMTPTestServer(tls="implicit", ca=ca, server_context=server_context) as srv:
            with pytest.raises(aiosmtplib.SMTPConnectError) as failed:
                await client(srv).connect()  # the certificate is not for 127.0.0.1
            leaving = time.monotonic()
        assert time.monotonic() - leaving < STOP_BOUND
    assert isinstance(failed.value.__cause__, ssl.SSLCertVerificationError)


async def test_leaving_the_block_is_quick_after_the_client_aborts_an_implicit_handshake() -> None:
    async with SMTPTestServer(tls="implicit") as srv:
        _, writer = await asyncio.open_connection(srv.host, srv.port)
        writer.write(b"\x16\x03\x01\x00\xff")  # start of a TLS ClientHello, then nothing
        await writer.drain()
        writer.transport.abort()
        await writer.wait_closed()
        leaving = time.monotonic()
    assert time.monotonic() - leaving < STOP_BOUND


@asynccontextmanager
async def starttls_then_silence(srv: SMTPTestServer) -> AsyncIterator[asyncio.StreamReader]:
    """Connect, send STARTTLS and read its 220, then never start the TLS handshake."""
    reader, writer = await asyncio.open_connection(srv.host, srv.port)
    try:
        await asyncio.wait_for(reader.readline(), TIMEOUT)  # greeting
        writer.write(b"EHLO client.test\r\nSTARTTLS\r\n")
        while not (line := await asyncio.wait_for(reader.readline(), TIMEOUT)).startswith(b"220 "):
            assert line.startswith(b"250")
        assert b"TLS" in line
        yield reader
    finally:
        writer.close()
        await writer.wait_closed()


async def test_stop_ends_a_connection_in_the_middle_of_the_starttls_handshake() -> None:
    srv = await SMTPTestServer(tls="starttls").start()
    async with starttls_then_silence(srv) as reader:
        stopping = time.monotonic()
        await srv.stop()
        assert time.monotonic() - stopping < STOP_BOUND
        assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""  # the server hung up


async def test_idle_timeout_ends_a_connection_stuck_in_the_starttls_handshake() -> None:
    async with SMTPTestServer(tls="starttls", idle_timeout=0.2) as srv:
        async with starttls_then_silence(srv) as reader:
            assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""  # the server hung up
        leaving = time.monotonic()
    assert time.monotonic() - leaving < STOP_BOUND


# ---------------------------------------------------------------------------- faults
@pytest.mark.parametrize("reply", ["421 4.3.2 busy", "554 5.3.2 no service"])
async def test_fault_reply_at_connect(reply: str) -> None:
    async with SMTPTestServer() as srv:
        srv.faults.reply_at("connect", reply)
        with pytest.raises(aiosmtplib.SMTPConnectResponseError) as refused:
            await client(srv).connect()
    assert refused.value.code == int(reply[:3])
    assert srv.commands == []


async def test_fault_fails_first_n_times_then_succeeds() -> None:
    async with SMTPTestServer() as srv:
        srv.faults.reply_at("connect", "421 4.3.2 busy", times=2)
        for _ in range(2):
            with pytest.raises(aiosmtplib.SMTPConnectResponseError):
                await client(srv).connect()
        async with client(srv) as smtp:
            await smtp.send_message(message())
    assert srv.connections == 3
    assert srv.messages[0].connection == 3
    assert not srv.faults


async def test_fault_reply_at_ehlo() -> None:
    async with SMTPTestServer() as srv:
        srv.faults.reply_at("ehlo", "550 5.7.1 go away")
        smtp = client(srv)
        await smtp.connect()
        with pytest.raises(aiosmtplib.SMTPHeloError) as refused:
            await smtp.ehlo()
        smtp.close()
    assert refused.value.code == 550


@pytest.mark.parametrize("reply", ["535 5.7.8 bad credentials", "454 4.7.0 temporary failure"])
async def test_fault_reply_at_auth(reply: str) -> None:
    async with SMTPTestServer(tls="implicit", username=USER, password=PASSWORD) as srv:
        srv.faults.reply_at("auth", reply, times=1)
        async with client(srv) as smtp:
            await smtp.ehlo()
            # auth_plain, not login(): login() would go on to try AUTH LOGIN.
            with pytest.raises(aiosmtplib.SMTPAuthenticationError) as failed:
                await smtp.auth_plain(USER, PASSWORD)
            assert failed.value.code == int(reply[:3])
            await smtp.auth_plain(USER, PASSWORD)  # times=1: the second AUTH succeeds
            await smtp.send_message(message())
    assert srv.messages[0].login == USER


async def test_pipelining_is_offered_on_request_and_batches_are_recorded() -> None:
    async with SMTPTestServer(pipelining=True) as srv:
        reader, writer = await asyncio.open_connection(srv.host, srv.port)

        async def replies(count: int) -> list[bytes]:
            got = []
            while len(got) < count:
                line = await asyncio.wait_for(reader.readline(), TIMEOUT)
                if line[3:4] != b"-":
                    got.append(line[:3])
            return got

        assert await replies(1) == [b"220"]
        writer.write(b"EHLO client.test\r\n")
        await replies(1)
        writer.write(
            b"MAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nRCPT TO:<c@x.test>\r\nDATA\r\n"
        )
        assert await replies(4) == [b"250", b"250", b"250", b"354"]
        writer.write(b"Subject: pipelined\r\n\r\nhello\r\n.\r\n")
        assert await replies(1) == [b"250"]
        writer.write(b"NOOP\r\n")
        await replies(1)
        writer.write(b"QUIT\r\n")
        await replies(1)
        writer.close()
        await writer.wait_closed()
    assert srv.command_batches == [
        ["EHLO client.test"],
        ["MAIL FROM:<a@x.test>", "RCPT TO:<b@x.test>", "RCPT TO:<c@x.test>", "DATA"],
        ["NOOP"],
        ["QUIT"],
    ]
    assert srv.messages[0].rcpt_tos == ("b@x.test", "c@x.test")


async def test_pipelining_is_offered_only_when_asked() -> None:
    for offered in (False, True):
        async with SMTPTestServer(pipelining=offered) as srv, client(srv) as smtp:
            await smtp.ehlo()
            assert ("pipelining" in smtp.esmtp_extensions) is offered


async def test_fault_reply_at_mail() -> None:
    async with SMTPTestServer() as srv, client(srv) as smtp:
        srv.faults.reply_at("mail", "451 4.3.0 try later")
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
            await smtp.send_message(message())
    assert refused.value.code == 451
    assert srv.messages == []


async def test_fault_reply_at_rcpt_per_recipient() -> None:
    async with SMTPTestServer() as srv, client(srv) as smtp:
        srv.faults.reply_at("rcpt", "451 4.2.0 try later", recipient="b@x.test")
        srv.faults.reply_at("rcpt", "550 5.1.1 no such user", recipient="c@x.test")
        errors, _ = await smtp.send_message(
            message(), recipients=["a@x.test", "b@x.test", "c@x.test"]
        )
    assert {r: e.code for r, e in errors.items()} == {"b@x.test": 451, "c@x.test": 550}
    assert srv.messages[0].rcpt_tos == ("a@x.test",)


@pytest.mark.parametrize("code", [452, 552, 554])
async def test_fault_reply_at_data_end(code: int) -> None:
    async with SMTPTestServer() as srv, client(srv) as smtp:
        srv.faults.reply_at("data_end", f"{code} 5.3.4 rejected")
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await smtp.send_message(message())
        assert smtp.is_connected
    assert refused.value.code == code
    assert srv.messages == []


async def test_fault_421_at_data_end_closes_the_connection() -> None:
    async with SMTPTestServer() as srv, client(srv) as smtp:
        srv.faults.reply_at("data_end", "421 4.3.2 shutting down")
        with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
            await smtp.send_message(message())
        assert refused.value.code == 421
        with pytest.raises(aiosmtplib.SMTPServerDisconnected):
            await smtp.noop()
    assert srv.messages == []


async def test_fault_drop_during_data() -> None:
    msg = message()
    msg.set_content("line\n" * 50)
    async with SMTPTestServer() as srv:
        srv.faults.drop_during_data(after_lines=3)
        with pytest.raises(aiosmtplib.SMTPServerDisconnected):
            async with client(srv) as smtp:
                await smtp.send_message(msg)
        assert srv.messages == []
        assert srv.commands[-1] == "DATA"
        async with client(srv) as smtp:  # the rule stays: every DATA is dropped
            with pytest.raises(aiosmtplib.SMTPServerDisconnected):
                await smtp.send_message(msg)
        srv.faults.clear()
        async with client(srv) as smtp:
            await smtp.send_message(msg)
    assert len(srv.messages) == 1


async def test_fault_drop_at_rcpt() -> None:
    async with SMTPTestServer() as srv:
        srv.faults.drop_at("rcpt")
        with pytest.raises(aiosmtplib.SMTPServerDisconnected):
            async with client(srv) as smtp:
                await smtp.send_message(message())
    assert srv.commands[-1] == "RCPT TO:<ops@example.net>"


async def test_fault_drop_after_the_final_dot() -> None:
    async with SMTPTestServer() as srv:
        srv.faults.drop_at("data_end", times=1)
        with pytest.raises(aiosmtplib.SMTPServerDisconnected):
            async with client(srv) as smtp:
                await smtp.send_message(message())
        assert srv.messages == []
        async with client(srv) as smtp:
            await smtp.send_message(message())
    assert [m.connection for m in srv.messages] == [2]


async def test_fault_delay_slows_a_reply() -> None:
    async with SMTPTestServer() as srv, client(srv) as smtp:
        srv.faults.delay("mail", 0.3, times=1)
        started = time.monotonic()
        await smtp.send_message(message())
        assert time.monotonic() - started >= 0.3
        srv.faults.delay("data_end", 2.0)
        with pytest.raises(aiosmtplib.SMTPTimeoutError):
            await smtp.send_message(message(), timeout=0.2)
    assert len(srv.messages) == 1


async def test_fault_black_hole_never_greets() -> None:
    async with SMTPTestServer() as srv:
        srv.faults.black_hole()
        with pytest.raises(aiosmtplib.SMTPConnectTimeoutError):
            await client(srv, timeout=0.3).connect()
        assert srv.connections == 1
        srv.faults.clear()
        async with client(srv) as smtp:
            await smtp.noop()
    assert srv.connections == 2


async def test_fault_hang_at_data_end() -> None:
    async with SMTPTestServer() as srv, client(srv) as smtp:
        srv.faults.hang_at("data_end")
        with pytest.raises(aiosmtplib.SMTPTimeoutError):
            await smtp.send_message(message(), timeout=0.2)
    assert srv.messages == []


async def test_fault_delay_and_reply_combine() -> None:
    async with SMTPTestServer() as srv, client(srv) as smtp:
        srv.faults.delay("rcpt", 0.2)
        srv.faults.reply_at("rcpt", "452 4.5.3 too many recipients")
        started = time.monotonic()
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
            await smtp.send_message(message())
        assert time.monotonic() - started >= 0.2


def test_fault_arguments_are_checked() -> None:
    srv = SMTPTestServer()
    with pytest.raises(ValueError, match="reply"):
        srv.faults.reply_at("mail", "hello")
    with pytest.raises(ValueError, match="stage"):
        srv.faults.reply_at("bogus", "451 x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="recipient"):
        srv.faults.reply_at("mail", "451 x", recipient="a@x.test")
    with pytest.raises(ValueError, match="times"):
        srv.faults.drop_at("mail", times=0)
    assert not srv.faults


# ---------------------------------------------------------------------------- bare ports
async def test_black_hole_helper_accepts_but_never_speaks() -> None:
    with BlackHole() as hole, pytest.raises(aiosmtplib.SMTPConnectTimeoutError):
        await aiosmtplib.SMTP(hostname=hole.host, port=hole.port, timeout=0.3).connect()


async def test_closed_port_refuses_connections() -> None:
    with closed_port() as port, pytest.raises(aiosmtplib.SMTPConnectError) as failed:
        await aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=TIMEOUT).connect()
    assert isinstance(failed.value.__cause__, ConnectionRefusedError)
    port = unused_port()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)


# ---------------------------------------------------------------------------- threaded
def test_threaded_server_serves_sync_code() -> None:
    with ThreadedSMTPTestServer(tls="starttls", username=USER, password=PASSWORD) as srv:
        with smtplib.SMTP(srv.host, srv.port, timeout=TIMEOUT) as smtp:
            smtp.starttls(context=srv.ca.client_context())
            smtp.login(USER, PASSWORD)
            smtp.send_message(message("threaded"))
        srv.faults.reply_at("mail", "451 4.3.0 later")  # from this thread
        with smtplib.SMTP(srv.host, srv.port, timeout=TIMEOUT) as smtp:
            smtp.starttls(context=srv.ca.client_context())
            with pytest.raises(smtplib.SMTPSenderRefused) as refused:
                smtp.sendmail("a@x.test", ["b@x.test"], b"Subject: x\r\n\r\nx\r\n")
    assert refused.value.smtp_code == 451
    (got,) = srv.messages
    assert (got.tls, got.login, got.message()["Subject"]) == (True, USER, "threaded")
    with pytest.raises(RuntimeError):
        _ = srv.port


def test_threaded_server_serves_another_process() -> None:
    script = (
        "import smtplib, ssl, sys\n"
        "ctx = ssl.create_default_context(cafile=sys.argv[3])\n"
        "with smtplib.SMTP_SSL(sys.argv[1], int(sys.argv[2]), context=ctx, timeout=5) as s:\n"
        "    s.sendmail('a@x.test', ['b@x.test'], b'Subject: sub\\r\\n\\r\\nhi\\r\\n')\n"
    )
    with ThreadedSMTPTestServer(tls="implicit") as srv:
        subprocess.run(
            [sys.executable, "-c", script, "localhost", str(srv.port), str(srv.ca.ca_path)],
            check=True,
            timeout=30,
        )
        assert srv.messages[0].rcpt_tos == ("b@x.test",)


# ---------------------------------------------------------------------------- package
def test_public_names() -> None:
    assert sorted(tocsin.testing.__all__) == [
        "BaseSMTPTestServer",
        "BlackHole",
        "ClientCertificatePair",
        "Faults",
        "OAuthTestServer",
        "ReceivedMessage",
        "RecordingHandler",
        "SMTPTestServer",
        "Stage",
        "TLSMode",
        "TestCA",
        "ThreadedSMTPTestServer",
        "TokenRequest",
        "closed_port",
        "finish_loop",
        "make_client_certificate",
        "unused_port",
    ]
    assert all(hasattr(tocsin.testing, name) for name in tocsin.testing.__all__)
