"""The pieces of tocsin.transports.smtp.wire, directly: the reply reader and the lines."""

from __future__ import annotations

import asyncio
import itertools

import aiosmtplib
import pytest
from aiosmtplib.protocol import SMTPProtocol
from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.transports.smtp.wire import DeadlinePassed, ReplyReader, command, message_data, path


async def reader() -> ReplyReader:
    return ReplyReader(SMTPProtocol(loop=asyncio.get_running_loop()))


async def test_several_replies_in_one_read_are_all_kept():
    r = await reader()
    r.data_received(b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 no\r\n354 go\r\n")
    got = [await r.reply(1.0) for _ in range(4)]
    assert [(g.code, g.message) for g in got] == [
        (250, "2.1.0 Ok"),
        (250, "2.1.5 Ok"),
        (550, "5.1.1 no"),
        (354, "go"),
    ]
    assert r.idle


async def test_a_reply_split_across_reads_and_multi_line():
    r = await reader()
    r.data_received(b"250-first\r\n25")
    r.data_received(b"0-second\r")
    waiting = asyncio.ensure_future(r.reply(1.0))
    await asyncio.sleep(0)
    assert not waiting.done()
    r.data_received(b"\n250 last\r\n")
    got = await waiting
    assert (got.code, got.message) == (250, "first\nsecond\nlast")
    assert r.idle


async def test_replies_before_a_disconnect_come_first():
    r = await reader()
    r.data_received(b"250 Ok\r\n421 4.3.2 bye\r\n")
    assert r.eof_received() is False
    r.connection_lost(None)
    assert (await r.reply(1.0)).code == 250
    assert (await r.reply(1.0)).code == 421
    with pytest.raises(aiosmtplib.SMTPServerDisconnected):
        await r.reply(1.0)


async def test_disconnect_wakes_a_waiting_reader():
    r = await reader()
    waiting = asyncio.ensure_future(r.reply(5.0))
    await asyncio.sleep(0)
    r.connection_lost(ConnectionResetError("reset"))
    with pytest.raises(aiosmtplib.SMTPServerDisconnected) as caught:
        await waiting
    assert isinstance(caught.value.__cause__, ConnectionResetError)


async def test_timeout():
    r = await reader()
    with pytest.raises(aiosmtplib.SMTPReadTimeoutError):
        await r.reply(0.05)


async def answer_after(r: ReplyReader, seconds: float) -> None:
    await asyncio.sleep(seconds)
    r.data_received(b"250 Ok\r\n")


async def test_each_wait_gets_its_whole_timeout_from_when_it_starts():
    """One timer serves every wait: set for the first, it fires in the middle of the
    second, which must go on to its own end, not end with the first one's."""
    r = await reader()
    loop = asyncio.get_running_loop()
    answer = asyncio.ensure_future(answer_after(r, 0.2))
    assert (await r.reply(0.4)).code == 250  # the timer is set for 0.4 s from the start
    started = loop.time()
    answer = asyncio.ensure_future(answer_after(r, 0.35))  # past the first wait's end
    assert (await r.reply(0.4)).code == 250
    assert loop.time() - started >= 0.3
    await answer
    started = loop.time()
    with pytest.raises(aiosmtplib.SMTPReadTimeoutError):
        await r.reply(0.2)
    assert 0.15 <= loop.time() - started < 1.0
    r.stop_watching()


async def test_the_deadline_ends_a_wait_before_its_timeout():
    r = await reader()
    loop = asyncio.get_running_loop()
    answer = asyncio.ensure_future(answer_after(r, 0.05))
    assert (await r.reply(5.0)).code == 250  # the timer is set for 5 s from now
    await answer
    started = loop.time()
    with pytest.raises(DeadlinePassed):
        await r.reply(5.0, until=started + 0.2)  # sooner than that timer
    assert 0.15 <= loop.time() - started < 2.0
    # The deadline given but further away than the timeout: the timeout ends the wait.
    with pytest.raises(aiosmtplib.SMTPReadTimeoutError):
        await r.reply(0.1, until=loop.time() + 5.0)
    r.stop_watching()


async def test_a_reply_before_the_deadline_is_read_and_the_reader_goes_on():
    r = await reader()
    loop = asyncio.get_running_loop()
    answer = asyncio.ensure_future(answer_after(r, 0.05))
    assert (await r.reply(5.0, until=loop.time() + 0.5)).code == 250
    await answer
    await asyncio.sleep(0.6)  # past that deadline, with no wait on: nothing happens
    r.data_received(b"251 later\r\n")
    assert (await r.reply(1.0)).code == 251
    assert r.idle
    r.stop_watching()


@pytest.mark.parametrize("junk", [b"hello there\r\n", b"2x0 Ok\r\n", b"2" * 9000 + b"\r\n"])
async def test_garbage_is_an_error_not_a_reply(junk):
    r = await reader()
    r.data_received(junk)
    with pytest.raises(aiosmtplib.SMTPResponseException) as caught:
        await r.reply(1.0)
    assert caught.value.code == -1
    assert not r.idle


async def test_endless_reply_is_bounded():
    r = await reader()
    for _ in range(40):
        r.data_received(b"250-" + b"x" * 1000 + b"\r\n")
    with pytest.raises(aiosmtplib.SMTPResponseException, match="too long"):
        await r.reply(1.0)


async def test_unasked_bytes_mean_out_of_step():
    r = await reader()
    r.data_received(b"250 Ok\r\n250 extra\r\n")
    await r.reply(1.0)
    assert not r.idle
    r2 = await reader()
    r2.data_received(b"250 Ok\r\n25")
    await r2.reply(1.0)
    assert not r2.idle


def test_path_and_command_refuse_what_would_break_the_line():
    assert path("a@example.net", "ascii") == b"<a@example.net>"
    assert path("jörg@example.net", "utf-8") == "<jörg@example.net>".encode()
    for bad in ["a@b\r\nRSET", "a@b\n", "a b@c", "a@b> SIZE=1", "<a@b", "", "a@b\x00"]:
        with pytest.raises(ValueError, match="refusing to send the address"):
            path(bad, "utf-8")
    with pytest.raises(ValueError, match="without SMTPUTF8"):
        path("jörg@example.net", "ascii")
    assert command(b"MAIL", b"FROM:<a@b>", b"SIZE=10") == b"MAIL FROM:<a@b> SIZE=10\r\n"
    with pytest.raises(ValueError, match="control character"):
        command(b"MAIL", b"FROM:<a@b>\r\nRSET")


def test_message_data_is_stuffed_and_terminated():
    assert message_data(b"a\r\n.b\r\n.\r\nc") == b"a\r\n..b\r\n..\r\nc\r\n.\r\n"
    assert message_data(b"a\nb\rc\r\n") == b"a\r\nb\r\nc\r\n.\r\n"
    assert message_data(b".") == b"..\r\n.\r\n"


@pytest.mark.parametrize(
    "content",
    [b"a\r\nb\r\n", b"a\r\n.b\r\n", b".a\r\n", b"a\nb\r\n", b"a\r\nb", b"a\rb\r\n", b"a\r\r\n",
     b"\r\n", b"a\r\n\r\n.\r\n", b"x" * 3000 + b"\r\n.." + b"\r\n"],
)  # fmt: skip
def test_message_data_fast_path_agrees_with_aiosmtplib(content):
    from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings

    expected = PERIOD_REGEX.sub(b"..", normalize_message_line_endings(content)) + b".\r\n"
    assert message_data(content) == expected


@given(st.lists(st.sampled_from([b"a", b".", b"\r", b"\n", b"\r\n", b"\r\n."]), max_size=40))
def test_message_data_is_aiosmtplib_data_path_for_any_bytes(parts):
    from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings

    content = b"".join(parts)
    expected = PERIOD_REGEX.sub(b"..", normalize_message_line_endings(content)) + b".\r\n"
    assert message_data(content) == expected


_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=0x24F), max_size=30)
_REPLY = st.tuples(st.integers(200, 599), st.lists(_TEXT, min_size=1, max_size=3))


@settings(max_examples=200, deadline=None)
@given(
    replies=st.lists(_REPLY, min_size=1, max_size=6),
    end=st.sampled_from([b"\r\n", b"\n"]),
    cuts=st.lists(st.integers(0, 400), max_size=6),
)
def test_any_replies_cut_into_any_reads_come_out_whole_and_in_order(replies, end, cuts):
    """RFC 5321 §4.2: ``ddd-text`` lines continue a reply, ``ddd text`` ends it; the
    text is what follows the code and its separator, without surrounding blanks."""
    wire = b"".join(
        b"%d%s%s%s" % (code, b"-" if i < len(lines) - 1 else b" ", line.encode(), end)
        for code, lines in replies
        for i, line in enumerate(lines)
    )
    bounds = sorted({0, len(wire), *(c for c in cuts if c < len(wire))})

    async def read() -> list[tuple[int, str]]:
        r = await reader()
        for start, stop in itertools.pairwise(bounds):
            r.data_received(wire[start:stop])
        got = [await r.reply(1.0) for _ in replies]
        assert r.idle
        return [(g.code, g.message) for g in got]

    expected = [(code, "\n".join(t.strip(" \t") for t in lines)) for code, lines in replies]
    assert asyncio.run(read()) == expected
