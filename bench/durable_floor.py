"""The floor under the alarm path's lone-event goal: a 202 that does nothing but commit.

The issue asks for POST → 202 at p99 ≤ 2 ms, *durable*, one event at a time.  This is
what the same HTTP stack on the same machine gives when the request does nothing but
what durability needs, so the alarm path's figure can be read against it::

    .venv/bin/python bench/durable_floor.py              # 200 samples, 50 ms apart

The floor server runs as ``tocsin serve`` runs its web side (uvicorn with httptools on
uvloop's loop, in a process of its own) with one plain ASGI app: it reads the body,
decodes the JSON, and in a worker thread inserts it as one row into SQLite the way the
store commits (WAL, ``synchronous=FULL``: ``fdatasync`` before the answer), then answers
202 with an id (a batch, ``{"events": [...]}``: a row each, one commit).  No token
check, no routing, no rendering, no email, no log line.  The alarm-path bench
(``bench/alarm_path_bench.py``) runs it in the same sitting and prints it beside
Tocsin's own figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from alarm_path_bench import Client, event, pct, wait_up  # noqa: E402  (bench/ is no package)


class FloorApp:
    """ASGI: ``POST`` → a committed SQLite row per event → ``202 {"ids": [...]}``."""

    def __init__(self, database: Path) -> None:
        self._conn = sqlite3.connect(database, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS event (id TEXT PRIMARY KEY, body TEXT)")
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="floor-intake")

    def _store(self, payload: object) -> list[str]:
        """One row per event (one event, or ``{"events": [...]}``), in one transaction."""
        many = isinstance(payload, dict) and isinstance(payload.get("events"), list)
        events = payload["events"] if many else [payload]  # type: ignore[index]
        rows = [(uuid.uuid4().hex, json.dumps(e)) for e in events]
        self._conn.execute("BEGIN IMMEDIATE")
        self._conn.executemany("INSERT INTO event VALUES (?, ?)", rows)
        self._conn.execute("COMMIT")
        return [ident for ident, _ in rows]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return  # lifespan: nothing to start or stop
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        if scope["method"] != "POST":
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        payload = json.loads(b"".join(chunks))
        loop = asyncio.get_running_loop()
        ids = await loop.run_in_executor(self._pool, self._store, payload)
        body = json.dumps({"ids": ids}).encode()
        headers = [(b"content-type", b"application/json"),
                   (b"content-length", str(len(body)).encode())]  # fmt: skip
        await send({"type": "http.response.start", "status": 202, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def serve(data: Path, port: int) -> None:
    """``--serve``: the floor server on 127.0.0.1:``port`` until SIGTERM."""
    import uvicorn
    import uvloop

    config = uvicorn.Config(
        FloorApp(data / "floor.db"), host="127.0.0.1", port=port, log_config=None,
        log_level="warning", access_log=False, proxy_headers=False, lifespan="off",
    )  # fmt: skip
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(uvicorn.Server(config).serve())


def measure(
    samples: int, gap: float, port: int, *, events: int = 0, batch: int = 100
) -> dict[str, Any]:
    """Start a floor server; ``samples`` POSTs one at a time, ``gap`` s apart (after 20
    unmeasured ones): POST → 202 in ms (``ack``); then ``events`` in POSTs of
    ``batch``, back to back: events stored a second (``burst_rate``)."""
    with tempfile.TemporaryDirectory(prefix="tocsin-floor-") as tmp:
        command = [sys.executable, __file__, "--serve", tmp, str(port)]
        server = subprocess.Popen(command)
        try:
            wait_up(port, path="/", what="the floor server")
            client = Client(port, "unused")
            for i in range(20):  # the first connection, the thread, the database's pages
                client.post(event("floor-warm", i))
            time.sleep(gap)
            load = os.getloadavg()[0]
            acks = []
            for i in range(samples):
                began = time.monotonic_ns()
                client.post(event("floor", i))
                acks.append((time.monotonic_ns() - began) / 1e6)
                time.sleep(gap)
            bodies = [
                {"events": [event("floor-burst", i) for i in range(b, min(b + batch, events))]}
                for b in range(0, events, batch)
            ]
            began = time.monotonic_ns()
            for body in bodies:
                client.post(body)
            burst_s = (time.monotonic_ns() - began) / 1e9
            client.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    return {"ack": acks, "load": load, "burst_rate": events / burst_s if events else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--gap", type=float, default=0.05, help="seconds between samples")
    parser.add_argument("--events", type=int, default=2000, help="events in the burst")
    parser.add_argument("--batch", type=int, default=100, help="events per POST in the burst")
    parser.add_argument("--serve", nargs=2, metavar=("DATA", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), int(args.serve[1]))
        return
    sys.path.insert(0, str(HERE.parent.parent / "shared" / "anchors" / "alertmanager"))
    import amlib

    out = measure(args.samples, args.gap, amlib.free_port(), events=args.events, batch=args.batch)
    print(
        f"durable floor, {args.samples} POSTs {args.gap * 1000:.0f} ms apart (load "
        f"{out['load']:.2f}): POST → 202 p50 {pct(out['ack'], 50):.2f} ms, "
        f"p99 {pct(out['ack'], 99):.2f} ms; {args.events} events in POSTs of {args.batch}: "
        f"{out['burst_rate']:.0f} events/s"
    )


if __name__ == "__main__":
    main()
