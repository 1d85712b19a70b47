"""The SMTP transport against in-process aiosmtpd servers with real TLS, AUTH and faults."""

from __future__ import annotations

import asyncio
import time

import pytest
from smtp_support import PASSWORD, USER, settings_for

from tocsin.errors import (
    AuthFailed,
    ConnectFailed,
    DeliveryTimeout,
    Reason,
    SenderRejected,
    ServerBusy,
    Step,
    TLSFailed,
    TLSRequired,
)
from tocsin.message import compose
from tocsin.secret import Secret
from tocsin.testing import BlackHole, SMTPTestServer, closed_port
from tocsin.transports import Outcome, SMTPSession, SMTPTransport


def alarm(*to: str, subject: str = "Fire – Server room") -> object:
    return compose(
        sender=USER,
        sender_name="Server room",
        to=list(to or ["ops@example.net"]),
        subject=subject,
        text="Smoke detector 2 raised an alarm.",
    )


def server(ca, **options):
    return SMTPTestServer(ca=ca, **options)


@pytest.mark.parametrize("mode", ["implicit", "starttls"])
async def test_delivers_over_tls_with_auth(ca, mode):
    async with server(ca, tls=mode, username=USER, password=PASSWORD, auth_required=True) as srv:
        transport = SMTPTransport(settings_for(srv))
        result = await transport.send(alarm("ops@example.net", "boss@example.net"))
        await transport.aclose()
    assert result.all_accepted
    assert result.server_reply.startswith("250")
    (got,) = srv.messages
    assert got.tls
    assert got.login == USER
    assert got.rcpt_tos == ("ops@example.net", "boss@example.net")
    assert got.message()["Subject"] == "Fire – Server room"


async def test_plain_without_auth(ca):
    async with server(ca) as srv:
        transport = SMTPTransport(settings_for(srv))
        result = await transport.send(alarm())
        await transport.aclose()
    assert result.accepted == ("ops@example.net",)
    assert not srv.messages[0].tls


async def test_ipv6(ca):
    async with server(ca, host="::1", tls="starttls") as srv:
        transport = SMTPTransport(settings_for(srv, host="::1", tls_verify=True))
        result = await transport.send(alarm())
        await transport.aclose()
    assert result.all_accepted


async def test_starttls_not_offered_sends_nothing(ca):
    """A downgrade (STARTTLS stripped from EHLO) never leads to plaintext AUTH or mail."""
    async with server(
        ca,
        tls="starttls",
        offer_starttls=False,
        require_starttls=False,
        username=USER,
        password=PASSWORD,
        auth_require_tls=False,
    ) as srv:
        transport = SMTPTransport(settings_for(srv))
        with pytest.raises(TLSRequired) as caught:
            await transport.send(alarm())
        await transport.aclose()
    assert caught.value.step is Step.STARTTLS
    assert caught.value.reason is Reason.TLS_REQUIRED
    assert not any(c.upper().startswith(("AUTH", "MAIL", "RCPT", "DATA")) for c in srv.commands)
    assert PASSWORD.encode() not in b"".join(srv.command_lines)
    assert srv.messages == []


async def test_untrusted_certificate_is_refused(ca):
    async with server(ca, tls="implicit", server_context=ca.untrusted_server_context()) as srv:
        transport = SMTPTransport(settings_for(srv))
        with pytest.raises(TLSFailed) as caught:
            await transport.send(alarm())
    assert (caught.value.step, caught.value.reason) == (Step.TLS, Reason.CERT_INVALID)
    assert srv.messages == []


async def test_wrong_host_certificate_is_refused_on_starttls(ca):
    context = ca.wrong_host_server_context()
    async with server(ca, tls="starttls", server_context=context) as srv:
        transport = SMTPTransport(settings_for(srv))
        with pytest.raises(TLSFailed) as caught:
            await transport.send(alarm())
    assert caught.value.step is Step.STARTTLS
    assert caught.value.reason is Reason.CERT_INVALID
    assert "mismatch" in str(caught.value).lower()


async def test_insecure_mode_accepts_an_untrusted_certificate(ca):
    async with server(ca, tls="implicit", server_context=ca.untrusted_server_context()) as srv:
        transport = SMTPTransport(settings_for(srv, tls_verify=False, ca_file=""))
        result = await transport.send(alarm())
        await transport.aclose()
    assert result.all_accepted


async def test_wrong_password_is_auth_failed_and_tried_once(ca):
    async with server(
        ca, tls="starttls", username=USER, password=PASSWORD, auth_required=True
    ) as srv:
        transport = SMTPTransport(settings_for(srv, password=Secret("wrong")))
        with pytest.raises(AuthFailed) as caught:
            await transport.send(alarm())
    assert (caught.value.step, caught.value.code) == (Step.AUTH, 535)
    assert "wrong" not in str(caught.value)
    assert sum(c.upper().startswith("AUTH") for c in srv.commands) == 1


