"""RFC 2920 PIPELINING in SMTPSession.deliver, against in-process servers with faults.

Every fault runs twice: with a server that offers PIPELINING (the envelope goes out in
one write) and with one that does not (one command at a time); the results must be
the same.
"""

from __future__ import annotations

import asyncio

import pytest
from smtp_support import PASSWORD, USER, settings_for

from tocsin.errors import ConnectFailed, DeliveryTimeout, Reason, SenderRejected, ServerBusy, Step
from tocsin.message import Mail, compose
from tocsin.testing import SMTPTestServer
from tocsin.transports import Outcome, SMTPSession, SMTPTransport, StepEvent

A, B, C = "a@example.net", "b@example.net", "c@example.net"
ENVELOPE_VERBS = ["MAIL", "RCPT", "RCPT", "RCPT", "DATA"]

both = pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "lock-step"])


def alarm(*to: str, text: str = "Smoke detector 2 raised an alarm.") -> Mail:
    return compose(sender=USER, to=list(to or [A]), subject="Fire – Server room", text=text)


def verbs(lines: list[str]) -> list[str]:
    return [line.split(" ", 1)[0].upper() for line in lines]


def envelope_batches(srv: SMTPTestServer) -> list[list[str]]:
    """The groups of commands from the first MAIL on, as verbs."""
    batches = [verbs(b) for b in srv.command_batches]
    first = next(i for i, b in enumerate(batches) if "MAIL" in b)
    return batches[first:]


async def open_session(srv: SMTPTestServer, **changes: object) -> SMTPSession:
    session = SMTPSession(settings_for(srv, **changes))
    await session.open()
    return session


# ---------------------------------------------------------------- the happy path
@pytest.mark.parametrize("tls", ["none", "starttls"])
async def test_envelope_goes_out_in_one_write(ca, tls):
    async with SMTPTestServer(
        ca=ca, tls=tls, pipelining=True, username=USER, password=PASSWORD
    ) as srv:
        session = await open_session(srv)
        assert session.client.supports_extension("pipelining")
        first = await session.deliver(alarm(A, B, C))
        second = await session.deliver(alarm(A, B, C))
        await session.quit()
    assert first.all_accepted
    assert second.all_accepted
    assert envelope_batches(srv) == [ENVELOPE_VERBS, ENVELOPE_VERBS, ["QUIT"]]
    assert [m.rcpt_tos for m in srv.messages] == [(A, B, C), (A, B, C)]
    assert srv.messages[0].tls is (tls == "starttls")


async def test_without_pipelining_one_command_per_write(ca):
    async with SMTPTestServer(ca=ca) as srv:
        session = await open_session(srv)
        assert (await session.deliver(alarm(A, B, C))).all_accepted
        await session.quit()
    assert envelope_batches(srv) == [[v] for v in [*ENVELOPE_VERBS, "QUIT"]]


@both
async def test_dot_stuffing_line_ends_and_size(ca, pipelining):
    text = ".leading dot\n.\n..two dots\nlast line"
    async with SMTPTestServer(ca=ca, pipelining=pipelining) as srv:
        session = await open_session(srv)
        mail = alarm(A, text=text)
        assert (await session.deliver(mail)).all_accepted
        await session.quit()
    (got,) = srv.messages
    assert got.raw == mail.content  # unstuffed by the server: exactly what we sent
    assert got.message().get_content().replace("\r\n", "\n").rstrip("\n") == text
    assert got.mail_options == (f"SIZE={len(mail.content)}",)


@both
async def test_smtputf8_envelope(ca, pipelining):
    async with SMTPTestServer(ca=ca, pipelining=pipelining) as srv:
        session = await open_session(srv)
        result = await session.deliver(alarm("jörg@example.net", A))
        await session.quit()
    assert result.all_accepted
    (got,) = srv.messages
    assert got.smtp_utf8
    assert got.rcpt_tos == ("jörg@example.net", A)
    assert set(got.mail_options) >= {"SMTPUTF8", "BODY=8BITMIME"}


@both
async def test_observer_hears_the_same_steps_either_way(ca, pipelining):
    events: list[StepEvent] = []
    async with SMTPTestServer(ca=ca, pipelining=pipelining) as srv:
        srv.faults.reply_at("rcpt", "550 5.1.1 no such user", recipient=B)
        session = SMTPSession(settings_for(srv), observer=events.append)
        await session.open()
        events.clear()
        await session.deliver(alarm(A, B))
        await session.quit()
    assert [(e.step.value, e.status.value, e.detail) for e in events] == [
        ("mail_from", "start", USER),
        ("mail_from", "ok", USER),
        ("rcpt_to", "start", A),
        ("rcpt_to", "ok", A),
        ("rcpt_to", "start", B),
        ("rcpt_to", "fail", "550 5.1.1 no such user"),
        ("data", "start", ""),
        ("data", "ok", "250 2.0.0 OK queued"),
    ]


