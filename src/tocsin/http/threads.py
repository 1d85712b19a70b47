"""The alarm intakes' worker threads: an event's blocking work, off the event loop.

The REST and webhook intakes check the token, decode, route, render and commit on a
worker thread.  Starlette's ``run_in_threadpool`` (anyio's worker threads) cost the
event loop about 100 µs of CPU a call on this machine kind (finding the async
library, the capacity limiter, the run variables), as much as the rest of the
request's ASGI stack (issue 11: ``bench/intake_lane_bench.py``, the loop's CPU per POST
203 → 95 µs).  These threads are a plain :class:`~concurrent.futures.ThreadPoolExecutor`
shared by the process, handed work with ``loop.run_in_executor``.

What stays as with anyio: the work runs in a copy of the caller's context (the
hand-off's held landings live in a context variable), and a caller cancelled while
its work runs waits for the work to end before it lets the cancellation through, so
nothing the work did outlives the request's ``with`` blocks.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["INTAKE_THREADS", "run_intake"]

T = TypeVar("T")
log = logging.getLogger(__name__)

INTAKE_THREADS = 16
"""At most this many events are worked on at once; more wait for a free thread.  Enough
for the group commit to gather concurrent requests into one transaction."""

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _threads() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:  # made on first use: importing the web stack starts no thread
            _pool = ThreadPoolExecutor(INTAKE_THREADS, thread_name_prefix="tocsin-intake")
        return _pool


async def run_intake(work: Callable[..., T], *args: object) -> T:
    """``work(*args)`` on an intake thread, in a copy of this context; its result.

    Cancelled meanwhile, it waits for ``work`` to end, then lets the cancellation go on.
    """
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(_threads(), contextvars.copy_context().run, work, *args)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait({future})
        if not future.cancelled() and (error := future.exception()) is not None:
            log.error("an intake's work failed after its request was cancelled", exc_info=error)
        raise
