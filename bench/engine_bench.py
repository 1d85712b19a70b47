"""The delivery engine's own CPU per email: claims, verdicts, metrics, their commits.

The engine runs as ``tocsin serve`` runs it (uvloop, SQLite, metrics on) over a
transport that accepts every email at once, so what is measured is the engine's work
around the wire, not the wire (``outbox_bench.py``'s ``tocsin-transport`` row is the
wire alone).  Each round enqueues ``--count`` emails into a fresh store, then delivers
them all; the table gives each checkout's CPU µs an email over its rounds, the
checkouts taking turns in fresh processes, so both meet the same machine::

    .venv/bin/python bench/engine_bench.py                      # this checkout
    .venv/bin/python bench/engine_bench.py --src OTHER/src      # and another, in turns
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from contenders import SENDER, alarm  # noqa: E402  (bench/ is not a package)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Instant:
    """Accepts every recipient of every mail at once, as a server's 250 would."""

    async def send(self, mail: Any) -> Any:
        from tocsin.transports.base import accept_all

        return accept_all(mail)

    async def send_many(self, mails: Any, report: Any) -> None:
        from tocsin.transports.base import accept_all

        for index, mail in enumerate(mails):
            report(index, accept_all(mail))
        await asyncio.sleep(0)

    async def aclose(self) -> None:
        return None


async def _round(count: int) -> float:
    """Deliver ``count`` emails from a fresh store; the CPU seconds it took."""
    from tocsin.outbox import DeliveryEngine, EngineOptions, NewEmail, Priority, Status
    from tocsin.outbox.metrics import OutboxMetrics
    from tocsin.settings import EmailSettings, Encryption
    from tocsin.store import open_store

    with tempfile.TemporaryDirectory(prefix="tocsin-engine-bench-") as tmp:
        store = open_store(Path(tmp) / "tocsin.db")
        for start in range(0, count, 500):
            with store.transaction() as tx:
                for i in range(start, min(count, start + 500)):
                    tx.enqueue(NewEmail(alarm(i), int(Priority.FIRE), "bench"))
        settings = EmailSettings(
            enabled=True, sender_address=SENDER, host="127.0.0.1", port=25,
            encryption=Encryption.NONE,
        )  # fmt: skip
        done, sent = asyncio.Event(), [0]

        def heard(*_: object) -> None:
            sent[0] += 1
            if sent[0] >= count:
                done.set()

        engine = DeliveryEngine(
            store, lambda: settings, options=EngineOptions(max_connections=4),
            transport_factory=lambda _: _Instant(), metrics=OutboxMetrics(store), on_sent=heard,
        )  # fmt: skip
        stop = asyncio.Event()
        cpu0 = _cpu()
        task = asyncio.create_task(engine.run(stop))
        await asyncio.wait_for(done.wait(), timeout=300)
        stop.set()
        await task
        spent = _cpu() - cpu0
        if store.counts()[Status.SENT] != count:
            raise RuntimeError("not every delivery is marked sent")
        store.close()
    return spent


def _child(count: int, rounds: int) -> None:
    """``--child``: a warm-up round, then ``rounds``; CPU µs an email of each, as JSON."""
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_round(min(count, 1000)))
        spent = [runner.run(_round(count)) / count * 1e6 for _ in range(rounds)]
    print(json.dumps(spent))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=10_000, help="emails a round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds a process")
    parser.add_argument("--turns", type=int, default=3, help="processes per checkout")
    parser.add_argument("--src", type=Path, help="another checkout's src directory")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        _child(options.count, options.rounds)
        return
    checkouts: dict[str, dict[str, str]] = {"this checkout": dict(os.environ)}
    if options.src is not None:
        other = {**os.environ, "PYTHONPATH": str(options.src.resolve())}
        checkouts[str(options.src)] = other
    spent: dict[str, list[float]] = {name: [] for name in checkouts}
    command = [sys.executable, __file__, "--child", "--count", str(options.count),
               "--rounds", str(options.rounds)]  # fmt: skip
    for _ in range(options.turns):
        for name, env in checkouts.items():
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            spent[name] += json.loads(done.stdout.strip().splitlines()[-1])
    print(f"Delivery engine over an instant transport: {options.count} emails a round, "
          f"load {os.getloadavg()[0]:.2f}\n")  # fmt: skip
    print(f"{'checkout':<40}{'CPU µs/email: min':>20}{'median':>9}{'max':>8}")
    first = None
    for name, values in spent.items():
        low, mid = min(values), statistics.median(values)
        first = first or mid
        ratio = f"  ({mid / first:.2f}× the first)" if mid != first else ""
        print(f"{name:<40}{low:>20.1f}{mid:>9.1f}{max(values):>8.1f}{ratio}")


if __name__ == "__main__":
    main()
