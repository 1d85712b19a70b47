"""Delivery processes beside ``tocsin serve``: started, watched, restarted, stopped.

One Python process runs one thing at a time: in a storm of alarms ``tocsin serve``
spends its time on the intake (HTTP, checks, rendering, the commit) and on delivery
by turns.  ``tocsin serve --delivery-processes N`` starts N ``tocsin worker``
processes on the same data directory and database; serve then sends only the alarms
its intake hands straight to its own engine while that engine has a free connection
(the lone alarm keeps its short path; a burst's request of many, of which it could
take less than half, is queued whole: :class:`tocsin.outbox.handoff.Handoff`), and
leaves everything queued to the workers, which hear of it at each commit
(:mod:`tocsin.store.wakeup`).

A worker that exits while serve runs is started again (after 1 s, doubling up to
30 s while it keeps failing; its leases are taken back by the next one).  While no
worker has been running for :data:`STEADY_UP` seconds (at serve's start, or while
they keep failing), serve's own engine claims from the queue itself (``stand_in``):
queued mail and retries never wait for a worker that cannot run.  A worker may also
hang without exiting: mail due for over ``EngineOptions.overdue_after`` seconds that
no worker took, serve claims anyway.  Serve's stop ends the workers with SIGTERM
(they finish the sends in flight, like serve's own engine), and SIGKILL after
:data:`STOP_GRACE`.  Each worker also stops by itself when serve is gone
(``--stop-with-parent``), so a killed serve leaves none behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from tocsin.outbox.metrics import SharedCounts

__all__ = [
    "MAX_PROCESSES",
    "STEADY_UP",
    "STOP_GRACE",
    "WORKER_CONNECTIONS",
    "DeliveryProcesses",
    "worker_command",
]

log = logging.getLogger("tocsin")

MAX_PROCESSES: Final = 8
WORKER_CONNECTIONS: Final = 2
"""SMTP sessions of each delivery process: as many as serve's own engine opens."""
STOP_GRACE: Final = 20.0
"""Seconds a worker gets after SIGTERM: the engine's ``shutdown_grace`` (10 s) for
the sends in flight, and time to give the rest back to the queue."""
_RESTART_FIRST: Final = 1.0
_RESTART_CAP: Final = 30.0
_STEADY: Final = 60.0  # a worker that ran this long failed afresh: back to the first pause
STEADY_UP: Final = 5.0
"""Seconds a worker must have run before serve leaves the queue to the workers: past
its imports and first claim, and longer than a worker that fails at start lives."""
# Not for the workers: only serve talks to systemd (and a worker's word would be refused).
_SERVE_ONLY_ENV: Final = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS")


def worker_command(data: Path, *, connections: int, log_format: str, log_level: str) -> list[str]:
    """The command line of one delivery process of ``data`` (this Python, this Tocsin)."""
    return [
        sys.executable, "-m", "tocsin", "worker", "--data", str(data),
        "--connections", str(connections), "--log-format", log_format,
        "--log-level", log_level, "--stop-with-parent",
    ]  # fmt: skip


