"""Storm benchmark: a site of 500 users and 200 alarm groups gets 10,000 events in a minute.

One command, one table::

    .venv/bin/python bench/storm_bench.py                 # SQLite, 10,000 events in 60 s
    .venv/bin/python bench/storm_bench.py --rate 0         # as fast as the intake goes
    .venv/bin/python bench/storm_bench.py --database postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/storm_bench.py --modes rest     # only the REST intake

Each mode of ``--modes`` (default ``rest,webhook``) runs the same storm on a fresh
store: ``rest`` posts each event to ``/api/v1/events``, ``webhook`` posts it as an
Alertmanager notification to ``/api/v1/intake/alertmanager`` (one alert each, a clear
as the resolved alert).  With both, a last table puts them side by side as ratios.

The storm (``bench/storm_scenario.py``), shuffled in time like the real thing:

- a flapping temperature sensor (40 %): ``always`` warnings, raised and cleared in turn;
- a power cut in one building (50 %): 2,500 devices lose their link (``system``
  alarms) and come back;
- humidity warnings from ten rooms whose air conditioning failed (8 %);
- fire and sabotage alarms (2 %), which must never wait behind the rest.

The server is Tocsin's real ASGI app under uvicorn in a process of its own (so its
memory and CPU are its own; ``--workers`` runs several); ``--concurrency`` keep-alive
connections post the events at ``--rate`` per second through a minimal HTTP client
(httpx costs about as much CPU per request as the intake, and would measure itself).
Email is configured but disabled, so everything stays in the outbox, where the bench
checks the order the delivery engine will take them in.  Then the summaries rounds an
hour later show what the caps held back.  Printed: events/s accepted and how far the
intake fell behind the schedule, intake latency p50/p99 (all, and fire/sabotage alone),
a health probe's p99 during the storm, emails produced, server CPU and memory, and
the routing cost per event with and without the cached site.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from storm_scenario import URGENT, as_alertmanager, site, storm  # noqa: E402

from tocsin.model import Category, Event, Severity, State, new_id  # noqa: E402
from tocsin.outbox import Priority, Status  # noqa: E402
from tocsin.routing import route  # noqa: E402
from tocsin.services.context import Services  # noqa: E402
from tocsin.services.summaries import tick  # noqa: E402
from tocsin.store.postgres import PostgresStore  # noqa: E402

SENDER = "alarm@example.com"


# ---------------------------------------------------------------------- the server
def serve(data: str, port: int, database: str | None, workers: int) -> None:
    """``--serve``: the real app over ``data`` on 127.0.0.1:``port`` (a child process)."""
    import uvicorn

    os.environ["STORM_DATA"] = data
    os.environ["STORM_DATABASE"] = database or ""
    uvicorn.run(
        "storm_bench:make_app",
        factory=True,
        host="127.0.0.1",
        port=port,
        workers=workers,
        log_level="warning",
    )


def make_app() -> Any:
    """The app of one server process (uvicorn calls this in each worker)."""
    from tocsin.app import create_app

    database = os.environ["STORM_DATABASE"] or None
    return create_app(Services.open(os.environ["STORM_DATA"], database_url=database))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (uvicorn's workers)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        for child in children:
            found += _tree(int(child))
    return found


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of ``pid`` and its workers so far."""
    total = 0
    for process in _tree(pid):
        try:
            fields = Path(f"/proc/{process}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of ``pid`` and its workers together, in MB."""
    current = peak = 0.0
    for process in _tree(pid):
        try:
            status = Path(f"/proc/{process}/status").read_text().splitlines()
        except OSError:
            continue  # it just ended
        for line in status:
            key, _, rest = line.partition(":")
            if key == "VmRSS":
                current += int(rest.split()[0]) / 1024
            elif key == "VmHWM":
                peak += int(rest.split()[0]) / 1024
    return current, peak


# ---------------------------------------------------------------------- the load
@dataclass
class Results:
    """What the clients saw."""

    latencies: list[float] = field(default_factory=list)
    urgent: list[float] = field(default_factory=list)
    health: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    retries: int = 0
    lag: float = 0.0  # how far behind schedule the last answers came


class _Connection:
    """A minimal HTTP/1.1 keep-alive client: the load generator must cost far less CPU
    than the server it measures (httpx costs about as much per request as the intake)."""

    def __init__(self, host: str, port: int, token: str, path: str = "/api/v1/events") -> None:
        self.host, self.port = host, port
        self.head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        ).encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes) -> tuple[int, bytes]:
        """Send one event; (status, body).  Raises ``OSError`` / ``IncompleteReadError``."""
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            sock = self.writer.get_extra_info("socket")
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.writer.write(self.head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _post(
    connection: _Connection,
    queue: asyncio.Queue[tuple[float, str, bytes]],
    out: Results,
) -> None:
    while True:
        try:
            due, category, body = queue.get_nowait()
        except asyncio.QueueEmpty:
            connection.close()
            return
        wait = due - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        start = time.perf_counter()
        status, answer = 0, b""
        for attempt in range(2):  # a device retries once: the client_event_id makes it safe
            try:
                status, answer = await connection.post(body)
                break
            except (OSError, asyncio.IncompleteReadError) as exc:
                connection.close()
                out.retries += attempt == 0
                answer = repr(exc).encode()
        done = time.perf_counter()
        if status != 202:
            out.failures.append(f"{status} {answer[:200]!r}")
            continue
        out.latencies.append(done - start)
        out.lag = max(out.lag, done - due)
        if category in URGENT:
            out.urgent.append(done - start)


async def _probe(url: str, stop: asyncio.Event, out: Results, pid: int) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        while not stop.is_set():
            start = time.perf_counter()
            await client.get("/healthz")
            out.health.append(time.perf_counter() - start)
            out.rss.append(_peak_rss_mb(pid)[0])
            await asyncio.sleep(0.1)


MODES = {"rest": "/api/v1/events", "webhook": "/api/v1/intake/alertmanager"}
"""The intake each mode posts to."""


def bodies(events: list[dict[str, Any]], mode: str) -> list[bytes]:
    """The request bodies of ``events`` in ``mode`` (encoded before the clock starts)."""
    payloads = as_alertmanager(events) if mode == "webhook" else events
    return [json.dumps(p).encode() for p in payloads]


async def load(
    port: int, token: str, events: list[dict[str, Any]], args: Any, pid: int, mode: str
) -> Results:
    """Post ``events`` at ``args.rate`` per second (0: as fast as possible)."""
    out = Results()
    queue: asyncio.Queue[tuple[float, str, bytes]] = asyncio.Queue()
    start = time.perf_counter() + 0.2
    for i, (event, body) in enumerate(zip(events, bodies(events, mode), strict=True)):
        due = start + (i / args.rate if args.rate else 0.0)
        queue.put_nowait((due, event["category"], body))
    stop = asyncio.Event()
    connections = [
        _Connection("127.0.0.1", port, token, MODES[mode]) for _ in range(args.concurrency)
    ]
    probe = asyncio.create_task(_probe(f"http://127.0.0.1:{port}", stop, out, pid))
    out.started = time.perf_counter()
    await asyncio.gather(*(_post(c, queue, out) for c in connections))
    out.finished = time.perf_counter()
    stop.set()
    await probe
    return out


# ---------------------------------------------------------------------- after the storm
def routing_cost(services: Services, events: list[dict[str, Any]]) -> tuple[float, float]:
    """Microseconds per event to route the storm: every user vs the cached candidates."""
    view = services.sites.view()
    sample = [
        Event(
            id=new_id(),
            group_id=e["group"],
            device=e["device"],
            sensor=e["sensor"],
            category=Category(e["category"]),
            severity=Severity(e["severity"]),
            state=State.RAISED,
            occurred_at=datetime.now(UTC),
        )
        for e in events
    ]
    timings = []
    for users in (lambda e: view.users, lambda e: view.candidates(e.group_id, e.category)):
        began = time.perf_counter()
        for event in sample:
            route(event, tree=view.tree, users=users(event))
        timings.append((time.perf_counter() - began) / len(sample) * 1e6)
    return timings[0], timings[1]


def outbox_order(services: Services, urgent_emails: int) -> tuple[int, int]:
    """Claim as many deliveries as there are fire/sabotage alarm emails: how many of them
    are fire/sabotage (the engine takes the most urgent first)."""
    claimed = services.store.claim(
        owner="bench", now=time.time() + 10**6, limit=max(1, urgent_emails), lease=1.0
    )
    firsts = sum(len(c.deliveries) for c in claimed if c.priority == Priority.FIRE)
    return firsts, sum(len(c.deliveries) for c in claimed)


def _count(services: Services, sql: str) -> int:
    with services.store.site_reading() as site_sql:
        return int(site_sql.runner.rows(sql)[0][0])


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


# ---------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10_000 / 60, help="events/s (0: no limit)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--database", help="postgresql:// URL (default: SQLite in a temp dir)")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    parser.add_argument(
        "--modes", default="rest,webhook", help="rest and/or webhook, comma-separated"
    )
    parser.add_argument("--serve", nargs=2, metavar=("DATA", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]), args.database, args.workers)
        return
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or set(modes) - set(MODES):
        raise SystemExit(f"--modes: one or more of {', '.join(MODES)}")
    seen = {mode: run(args, mode) for mode in modes}
    if len(seen) > 1:
        compare(seen)


