"""The guard of tests/conftest.py: a delivery engine still running after its test fails it.

An engine left running went on claiming from the store its test had closed, and every
later test of the worker process logged "claiming deliveries failed … Cannot operate on
a closed database".  The guard names the thread instead, in the test that left it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from helpers import assert_no_engine_left, engine_threads
from tocsin.outbox import DeliveryEngine, EngineOptions
from tocsin.services.context import Services

FAST = EngineOptions(poll_interval=0.05, settings_interval=0.05, shutdown_grace=1.0)


@contextmanager
def running_engine(services: Services) -> Iterator[threading.Event]:
    """A real DeliveryEngine on a loop thread of its own; setting the event it yields
    stops it, and the block's end always does (and waits for it)."""
    started, stopping = threading.Event(), threading.Event()
    problems: list[BaseException] = []

    async def main() -> None:
        engine = DeliveryEngine(services.store, services.settings.load, options=FAST)
        stop = asyncio.Event()
        task = asyncio.create_task(engine.run(stop))
        async with asyncio.timeout(10):  # its database thread starts with its first read
            while not any(t.name.startswith("tocsin-outbox") for t in engine_threads()):  # noqa: ASYNC110 (a thread, no event)
                await asyncio.sleep(0.01)
        started.set()
        await asyncio.to_thread(stopping.wait)
        stop.set()
        await asyncio.wait_for(task, timeout=10)

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # handed to the test's thread
            problems.append(exc)

    thread = threading.Thread(target=run, name="engine-loop")
    thread.start()
    try:
        assert started.wait(10), "the engine did not start"
        yield stopping
    finally:
        stopping.set()
        thread.join(15)
    assert not thread.is_alive(), "the engine did not stop"
    if problems:
        raise problems[0]


def test_an_engine_still_running_fails_the_guard_and_a_stopped_one_passes(
    tmp_path: Path,
) -> None:
    services = Services.open(tmp_path / "data")
    try:
        before = engine_threads()
        with running_engine(services) as stopping:
            with pytest.raises(AssertionError, match="tocsin-outbox"):
                assert_no_engine_left(before, grace=0.2)
            stopping.set()
        assert_no_engine_left(before, grace=0.2)  # run() returned: its thread is gone
    finally:
        services.close()


def test_threads_that_were_there_before_are_not_the_tests_fault(tmp_path: Path) -> None:
    services = Services.open(tmp_path / "data")
    try:
        with running_engine(services):
            assert_no_engine_left(engine_threads(), grace=0.0)
    finally:
        services.close()
