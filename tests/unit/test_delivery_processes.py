"""The supervisor of serve's delivery processes (:mod:`tocsin.deploy.workers`), with a
stand-in worker: what environment it gets, where its counts go, and that a stop ends it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tocsin.deploy.workers import DeliveryProcesses
from tocsin.outbox.metrics import SharedCounts

# Writes what it was given to its --metrics-file (the last argument), then waits to be
# stopped, as a worker does.
_STAND_IN = """
import json, os, sys, time
with open(sys.argv[-1] + ".tmp", "w") as out:
    json.dump({"argv": sys.argv[1:], "url": os.environ.get("TOCSIN_DATABASE_URL"),
               "notify": os.environ.get("NOTIFY_SOCKET")}, out)
os.replace(sys.argv[-1] + ".tmp", sys.argv[-1])
time.sleep(120)
"""


async def _run_until_started(workers: DeliveryProcesses, shared: SharedCounts) -> dict[str, object]:
    stop = asyncio.Event()
    task = asyncio.create_task(workers.run(stop))
    deadline = time.monotonic() + 20
    while not list(shared.directory.glob("delivery-*.json")):
        assert time.monotonic() < deadline, "the stand-in did not start"
        await asyncio.sleep(0.05)
    (path,) = shared.directory.glob("delivery-*.json")
    given = json.loads(path.read_text())
    (pid,) = workers.pids
    began = time.monotonic()
    stop.set()
    await asyncio.wait_for(task, 30)
    given["stopped_in"] = time.monotonic() - began
    given["pid_after"] = workers.pids
    given["pid"] = pid
    return given


def test_a_worker_gets_the_database_but_not_systemds_socket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", "/run/systemd/notify")  # only serve talks to systemd
    monkeypatch.setenv("TOCSIN_DATABASE_URL", "postgresql://serve-env/db")
    shared = SharedCounts(tmp_path / "metrics")
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "old.json").write_text('{"sent": 5}')  # an earlier run's
    workers = DeliveryProcesses(
        [sys.executable, "-c", _STAND_IN], 1, shared, database_url="postgresql://given/db"
    )
    given = asyncio.run(_run_until_started(workers, shared))
    assert given["url"] == "postgresql://given/db"
    assert given["notify"] is None
    assert given["argv"][0] == "--metrics-file"
    assert given["stopped_in"] < 10  # SIGTERM ended it
    assert given["pid_after"] == [None]
    assert not (tmp_path / "metrics" / "old.json").exists()  # serve's counts start at zero


def test_without_a_url_a_worker_keeps_serves_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOCSIN_DATABASE_URL", "postgresql://serve-env/db")
    shared = SharedCounts(tmp_path / "metrics")
    workers = DeliveryProcesses([sys.executable, "-c", _STAND_IN], 1, shared)
    assert asyncio.run(_run_until_started(workers, shared))["url"] == "postgresql://serve-env/db"


def test_the_count_is_bounded(tmp_path: Path) -> None:
    shared = SharedCounts(tmp_path)
    for count in (0, 9):
        with pytest.raises(ValueError, match="1 to 8"):
            DeliveryProcesses([sys.executable], count, shared)


async def _run_while(workers: DeliveryProcesses, act: Callable[[], Awaitable[None]]) -> None:
    """Run the supervisor while ``act`` runs; then stop it."""
    stop = asyncio.Event()
    task = asyncio.create_task(workers.run(stop))
    try:
        await act()
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def _eventually(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def test_serve_stands_in_until_a_worker_has_run_a_while(tmp_path: Path) -> None:
    workers = DeliveryProcesses(
        [sys.executable, "-c", _STAND_IN], 1, SharedCounts(tmp_path), steady_up=1.0
    )
    told: list[bool] = []

    async def act() -> None:
        await _eventually(lambda: told == [True], "serve claiming at the start")
        await _eventually(lambda: workers.pids[0] is not None, "the worker")
        first = workers.pids[0]
        assert told == [True]  # it runs, but not yet long enough
        await _eventually(lambda: told == [True, False], "the queue handed to the worker")
        assert first is not None
        os.kill(first, signal.SIGKILL)
        await _eventually(lambda: told == [True, False, True], "serve claiming again")
        # Started again after 1 s, and trusted again a second later.
        await _eventually(lambda: told == [True, False, True, False], "the new worker", 10)
        assert workers.pids[0] not in (None, first)

    workers.stand_in = told.append
    asyncio.run(_run_while(workers, act))
    assert told == [True, False, True, False]  # nothing more at the stop


def test_a_worker_that_cannot_run_leaves_serve_claiming(tmp_path: Path) -> None:
    # It exits at once each time, noting each start: serve never leaves the queue to
    # it.  (A shell, not a Python, and 2 s to be trusted: a Python's own start took
    # more than 0.5 s on a loaded 2-core machine, so it had run long enough.)
    starts = tmp_path / "starts"
    workers = DeliveryProcesses(
        ["/bin/sh", "-c", f"echo started >> '{starts}'; exit 3"], 1, SharedCounts(tmp_path),
        steady_up=2.0,
    )  # fmt: skip
    told: list[bool] = []
    workers.stand_in = told.append

    async def act() -> None:
        await asyncio.sleep(4.0)  # starts at 0, 1 and 3 s

    asyncio.run(_run_while(workers, act))
    assert told == [True]
    assert len(starts.read_text().splitlines()) >= 2  # tried again (and failed again)