def run(args: Any, mode: str = "rest") -> Results:
    rng = random.Random(args.seed)
    data = Path(tempfile.mkdtemp(prefix="tocsin-storm-"))
    schema = f"tocsin_storm_{uuid.uuid4().hex[:8]}" if args.database else None
    database = f"{args.database}?options=-csearch_path%3D{schema}" if schema else None
    if schema:
        PostgresStore(args.database, schema=schema).close()
    services = Services.open(data, database_url=database)
    services.settings.update({"sender_address": SENDER, "sender_name": "Tocsin"})
    the_site = site(args.users, args.groups, rng)
    services.sites.import_site(the_site)
    token, _ = services.accounts.create_token("storm", ("events",))
    rooms = [g["id"] for g in the_site["groups"] if g["id"].startswith("r")]
    events = storm(args.events, rooms, rng)

    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(HERE.parent / "src")}
    command = [sys.executable, __file__, "--serve", str(data), str(port)]
    command += ["--workers", str(args.workers)]
    if database:
        command += ["--database", database]
    child = subprocess.Popen(command, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url)
        base_rss = _peak_rss_mb(child.pid)[0]
        cpu_before, client_before = _cpu_seconds(child.pid), time.process_time()
        results = asyncio.run(load(port, token, events, args, child.pid, mode))
        results.server_cpu = _cpu_seconds(child.pid) - cpu_before
        results.client_cpu = time.process_time() - client_before
        current_rss, peak_rss = _peak_rss_mb(child.pid)
    finally:
        child.send_signal(signal.SIGINT)
        child.wait(30)
    report(services, events, results, args, (base_rss, current_rss, peak_rss), mode)
    if schema:
        store = PostgresStore(args.database, schema=schema)
        store.drop_schema()
        store.close()
    services.close()
    shutil.rmtree(data, ignore_errors=True)
    return results