async def test_auth_not_offered(ca):
    async with server(ca, tls="starttls") as srv:
        transport = SMTPTransport(settings_for(srv, username=USER, password=Secret(PASSWORD)))
        with pytest.raises(AuthFailed) as caught:
            await transport.send(alarm())
    assert caught.value.reason is Reason.AUTH_UNAVAILABLE


async def test_cram_md5_preferred_without_tls(ca):
    async with server(
        ca, username=USER, password=PASSWORD, auth_mechanisms=("PLAIN", "LOGIN", "CRAM-MD5")
    ) as srv:
        transport = SMTPTransport(settings_for(srv, allow_plaintext_auth=False))
        result = await transport.send(alarm())
        await transport.aclose()
    assert result.all_accepted
    assert any(c.upper().startswith("AUTH CRAM-MD5") for c in srv.commands)
    assert PASSWORD.encode() not in b"".join(srv.command_lines)


async def test_plain_auth_without_tls_refused_unless_allowed(ca):
    async with server(ca, username=USER, password=PASSWORD) as srv:
        transport = SMTPTransport(settings_for(srv, allow_plaintext_auth=False))
        with pytest.raises(TLSRequired):
            await transport.send(alarm())
    assert PASSWORD.encode() not in b"".join(srv.command_lines)


async def test_421_at_connect_is_temporary(ca):
    async with server(ca) as srv:
        srv.faults.reply_at("connect", "421 4.3.2 busy, try later")
        transport = SMTPTransport(settings_for(srv))
        with pytest.raises(ServerBusy) as caught:
            await transport.send(alarm())
    assert (caught.value.step, caught.value.code, caught.value.temporary) == (
        Step.CONNECT,
        421,
        True,
    )


async def test_one_of_two_recipients_refused_is_data_not_an_exception(ca):
    async with server(ca) as srv:
        srv.faults.reply_at("rcpt", "550 5.1.1 no such user", recipient="gone@example.net")
        srv.faults.reply_at("rcpt", "451 4.2.0 greylisted", recipient="later@example.net")
        transport = SMTPTransport(settings_for(srv))
        result = await transport.send(
            alarm("ops@example.net", "gone@example.net", "later@example.net")
        )
        await transport.aclose()
    assert result.for_recipient("ops@example.net").outcome is Outcome.ACCEPTED
    gone = result.for_recipient("gone@example.net")
    assert (gone.outcome, gone.reason, gone.code) == (
        Outcome.PERMANENT,
        Reason.RECIPIENT_REJECTED,
        550,
    )
    later = result.for_recipient("later@example.net")
    assert (later.outcome, later.reason) == (Outcome.TEMPORARY, Reason.RECIPIENT_DEFERRED)
    assert srv.messages[0].rcpt_tos == ("ops@example.net",)


async def test_all_recipients_refused_sends_no_data(ca):
    async with server(ca) as srv:
        srv.faults.reply_at("rcpt", "550 5.1.1 no such user")
        transport = SMTPTransport(settings_for(srv))
        result = await transport.send(alarm("a@example.net", "b@example.net"))
        await transport.aclose()
    assert not result.accepted
    assert "DATA" not in [c.upper() for c in srv.commands]


@pytest.mark.parametrize(
    ("reply", "outcome", "reason"),
    [
        ("552 5.3.4 message too big", Outcome.PERMANENT, Reason.MESSAGE_REJECTED),
        ("452 4.3.1 insufficient storage", Outcome.TEMPORARY, Reason.MESSAGE_DEFERRED),
    ],
)
async def test_refusal_at_end_of_data(ca, reply, outcome, reason):
    async with server(ca) as srv:
        srv.faults.reply_at("data_end", reply)
        transport = SMTPTransport(settings_for(srv))
        result = await transport.send(alarm())
        await transport.aclose()
    (only,) = result.recipients
    assert (only.outcome, only.reason, only.step) == (outcome, reason, Step.DATA)


async def test_sender_refused(ca):
    async with server(ca) as srv:
        srv.faults.reply_at("mail", "553 5.7.1 sender not owned by user")
        transport = SMTPTransport(settings_for(srv))
        with pytest.raises(SenderRejected) as caught:
            await transport.send(alarm())
    assert caught.value.step is Step.MAIL_FROM


async def test_connection_dropped_during_data_is_temporary(ca):
    async with server(ca) as srv:
        srv.faults.drop_during_data(after_lines=3)
        transport = SMTPTransport(settings_for(srv))
        with pytest.raises(ConnectFailed) as caught:
            await transport.send(alarm())
    assert (caught.value.step, caught.value.reason) == (Step.DATA, Reason.DISCONNECTED)
    assert caught.value.temporary
    assert srv.messages == []


async def test_slow_server_hits_the_deadline(ca):
    async with server(ca) as srv:
        srv.faults.delay("data_end", 30.0)
        transport = SMTPTransport(settings_for(srv, timeout=10.0, deadline=1.0))
        started = time.monotonic()
        with pytest.raises(DeliveryTimeout) as caught:
            await transport.send(alarm())
    assert time.monotonic() - started < 5
    assert caught.value.step is Step.DATA


