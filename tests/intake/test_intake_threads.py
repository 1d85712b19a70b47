"""The intakes' worker threads (``tocsin.http.threads``): what anyio's gave, kept.

The context is the caller's (the hand-off's held landings live in a context
variable), the result and errors come back, and a caller cancelled while its work
runs lets the cancellation through only after the work has ended.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import time

import pytest

from tocsin.http.threads import INTAKE_THREADS, run_intake

MARK: contextvars.ContextVar[str] = contextvars.ContextVar("mark", default="unset")


def test_work_runs_off_the_loop_in_a_copy_of_the_callers_context() -> None:
    async def main() -> tuple[str, str, str]:
        MARK.set("request 7")

        def work() -> tuple[str, str]:
            seen = MARK.get()
            MARK.set("changed in the thread")  # a copy: the caller keeps its own
            return seen, threading.current_thread().name

        seen, thread = await run_intake(work)
        return seen, thread, MARK.get()

    seen, thread, after = asyncio.run(main())
    assert seen == "request 7"
    assert thread.startswith("tocsin-intake")
    assert thread != threading.main_thread().name
    assert after == "request 7"


def test_errors_come_back_to_the_caller() -> None:
    def work(text: str) -> None:
        raise ValueError(text)

    with pytest.raises(ValueError, match="refused"):
        asyncio.run(run_intake(work, "refused"))


def test_a_cancelled_caller_waits_for_its_work_to_end() -> None:
    ended = threading.Event()
    started = threading.Event()

    def work() -> str:
        started.set()
        time.sleep(0.3)
        ended.set()
        return "committed"

    async def main() -> bool:
        task = asyncio.ensure_future(run_intake(work))
        assert await asyncio.to_thread(started.wait, 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return ended.is_set()

    # Without the wait, the cancellation would come through while the work still ran.
    assert asyncio.run(main()) is True


def test_work_that_fails_after_its_caller_was_cancelled_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    started = threading.Event()

    def work() -> None:
        started.set()
        time.sleep(0.2)
        raise RuntimeError("the store went away")

    async def main() -> None:
        task = asyncio.ensure_future(run_intake(work))
        assert await asyncio.to_thread(started.wait, 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with caplog.at_level(logging.ERROR, logger="tocsin.http.threads"):
        asyncio.run(main())
    assert any(
        "after its request was cancelled" in r.getMessage()
        and r.exc_info is not None
        and "the store went away" in str(r.exc_info[1])
        for r in caplog.records
    )


def test_many_at_once_share_the_bounded_threads() -> None:
    running = 0
    most = 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.02)
        with lock:
            running -= 1

    async def main() -> None:
        await asyncio.gather(*(run_intake(work) for _ in range(INTAKE_THREADS * 3)))

    asyncio.run(main())
    assert 1 < most <= INTAKE_THREADS
