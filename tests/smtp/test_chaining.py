"""Mails back to back (SMTPTransport.send_many): with PIPELINING each message leaves in one
write with the next envelope (RFC 2920 §3.1); a failure ends the chain for that mail only."""

from __future__ import annotations

import asyncio

import pytest
from smtp_support import PASSWORD, USER, settings_for

from tocsin.errors import (
    ConnectFailed,
    DeliveryError,
    DeliveryTimeout,
    Reason,
    SenderRejected,
    ServerBusy,
    Step,
)
from tocsin.message import Mail, compose
from tocsin.testing import SMTPTestServer
from tocsin.transports import DeliveryResult, Outcome, SMTPSession, SMTPTransport

both = pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "lock-step"])


def alarm(n: int, *to: str) -> Mail:
    return compose(
        sender=USER,
        to=list(to or [f"ops{n}@example.net"]),
        subject=f"Fire {n}",
        text=f".Alarm {n}\n.\nline three\n",  # dots at line starts: stuffing must hold
    )


async def send_many(
    transport: SMTPTransport, mails: list[Mail]
) -> list[DeliveryResult | Exception]:
    outcomes: dict[int, DeliveryResult | Exception] = {}

    def report(index: int, outcome: DeliveryResult | Exception) -> None:
        assert index not in outcomes, "reported twice"
        assert index == len(outcomes), "reported out of order"
        outcomes[index] = outcome

    await transport.send_many(mails, report)
    assert sorted(outcomes) == list(range(len(mails)))
    return [outcomes[i] for i in range(len(mails))]


def accepted(outcome: DeliveryResult | Exception) -> bool:
    return isinstance(outcome, DeliveryResult) and outcome.all_accepted


# ---------------------------------------------------------------- the happy path
@pytest.mark.parametrize("tls", ["none", "starttls"])
async def test_each_message_rides_with_the_next_envelope(ca, tls):
    mails = [alarm(n) for n in range(5)]
    async with SMTPTestServer(
        ca=ca, tls=tls, pipelining=True, username=USER, password=PASSWORD
    ) as srv:
        session = SMTPSession(settings_for(srv))
        await session.open()
        protocol = session.client.protocol
        assert protocol is not None
        writes: list[bytes] = []
        original = protocol.write

        def write(data: bytes) -> None:
            writes.append(data)
            original(data)

        protocol.write = write  # type: ignore[method-assign]
        outcomes: list[DeliveryResult | Exception] = []
        await session.deliver_each(mails, lambda _, o: outcomes.append(o))
        await session.quit()
    assert all(accepted(o) for o in outcomes)
    assert [m.raw for m in srv.messages] == [m.content for m in mails]  # byte for byte
    assert [m.rcpt_tos for m in srv.messages] == [m.recipients for m in mails]
    # One write per mail (plus the last message alone), then QUIT.
    assert len(writes) == len(mails) + 2
    assert writes[0].startswith(b"MAIL FROM:")
    for n, chunk in enumerate(writes[1:-2], start=1):
        envelope = b"MAIL FROM:<%s> SIZE=%d\r\nRCPT TO:<ops%d@example.net>\r\nDATA\r\n" % (
            USER.encode(), len(mails[n].content), n,
        )  # fmt: skip
        assert chunk.endswith(b"\r\n.\r\n" + envelope)
    assert writes[-2].endswith(b"\r\n.\r\n")
    assert writes[-1] == b"QUIT\r\n"
    assert all(b == ["MAIL", "RCPT", "DATA"] for b in _envelopes(srv))


def _envelopes(srv: SMTPTestServer) -> list[list[str]]:
    batches = [[c.split(" ", 1)[0].upper() for c in b] for b in srv.command_batches]
    return [b for b in batches if "MAIL" in b]


@both
async def test_many_mails_over_two_connections(ca, pipelining):
    mails = [alarm(n, f"a{n}@example.net", f"b{n}@example.net") for n in range(24)]
    async with SMTPTestServer(ca=ca, pipelining=pipelining) as srv:
        transport = SMTPTransport(settings_for(srv), max_connections=2)
        halves = await asyncio.gather(
            send_many(transport, mails[:12]), send_many(transport, mails[12:])
        )
        await transport.aclose()
    assert all(accepted(o) for half in halves for o in half)
    assert sorted(m.raw for m in srv.messages) == sorted(m.content for m in mails)
    assert srv.connections <= 2


# ---------------------------------------------------------------- failures mid-chain
@both
async def test_421_ends_the_chain_for_that_mail_only(ca, pipelining):
    mails = [alarm(n) for n in range(4)]
    async with SMTPTestServer(ca=ca, pipelining=pipelining) as srv:
        srv.faults.reply_at("rcpt", "421 4.3.2 going down", recipient="ops1@example.net")
        transport = SMTPTransport(settings_for(srv))
        outcomes = await send_many(transport, mails)
        await transport.aclose()
    assert accepted(outcomes[0])
    assert isinstance(outcomes[1], ServerBusy)
    assert (outcomes[1].step, outcomes[1].code) == (Step.RCPT_TO, 421)
    assert accepted(outcomes[2])
    assert accepted(outcomes[3])
    assert [m.raw for m in srv.messages] == [mails[i].content for i in (0, 2, 3)]
    assert srv.connections == 2  # the rest went on a fresh connection


