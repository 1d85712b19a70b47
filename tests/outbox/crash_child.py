"""A process that accepts and delivers emails, for the crash tests (run, then SIGKILLed).

    python crash_child.py --url URL [--schema S] --port P --run RUN --total N [--drain]
                          [--go FILE]

It enqueues emails (one transaction each, subject ``crash RUN <n>``) until the outbox
holds ``total`` of them, delivering all the while; with ``--drain`` it only delivers,
exits 0 once nothing is queued or leased, and prints how many it sent.  With ``--go``
it prints ``ready`` once its stores are open and starts delivering only when FILE
exists, so that several workers can start at the same moment.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from tocsin.message import compose
from tocsin.outbox import DeliveryEngine, EngineOptions, NewEmail, Priority, RetryPolicy, Status
from tocsin.settings import EmailSettings, Encryption
from tocsin.store import open_store


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--schema")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--run", required=True)
    parser.add_argument("--total", type=int, default=0)
    parser.add_argument("--drain", action="store_true")
    parser.add_argument("--lease", type=float, default=1.0)
    parser.add_argument("--go")
    return parser.parse_args()


def _wait_for(go: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.01)


async def main(args: argparse.Namespace) -> int:
    store = open_store(args.url, schema=args.schema)
    feeder = open_store(args.url, schema=args.schema)  # the "API" side has its own connection
    settings = EmailSettings(
        enabled=True, sender_address="alarm@example.com", host="127.0.0.1",
        port=args.port, encryption=Encryption.NONE, timeout=5, deadline=10,
    )  # fmt: skip
    options = EngineOptions(
        lease=args.lease, poll_interval=0.02, settings_interval=1.0, record_linger=0.0,
        retry=RetryPolicy(first=0.1, cap=0.5, jitter=0.5),
    )  # fmt: skip
    sent = 0

    def count(_email: object, verdict: object, _elapsed: float) -> None:
        nonlocal sent
        sent += sum(u.status is Status.SENT for u in verdict.updates)  # type: ignore[attr-defined]

    engine = DeliveryEngine(store, lambda: settings, options=options, on_sent=count)
    if args.go:
        print("ready", flush=True)
        await asyncio.to_thread(_wait_for, Path(args.go))
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))
    have = sum(feeder.counts().values())
    while not args.drain and have < args.total:
        mail = compose(
            sender="alarm@example.com", to=["ops@example.net"],
            subject=f"crash {args.run} {have}", text=f"email {have} of run {args.run}\n",
        )  # fmt: skip
        with feeder.transaction() as tx:
            tx.enqueue(NewEmail.of(mail, Priority.FIRE))
        have += 1
        engine.wake()
        await asyncio.sleep(0.002)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        counts = await asyncio.to_thread(feeder.counts)
        if counts[Status.QUEUED] == 0 and counts[Status.SENDING] == 0:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await task
    feeder.close()
    store.close()
    print(sent, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