class DeliveryProcesses:
    """``count`` delivery processes running ``command``, for as long as :meth:`run` runs.

    Each start of a worker gets a file of its own in ``shared``'s directory for its
    send counts (``--metrics-file``), which serve's ``/metrics`` adds to its own.

    ``stand_in`` (serve's engine's :meth:`~tocsin.outbox.DeliveryEngine.stand_in`) is
    called with True while no worker has run for ``steady_up`` seconds, and with False
    once one has; first with True when :meth:`run` starts.
    """

    def __init__(
        self,
        command: Sequence[str],
        count: int,
        shared: SharedCounts,
        *,
        database_url: str | None = None,
        steady_up: float = STEADY_UP,
    ) -> None:
        if not 1 <= count <= MAX_PROCESSES:
            raise ValueError(f"delivery processes: 1 to {MAX_PROCESSES}, not {count}")
        self.command = list(command)
        self.count = count
        self.shared = shared
        # In the workers' environment, never on their command line (it may hold a password).
        self._database_url = database_url
        self._starts = 0
        self.pids: list[int | None] = [None] * count
        """The process id of each worker now (None while it is being started again)."""
        self.stand_in: Callable[[bool], None] | None = None
        self._steady_up = steady_up
        self._steady = [False] * count  # each worker: has it run STEADY_UP since its start?
        self._standing_in: bool | None = None  # what stand_in was last told

    @classmethod
    def of(
        cls,
        data: Path,
        count: int,
        *,
        database_url: str | None = None,
        log_format: str,
        log_level: str,
    ) -> DeliveryProcesses:
        """``count`` workers of the data directory ``data`` (and of ``database_url``, else
        of serve's ``$TOCSIN_DATABASE_URL``), each with :data:`WORKER_CONNECTIONS`
        sessions, their counts kept in ``outbox-workers/metrics``."""
        from tocsin.outbox.incarnation import WORKERS_DIR
        from tocsin.outbox.metrics import SharedCounts

        command = worker_command(
            data, connections=WORKER_CONNECTIONS, log_format=log_format, log_level=log_level
        )
        shared = SharedCounts(data / WORKERS_DIR / "metrics")
        return cls(command, count, shared, database_url=database_url)

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the workers running until ``stop`` is set; then stop them and return."""
        env = {k: v for k, v in os.environ.items() if k not in _SERVE_ONLY_ENV}
        if self._database_url:
            env["TOCSIN_DATABASE_URL"] = self._database_url
        await asyncio.to_thread(self.shared.clear)  # counts of an earlier run of serve
        self._judge()  # none runs yet: serve claims until one has run a while
        await asyncio.gather(*(self._keep(i, env, stop) for i in range(self.count)))

    def _judge(self) -> None:
        """Tell ``stand_in`` whether serve must claim: no worker has run long enough."""
        steady = [i for i, ok in enumerate(self._steady) if ok]
        needed = not steady
        if needed == self._standing_in:
            return
        if self._standing_in is not None:  # a change, not the start
            if needed:
                log.warning("no delivery process is running: serve sends the queued mail "
                            "itself until one runs again")  # fmt: skip
            else:
                log.info("delivery process %d is running: serve leaves the queued mail "
                         "to the delivery processes", steady[0] + 1)  # fmt: skip
        self._standing_in = needed
        if self.stand_in is not None:
            self.stand_in(needed)

    def _now_steady(self, index: int) -> None:
        """Worker ``index`` has run :data:`STEADY_UP` seconds: serve may leave it the queue."""
        self._steady[index] = True
        self._judge()

    async def _keep(self, index: int, env: dict[str, str], stop: asyncio.Event) -> None:
        pause = _RESTART_FIRST
        while not stop.is_set():
            began = time.monotonic()
            self._starts += 1
            counts = self.shared.directory / f"delivery-{index + 1}-{self._starts}.json"
            try:
                proc = await asyncio.create_subprocess_exec(
                    *self.command, "--metrics-file", str(counts), env=env
                )
            except OSError as exc:
                log.error("cannot start delivery process %d: %s", index + 1, exc)
            else:
                self.pids[index] = proc.pid
                log.info("delivery process %d started (pid %d)", index + 1, proc.pid)
                loop = asyncio.get_running_loop()
                check = loop.call_later(self._steady_up, self._now_steady, index)
                code = await _until_exit_or(proc, stop)
                check.cancel()
                self.pids[index] = None
                self._steady[index] = False
                if code is None:  # told to stop: the worker has ended
                    return
                if time.monotonic() - began >= _STEADY:
                    pause = _RESTART_FIRST
                log.warning("delivery process %d (pid %d) exited with status %d; starting "
                            "it again in %.0f s", index + 1, proc.pid, code, pause)  # fmt: skip
                self._judge()  # it no longer runs: serve may have to claim
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=pause)
            pause = min(pause * 2, _RESTART_CAP)


async def _until_exit_or(proc: asyncio.subprocess.Process, stop: asyncio.Event) -> int | None:
    """The worker's exit status if it ends by itself; None once ``stop`` ended it."""
    exited = asyncio.ensure_future(proc.wait())
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if exited.done():
        return exited.result()
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(exited, timeout=STOP_GRACE)
    except TimeoutError:
        log.warning("delivery process (pid %d) did not stop in %.0f s: killed",
                    proc.pid, STOP_GRACE)  # fmt: skip
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
    return None
