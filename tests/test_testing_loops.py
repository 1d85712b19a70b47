"""finish_loop: a loop thread's servers end with every accepted connection closed."""

from __future__ import annotations

import asyncio
import gc
import socket
import threading
import time

import pytest

from tocsin.testing import TestCA, finish_loop


class _Silent(asyncio.Protocol):
    """Accepts a connection and never closes it by itself."""


class _ClosesWithUnsentData(asyncio.Protocol):
    """Writes more than the peer reads, then closes: the socket stays open until sent."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(b"x" * 32_000_000)  # far beyond both ends' socket buffers
        transport.close()  # is_closing() from now on, with the socket still open


def _serve_on_a_thread(
    ssl_context: object | None,
    protocol: type[asyncio.Protocol] = _Silent,
) -> tuple[asyncio.AbstractEventLoop, threading.Thread, int]:
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(
        loop.create_server(protocol, "127.0.0.1", 0, ssl=ssl_context)  # type: ignore[arg-type]
    )
    port = int(server.sockets[0].getsockname()[1])

    def run() -> None:
        try:
            loop.run_forever()
        finally:
            server.close()
            finish_loop(loop, linger=0.3)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return loop, thread, port


def _peer_closes(client: socket.socket) -> bool:
    """True if the server end of ``client``'s connection is gone (EOF or reset)."""
    client.settimeout(5)
    deadline = time.monotonic() + 5
    try:
        while time.monotonic() < deadline:
            if not client.recv(4096):
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return False


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls-handshake-never-finished"])
def test_connections_left_open_are_closed_when_the_loop_ends(tls: bool) -> None:
    with TestCA() as ca:
        _left_open_then_closed(ca.server_context() if tls else None)


def test_a_connection_closing_with_unsent_data_is_aborted_when_the_loop_ends() -> None:
    # A transport closed with data its peer never read says is_closing() but keeps its
    # socket until the data is sent; left so, the closed loop lost it (the CI leak of
    # test_an_smtp_transaction_begun_before_the_stop_is_finished).
    _left_open_then_closed(None, _ClosesWithUnsentData)


def _left_open_then_closed(
    context: object | None, protocol: type[asyncio.Protocol] = _Silent
) -> None:
    loop, thread, port = _serve_on_a_thread(context, protocol)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        time.sleep(0.2)  # accepted (and, with TLS, waiting for a ClientHello that never comes)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        assert not thread.is_alive()
        assert loop.is_closed()
        assert _peer_closes(client), "the server's end of the connection was left open"
    gc.collect()  # a transport the loop lost would warn here, an error under -W error