async def test_unsafe_address_is_refused_before_anything_is_written(ca):
    async with SMTPTestServer(ca=ca, pipelining=True) as srv:
        session = await open_session(srv)
        forged = Mail(
            sender=USER, recipients=(A, "b@example.net>\r\nRCPT TO:<x@evil.test"), content=b"x\r\n",
            message_id="<1@example.com>",
        )  # fmt: skip
        with pytest.raises(ValueError, match="unsafe"):
            await session.deliver(forged)
        assert session.usable
        assert (await session.deliver(alarm(A))).all_accepted
        await session.quit()
    assert not any("evil" in c for c in srv.commands)


# ---------------------------------------------------------------- refusals
@both
async def test_refused_recipients_among_several(ca, pipelining):
    async with SMTPTestServer(ca=ca, pipelining=pipelining) as srv:
        srv.faults.reply_at("rcpt", "550 5.1.1 no such user", recipient=A)
        srv.faults.reply_at("rcpt", "451 4.2.0 greylisted", recipient=C)
        session = await open_session(srv)
        result = await session.deliver(alarm(A, B, C))
        assert session.usable
        await session.quit()
    a, b, c = result.recipients
    assert (a.outcome, a.reason, a.step, a.code) == (
        Outcome.PERMANENT,
        Reason.RECIPIENT_REJECTED,
        Step.RCPT_TO,
        550,
    )
    assert (b.outcome, b.code) == (Outcome.ACCEPTED, 250)
    assert (c.outcome, c.reason, c.code) == (Outcome.TEMPORARY, Reason.RECIPIENT_DEFERRED, 451)
    assert result.server_reply.startswith("250")
    assert srv.messages[0].rcpt_tos == (B,)
    if pipelining:
        assert envelope_batches(srv)[0] == ENVELOPE_VERBS


@both
async def test_all_refused_sends_no_message_and_resets(ca, pipelining):
    async with SMTPTestServer(ca=ca, pipelining=pipelining) as srv:
        srv.faults.reply_at("rcpt", "550 5.1.1 no such user", times=2)
        session = await open_session(srv)
        result = await session.deliver(alarm(A, B))
        assert session.usable
        again = await session.deliver(alarm(A, B))  # the session is still in step
        await session.quit()
    assert [(r.outcome, r.code) for r in result.recipients] == [(Outcome.PERMANENT, 550)] * 2
    assert result.server_reply == ""
    assert again.all_accepted
    assert len(srv.messages) == 1
    first = envelope_batches(srv)[:2]
    if pipelining:
        # RFC 2920 §3.1: the pipelined DATA is read (aiosmtpd: 503), then RSET.
        assert first == [["MAIL", "RCPT", "RCPT", "DATA"], ["RSET"]]
    else:
        assert first == [["MAIL"], ["RCPT"]]
        assert "DATA" not in verbs(srv.commands[: srv.commands.index("RSET")])


async def test_all_refused_but_data_accepted_ends_with_a_lone_dot(ca):
    """RFC 2920 §3.1: a server may take DATA with no valid recipient; send "." alone."""
    async with SMTPTestServer(ca=ca, pipelining=True) as srv:
        srv.faults.reply_at("rcpt", "550 5.1.1 no such user", times=2)
        # The fault only answers 354; aiosmtpd itself answers the dot as a command (500).
        srv.faults.reply_at("data", "354 go ahead", times=1)
        session = await open_session(srv)
        result = await session.deliver(alarm(A, B))
        assert session.usable
        assert (await session.client.noop()).code == 250  # one reply per line: in step
        await session.quit()
    assert [(r.outcome, r.code) for r in result.recipients] == [(Outcome.PERMANENT, 550)] * 2
    assert envelope_batches(srv) == [["MAIL", "RCPT", "RCPT", "DATA"], ["."], ["NOOP"], ["QUIT"]]
    assert srv.messages == []


@both
@pytest.mark.parametrize(
    ("reply", "outcome", "reason"),
    [
        ("451 4.3.0 try again later", Outcome.TEMPORARY, Reason.MESSAGE_DEFERRED),
        ("554 5.5.1 no thanks", Outcome.PERMANENT, Reason.MESSAGE_REJECTED),
    ],
)
async def test_data_refused_resets_the_envelope(ca, pipelining, reply, outcome, reason):
    async with SMTPTestServer(ca=ca, pipelining=pipelining) as srv:
        srv.faults.reply_at("data", reply, times=1)
        session = await open_session(srv)
        result = await session.deliver(alarm(A, B))
        again = await session.deliver(alarm(A))  # no "503 nested MAIL command"
        await session.quit()
    assert [(r.outcome, r.reason, r.step) for r in result.recipients] == [
        (outcome, reason, Step.DATA)
    ] * 2
    assert again.all_accepted
    assert "RSET" in srv.commands


