"""Ending an event loop that ran servers on a thread of its own, leaving no socket open.

Closing a loop does not close its transports: a connection still open then (a TLS
goodbye waiting for the client's close_notify, a handshake a server never saw finish)
loses its loop, and its socket is only noticed, as a ``ResourceWarning``, whenever the
garbage collector reaches it, in some later test.  `finish_loop` ends such a loop in
order: cancel what still runs, give open connections a bounded moment to close
themselves, abort the rest, then close the loop.
"""

from __future__ import annotations

import asyncio
import time

__all__ = ["finish_loop"]

_TICK = 0.02


def _holds_a_socket(transport: asyncio.BaseTransport) -> bool:
    # Not is_closing(): a transport closed with data its peer has not read says it is
    # closing, yet keeps its socket until that data is sent, which may be never.
    sock = transport.get_extra_info("socket")
    return sock is not None and sock.fileno() != -1


def _open_transports(loop: asyncio.AbstractEventLoop) -> list[asyncio.BaseTransport]:
    # Selector loops keep every transport they made in ``_transports`` (fd → transport,
    # weakly), to refuse a second transport on one file descriptor; asyncio offers no
    # public way to list a loop's connections before Python 3.13's Server.close_clients.
    registry = getattr(loop, "_transports", None)
    if registry is None:
        return []
    return [t for t in list(registry.values()) if t is not None and _holds_a_socket(t)]


async def _cancel_tasks() -> None:
    leftover = asyncio.all_tasks() - {asyncio.current_task()}
    for task in leftover:
        task.cancel()
    await asyncio.gather(*leftover, return_exceptions=True)


async def _close_transports(loop: asyncio.AbstractEventLoop, linger: float) -> None:
    deadline = time.monotonic() + linger
    # Polled: a transport's closing has no event to wait on.
    while _open_transports(loop) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(_TICK)
    for transport in _open_transports(loop):
        if isinstance(transport, asyncio.WriteTransport):
            transport.abort()
        else:
            transport.close()
    # Closing runs connection_lost (and closes the socket) on the loop's next rounds.
    for _ in range(3):
        await asyncio.sleep(0)


def finish_loop(loop: asyncio.AbstractEventLoop, *, linger: float = 2.0) -> None:
    """Cancel ``loop``'s tasks, close its connections (abort after ``linger`` s), close it.

    Call it on the loop's own thread, after ``run_forever`` / ``run_until_complete``
    has returned.
    """
    try:
        loop.run_until_complete(_cancel_tasks())
        loop.run_until_complete(_close_transports(loop, linger))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()