@both
async def test_dropped_connection_mid_chain(ca, pipelining):
    mails = [alarm(n) for n in range(4)]
    async with SMTPTestServer(ca=ca, pipelining=pipelining) as srv:
        srv.faults.drop_at("rcpt", recipient="ops2@example.net", times=1)
        transport = SMTPTransport(settings_for(srv))
        outcomes = await send_many(transport, mails)
        await transport.aclose()
    assert [accepted(o) for o in outcomes] == [True, True, False, True]
    assert isinstance(outcomes[2], ConnectFailed)
    assert (outcomes[2].step, outcomes[2].reason) == (Step.RCPT_TO, Reason.DISCONNECTED)
    assert [m.raw for m in srv.messages] == [mails[i].content for i in (0, 1, 3)]


@both
async def test_refusals_are_results_and_the_chain_goes_on(ca, pipelining):
    mails = [alarm(n) for n in range(4)]
    async with SMTPTestServer(ca=ca, pipelining=pipelining) as srv:
        srv.faults.reply_at("rcpt", "550 5.1.1 no such user", recipient="ops1@example.net")
        srv.faults.reply_at("data_end", "452 4.3.1 out of room", times=1)  # mail 0
        transport = SMTPTransport(settings_for(srv))
        outcomes = await send_many(transport, mails)
        await transport.aclose()
    first, second = outcomes[0], outcomes[1]
    assert isinstance(first, DeliveryResult)
    assert [(r.outcome, r.step, r.code) for r in first.recipients] == [
        (Outcome.TEMPORARY, Step.DATA, 452)
    ]
    assert isinstance(second, DeliveryResult)
    assert [(r.outcome, r.code) for r in second.recipients] == [(Outcome.PERMANENT, 550)]
    assert accepted(outcomes[2])
    assert accepted(outcomes[3])
    assert [m.raw for m in srv.messages] == [mails[i].content for i in (2, 3)]
    assert srv.connections == 1


async def test_a_configuration_problem_is_not_tried_again_for_the_rest(ca):
    mails = [alarm(n) for n in range(4)]
    async with SMTPTestServer(ca=ca, pipelining=True) as srv:
        srv.faults.reply_at("mail", "553 5.7.1 sender not owned by user")
        transport = SMTPTransport(settings_for(srv))
        outcomes = await send_many(transport, mails)
        await transport.aclose()
    assert all(isinstance(o, SenderRejected) for o in outcomes)
    assert [c.split(" ", 1)[0] for c in srv.commands].count("MAIL") == 1
    assert srv.messages == []


@both
async def test_an_unsafe_or_unsendable_mail_does_not_stop_the_others(ca, pipelining):
    forged = Mail(USER, ("x@example.net>\r\nRSET",), b"x\r\n", "<f@example.com>")
    international = alarm(9, "jörg@example.net")
    mails = [alarm(0), forged, international, alarm(3)]
    async with SMTPTestServer(ca=ca, pipelining=pipelining, smtputf8=False) as srv:
        transport = SMTPTransport(settings_for(srv))
        outcomes = await send_many(transport, mails)
        await transport.aclose()
    assert isinstance(outcomes[1], ValueError)
    third = outcomes[2]
    assert isinstance(third, DeliveryResult)
    assert third.recipients[0].reason is Reason.SMTPUTF8_UNSUPPORTED
    assert [m.raw for m in srv.messages] == [mails[0].content, mails[3].content]
    assert srv.connections == 1
    assert not any("RSET" in c and "x@" in c for c in srv.commands)


@both
async def test_each_mail_has_its_own_deadline(ca, pipelining):
    mails = [alarm(n) for n in range(3)]
    async with SMTPTestServer(ca=ca, pipelining=pipelining) as srv:
        srv.faults.delay("data_end", 3.0, times=1)
        transport = SMTPTransport(settings_for(srv, timeout=5.0, deadline=1.0))
        outcomes = await send_many(transport, mails)
        await transport.aclose()
    assert isinstance(outcomes[0], DeliveryTimeout)
    assert outcomes[0].step is Step.DATA
    assert accepted(outcomes[1])
    assert accepted(outcomes[2])


async def test_a_kept_connection_closed_while_idle_is_replaced_mid_batch(ca):
    async with SMTPTestServer(ca=ca, pipelining=True, idle_timeout=0.3) as srv:
        transport = SMTPTransport(settings_for(srv), max_connections=1)
        assert accepted((await send_many(transport, [alarm(0)]))[0])
        await asyncio.sleep(0.8)  # the server hangs up on the idle connection
        outcomes = await send_many(transport, [alarm(1), alarm(2)])
        await transport.aclose()
    assert all(accepted(o) for o in outcomes)
    assert len(srv.messages) == 3


async def test_send_raises_what_send_many_reports(ca):
    async with SMTPTestServer(ca=ca, pipelining=True) as srv:
        srv.faults.reply_at("mail", "421 4.3.2 busy", times=1)
        transport = SMTPTransport(settings_for(srv))
        with pytest.raises(DeliveryError) as caught:
            await transport.send(alarm(0))
        await transport.aclose()
    assert isinstance(caught.value, ServerBusy)