def _figures(results: Results) -> dict[str, float]:
    accepted = max(1, len(results.latencies))
    return {
        "events/s accepted": accepted / max(1e-9, results.finished - results.started),
        "intake latency p50 (ms)": _pct(results.latencies, 0.5),
        "intake latency p99 (ms)": _pct(results.latencies, 0.99),
        "fire+sabotage p99 (ms)": _pct(results.urgent, 0.99),
        "server CPU per event (ms)": results.server_cpu / accepted * 1000,
        "refused or failed": float(len(results.failures)),
    }


def compare(seen: dict[str, Results]) -> None:
    """The modes side by side, each against the first (REST) as a ratio."""
    names = list(seen)
    figures = {mode: _figures(r) for mode, r in seen.items()}
    first = names[0]
    head = ["", *names, *(f"{m}/{first}" for m in names[1:])]
    rows = [head]
    for key in figures[first]:
        row = [key, *(f"{figures[m][key]:,.1f}" for m in names)]
        base = figures[first][key]
        row += [f"{figures[m][key] / base:.2f}x" if base else "-" for m in names[1:]]
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    print(f"\nIntake modes side by side (ratios against {first})")
    print("-" * (sum(widths) + 2 * len(widths)))
    for row in rows:
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )


def _wait_until_up(url: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("the server did not start within 30 s")
        time.sleep(0.1)


def report(
    services: Services,
    events: list[dict[str, Any]],
    results: Results,
    args: Any,
    rss: tuple[float, float, float],
    mode: str = "rest",
) -> None:
    """Print the table."""
    rows = _intake_rows(events, results, args) + _email_rows(services, events)
    rows += _cost_rows(services, events, results, rss)
    width = max(len(k) for k, _ in rows)
    backend = "PostgreSQL" if args.database else "SQLite"
    print(f"\nStorm: {args.users} users, {args.groups} groups, {backend}, ", end="")
    print(f"concurrency {args.concurrency}, {args.workers} server process(es), {mode} intake")
    print("-" * (width + 40))
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    if results.failures:
        print("\nfirst failures:", *results.failures[:5], sep="\n  ")


def _intake_rows(
    events: list[dict[str, Any]], results: Results, args: Any
) -> list[tuple[str, str]]:
    accepted = len(results.latencies)
    wall = results.finished - results.started
    pace = f"target rate {args.rate:.0f}/s" if args.rate else "no rate limit"
    lat, urgent = results.latencies, results.urgent
    return [
        ("events posted / accepted", f"{len(events):,} / {accepted:,}"),
        ("refused or failed", f"{len(results.failures):,} ({results.retries} retried)"),
        ("storm duration", f"{wall:.1f} s ({pace})"),
        ("events/s accepted", f"{accepted / wall:,.0f}"),
        ("most behind schedule", f"{results.lag:.1f} s"),
        ("intake latency p50 / p99", f"{_pct(lat, 0.5):.1f} / {_pct(lat, 0.99):.1f} ms"),
        (
            "fire+sabotage latency p50 / p99",
            f"{_pct(urgent, 0.5):.1f} / {_pct(urgent, 0.99):.1f} ms",
        ),
        ("/healthz during the storm p99", f"{_pct(results.health, 0.99):.1f} ms"),
    ]


def _email_rows(services: Services, events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    queued = services.store.counts()[Status.QUEUED]
    held = _count(services, "SELECT COUNT(*) FROM notification WHERE status = 'held'")
    urgent_emails = _count(services, "SELECT COUNT(*) FROM outbox_delivery WHERE priority = 0")
    firsts, claimed = outbox_order(services, urgent_emails)
    rounds = [tick(services, time.time() + 3600 + 60 * i, checks=()) for i in range(3)]
    minutes = sum(1 for r in rounds if r.summaries)
    summarized = sum(r.events_summarized for r in rounds)
    counts = services.store.counts()
    total = counts[Status.QUEUED] + counts[Status.SENDING]
    return [
        ("emails queued by the intake", f"{queued:,}"),
        ("  of them fire/sabotage alarms", f"{urgent_emails:,}"),
        ("notifications held by caps", f"{held:,}"),
        (
            "summary emails an hour later",
            f"{sum(r.summaries for r in rounds):,} in {minutes} minute(s), "
            f"covering {summarized:,} held",
        ),
        ("emails produced in total", f"{total:,} for {len(events):,} events"),
        ("outbox order: first claimed", f"{firsts:,} of {claimed:,} are fire/sabotage"),
    ]


def _cost_rows(
    services: Services,
    events: list[dict[str, Any]],
    results: Results,
    rss: tuple[float, float, float],
) -> list[tuple[str, str]]:
    accepted = max(1, len(results.latencies))
    with_all, with_cache = routing_cost(services, events[:2000])
    during = f"{statistics.median(results.rss):.0f}" if results.rss else "?"
    return [
        (
            "CPU per event: server / client",
            f"{results.server_cpu / accepted * 1000:.1f} / "
            f"{results.client_cpu / accepted * 1000:.1f} ms (on {os.cpu_count()} CPUs)",
        ),
        (
            "server RSS start / storm median / peak",
            f"{rss[0]:.0f} / {during} / {rss[2]:.0f} MB",
        ),
        ("routing per event: all users", f"{with_all:.0f} µs"),
        ("routing per event: cached site", f"{with_cache:.0f} µs"),
    ]


if __name__ == "__main__":
    main()
