"""The event loop Tocsin's long-running processes (``serve``, ``worker``) run on."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

__all__ = ["run_service"]


def run_service(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` to its end on uvloop's event loop.

    uvloop runs the loop's bookkeeping in C: on the alarm-path bench a single event
    (request, routing, rendering, delivery) takes a sixth fewer Python calls than on
    asyncio's own loop (issue 11), and a delivery process spends less of its CPU on the
    loop between SMTP replies.  Without uvloop (not installed, another platform)
    asyncio's loop does the same work.
    """
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)
