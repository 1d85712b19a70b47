"""The seam below aiosmtplib's public API, kept in tocsin.transports.smtp.wire alone.

Pipelined replies need a reader of our own on aiosmtplib's transport (see the module's
docstring), which uses names aiosmtplib does not promise to keep.  If an upgrade
renames or reshapes one of them, these tests fail and say which, before a delivery
does: adapt transports/smtp/wire.py, then raise the pin in pyproject.toml.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import aiosmtplib
from smtp_support import settings_for

from tocsin.testing import SMTPTestServer
from tocsin.transports import SMTPSession
from tocsin.transports.smtp.wire import Conversation, ReplyReader

SRC = Path(__file__).resolve().parents[2] / "src" / "tocsin"
WIRE = SRC / "transports" / "smtp" / "wire.py"


def _broken(what: str) -> str:
    return (
        f"aiosmtplib {aiosmtplib.__version__}: {what}; tocsin.transports.smtp.wire relies "
        "on it for pipelining; adapt transports/smtp/wire.py before raising the pin"
    )


def test_the_protocol_module_still_has_the_names_smtp_wire_imports():
    from aiosmtplib import protocol, response

    assert isinstance(getattr(protocol, "MAX_LINE_LENGTH", None), int), _broken(
        "aiosmtplib.protocol.MAX_LINE_LENGTH is gone or no longer an int"
    )
    assert isinstance(getattr(protocol, "MAX_RESPONSE_LENGTH", None), int), _broken(
        "aiosmtplib.protocol.MAX_RESPONSE_LENGTH is gone or no longer an int"
    )
    assert isinstance(getattr(protocol, "PERIOD_REGEX", None), re.Pattern), _broken(
        "aiosmtplib.protocol.PERIOD_REGEX is gone or no longer a compiled pattern"
    )
    normalize = getattr(protocol, "normalize_message_line_endings", None)
    assert callable(normalize), _broken(
        "aiosmtplib.protocol.normalize_message_line_endings is gone"
    )
    assert normalize(b"a\nb\r\n") == b"a\r\nb\r\n", _broken(
        "normalize_message_line_endings no longer turns bare LF into CRLF"
    )
    reply = response.SMTPResponse(250, "ok")
    assert (reply.code, reply.message) == (250, "ok"), _broken(
        "aiosmtplib.response.SMTPResponse(code, message) changed shape"
    )
    for name in ("write", "connection_lost", "pause_writing", "resume_writing"):
        assert callable(getattr(protocol.SMTPProtocol, name, None)), _broken(
            f"SMTPProtocol.{name} is gone"
        )


async def test_a_connected_client_has_the_lock_and_transport_smtp_wire_borrows(ca):
    async with SMTPTestServer(ca=ca, tls="none", pipelining=True) as srv:
        session = SMTPSession(settings_for(srv))
        await session.open()
        protocol = session.client.protocol
        assert protocol is not None, _broken("SMTP.protocol is None on an open client")
        assert protocol.is_connected, _broken("SMTPProtocol.is_connected is gone")
        lock = getattr(protocol, "_command_lock", None)
        assert isinstance(lock, asyncio.Lock), _broken(
            "SMTPProtocol._command_lock is gone or no longer an asyncio.Lock"
        )
        transport = protocol.transport
        assert transport is not None, _broken("SMTPProtocol.transport is gone")

        async with Conversation(protocol, timeout=2.0) as wire:
            assert lock.locked(), _broken("the command lock is not what serialises commands")
            assert isinstance(transport.get_protocol(), ReplyReader)
            wire.send(b"NOOP\r\n")
            assert (await wire.reply()).code == 250
        # Handed back: aiosmtplib's own commands work on the same connection again.
        assert transport.get_protocol() is protocol
        assert not lock.locked()
        code, _ = await session.client.noop()
        assert code == 250, _broken("a command after the handback got no reply")
        await session.quit()


def test_no_other_module_reaches_below_aiosmtplibs_public_api():
    below = re.compile(r"aiosmtplib\.(protocol|response|connection|esmtp|auth)\b|_command_lock")
    users = sorted(
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if p != WIRE and below.search(p.read_text(encoding="utf-8"))
    )
    assert users == []
    assert below.search(WIRE.read_text(encoding="utf-8"))  # the check itself can fire