async def test_per_command_timeout(ca):
    async with server(ca) as srv:
        srv.faults.hang_at("ehlo")
        transport = SMTPTransport(settings_for(srv, timeout=1.0, deadline=10.0))
        with pytest.raises(DeliveryTimeout) as caught:
            await transport.send(alarm())
    assert caught.value.step is Step.EHLO


async def test_black_hole_times_out_at_connect():
    hole = BlackHole()
    try:
        from tocsin.settings import EmailSettings

        settings = EmailSettings(
            host="127.0.0.1",
            port=hole.port,
            sender_address=USER,
            timeout=1.0,
            deadline=3.0,
            ehlo_name="t.test",
        )
        with pytest.raises(DeliveryTimeout) as caught:
            await SMTPTransport(settings).send(alarm())
    finally:
        hole.close()
    assert caught.value.step is Step.CONNECT


async def test_connection_refused():
    from tocsin.settings import EmailSettings

    with closed_port() as port:
        settings = EmailSettings(
            host="127.0.0.1", port=port, sender_address=USER, ehlo_name="t.test", timeout=2.0
        )
        with pytest.raises(ConnectFailed) as caught:
            await SMTPTransport(settings).send(alarm())
    assert (caught.value.step, caught.value.reason) == (Step.CONNECT, Reason.CONNECT_REFUSED)


async def test_unknown_host_fails_at_resolve():
    from tocsin.settings import EmailSettings

    settings = EmailSettings(
        host="no-such-host.invalid", port=25, sender_address=USER, ehlo_name="t.test", timeout=5.0
    )
    with pytest.raises(ConnectFailed) as caught:
        await SMTPTransport(settings).send(alarm())
    assert (caught.value.step, caught.value.reason) == (Step.RESOLVE, Reason.DNS_FAILED)


async def test_connection_is_reused_and_capped(ca):
    async with server(ca, tls="starttls", username=USER, password=PASSWORD) as srv:
        transport = SMTPTransport(settings_for(srv), max_connections=2)
        results = await asyncio.gather(*(transport.send(alarm()) for _ in range(10)))
        await transport.aclose()
    assert all(r.all_accepted for r in results)
    assert len(srv.messages) == 10
    assert srv.connections <= 2
    assert sum(c.upper().startswith("AUTH") for c in srv.commands) == srv.connections


async def test_session_dropped_after_421_and_next_send_reconnects(ca):
    async with server(ca) as srv:
        transport = SMTPTransport(settings_for(srv), max_connections=1)
        assert (await transport.send(alarm())).all_accepted
        srv.faults.reply_at("mail", "421 4.4.2 closing", times=1)
        with pytest.raises(ServerBusy):
            await transport.send(alarm())
        assert (await transport.send(alarm())).all_accepted
        await transport.aclose()
    assert srv.connections == 2


async def test_idle_connection_closed_by_server_is_replaced(ca):
    async with server(ca, idle_timeout=0.3) as srv:
        transport = SMTPTransport(settings_for(srv), max_connections=1)
        assert (await transport.send(alarm())).all_accepted
        await asyncio.sleep(0.8)  # the server hangs up on the idle connection
        assert (await transport.send(alarm())).all_accepted
        await transport.aclose()
    assert len(srv.messages) == 2


async def test_smtputf8_recipient(ca):
    async with server(ca) as srv:
        transport = SMTPTransport(settings_for(srv))
        result = await transport.send(alarm("jörg@example.net"))
        await transport.aclose()
    assert result.all_accepted
    assert srv.messages[0].smtp_utf8


async def test_smtputf8_unsupported_is_a_clear_per_recipient_error(ca):
    async with server(ca, smtputf8=False) as srv:
        transport = SMTPTransport(settings_for(srv))
        result = await transport.send(alarm("jörg@example.net"))
        await transport.aclose()
    (only,) = result.recipients
    assert (only.outcome, only.reason) == (Outcome.PERMANENT, Reason.SMTPUTF8_UNSUPPORTED)
    assert srv.messages == []


async def test_no_field_reaches_the_wire_as_an_extra_command(ca):
    """Every command line on the wire is one we meant to send, whatever the settings held."""
    async with server(ca, tls="starttls", username=USER, password=PASSWORD) as srv:
        session = SMTPSession(settings_for(srv))
        await session.open()
        await session.deliver(alarm("ops@example.net"))
        await session.quit()
    verbs = [c.split(" ", 1)[0].upper() for c in srv.commands]
    # After STARTTLS: EHLO again; AUTH PLAIN sends its credentials inline.
    assert verbs == ["EHLO", "STARTTLS", "EHLO", "AUTH", "MAIL", "RCPT", "DATA", "QUIT"]
    assert srv.commands[0] == "EHLO tocsin.test"