@both
async def test_sender_refused(ca, pipelining):
    async with SMTPTestServer(ca=ca, pipelining=pipelining) as srv:
        srv.faults.reply_at("mail", "553 5.7.1 sender not owned by user", times=1)
        transport = SMTPTransport(settings_for(srv), max_connections=1)
        with pytest.raises(SenderRejected) as caught:
            await transport.send(alarm(A, B))
        assert (await transport.send(alarm(A))).all_accepted  # on a fresh connection
        await transport.aclose()
    assert (caught.value.step, caught.value.code) == (Step.MAIL_FROM, 553)
    assert [m.rcpt_tos for m in srv.messages] == [(A,)]
    assert srv.connections == 2


# ---------------------------------------------------------------- the session ends
@both
@pytest.mark.parametrize(
    ("stage", "step"),
    [("mail", Step.MAIL_FROM), ("rcpt", Step.RCPT_TO), ("data", Step.DATA),
     ("data_end", Step.DATA)],
)  # fmt: skip
async def test_421_anywhere_closes_the_session(ca, pipelining, stage, step):
    async with SMTPTestServer(ca=ca, pipelining=pipelining) as srv:
        if stage == "rcpt":
            srv.faults.reply_at("rcpt", "421 4.3.2 shutting down", recipient=B, times=1)
        else:
            srv.faults.reply_at(stage, "421 4.3.2 shutting down", times=1)
        transport = SMTPTransport(settings_for(srv), max_connections=1)
        with pytest.raises(ServerBusy) as caught:
            await transport.send(alarm(A, B, C))
        assert (await transport.send(alarm(A))).all_accepted
        await transport.aclose()
    assert (caught.value.step, caught.value.code, caught.value.temporary) == (step, 421, True)
    assert [m.rcpt_tos for m in srv.messages] == [(A,)]
    assert srv.connections == 2


@both
@pytest.mark.parametrize(
    ("stage", "step"), [("mail", Step.MAIL_FROM), ("rcpt", Step.RCPT_TO), ("data", Step.DATA)]
)
async def test_connection_dropped_mid_envelope(ca, pipelining, stage, step):
    async with SMTPTestServer(ca=ca, pipelining=pipelining) as srv:
        if stage == "rcpt":
            srv.faults.drop_at("rcpt", recipient=B, times=1)
        else:
            srv.faults.drop_at(stage, times=1)
        session = await open_session(srv)
        with pytest.raises(ConnectFailed) as caught:
            await session.deliver(alarm(A, B, C))
        assert not session.usable
        session.abort()
    assert (caught.value.step, caught.value.reason) == (step, Reason.DISCONNECTED)
    assert caught.value.temporary
    assert srv.messages == []


@both
async def test_connection_dropped_during_content(ca, pipelining):
    async with SMTPTestServer(ca=ca, pipelining=pipelining) as srv:
        srv.faults.drop_during_data(after_lines=3)
        transport = SMTPTransport(settings_for(srv))
        with pytest.raises(ConnectFailed) as caught:
            await transport.send(alarm(A, B))
        await transport.aclose()
    assert (caught.value.step, caught.value.reason) == (Step.DATA, Reason.DISCONNECTED)
    assert srv.messages == []


@both
async def test_silent_server_times_out_at_the_step_it_owes(ca, pipelining):
    async with SMTPTestServer(ca=ca, pipelining=pipelining) as srv:
        srv.faults.hang_at("rcpt", recipient=B)
        session = await open_session(srv, timeout=0.5)
        with pytest.raises(DeliveryTimeout) as caught:
            await session.deliver(alarm(A, B))
        session.abort()
    assert caught.value.step is Step.RCPT_TO


@both
async def test_idle_connection_closed_by_server_is_replaced(ca, pipelining):
    async with SMTPTestServer(ca=ca, pipelining=pipelining, idle_timeout=0.3) as srv:
        transport = SMTPTransport(settings_for(srv), max_connections=1)
        assert (await transport.send(alarm())).all_accepted
        await asyncio.sleep(0.8)  # the server hangs up on the idle connection
        assert (await transport.send(alarm())).all_accepted
        await transport.aclose()
    assert len(srv.messages) == 2


@both
async def test_many_sends_share_the_connections(ca, pipelining):
    async with SMTPTestServer(
        ca=ca, tls="starttls", pipelining=pipelining, username=USER, password=PASSWORD
    ) as srv:
        transport = SMTPTransport(settings_for(srv), max_connections=2)
        results = await asyncio.gather(*(transport.send(alarm(A, B)) for _ in range(20)))
        await transport.aclose()
    assert all(r.all_accepted for r in results)
    assert len(srv.messages) == 20
    assert srv.connections <= 2
