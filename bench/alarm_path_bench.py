"""The alarm path, end to end, beside Alertmanager and smtp-source in one sitting (issue 11).

One command, one table::

    .venv/bin/python bench/alarm_path_bench.py            # about 2-3 minutes on 2 cores
    .venv/bin/python bench/alarm_path_bench.py --no-anchors   # Tocsin alone (quick)

Tocsin runs as ``tocsin serve`` does (``serve_forever``: the ASGI app, the delivery
engine and the rest in one process of its own, SQLite in a temp dir, or ``--database``)
and sends to Postfix's ``smtp-sink`` on loopback, which dumps each message to a file on
tmpfs; an inotify watch stamps the moment each file is complete (the same sink, watch and
timing as the Alertmanager anchor's, from ``../shared/anchors/alertmanager/amlib.py``).
One site, one group, one user: every event gives one single-recipient email.

Shapes (all bounded in count and time):

- latency: ``--samples`` events one at a time (POST, then wait for its mail; 50 ms
  apart): POST → 202 and POST → message complete at the sink, p50 / p99;
- with ``--sweep 0,0.005,0.05``, the latency shape again at each of those spacings:
  on a machine idle between events each one runs cold (caches, sleeping cores), and
  costs about twice the CPU and time of one right after another;
- with ``--quiet N``, N more events one at a time, each after 31 s without mail: the
  engine has closed its idle connections (``idle_close``) and opens a new one, as
  for most real alarms, which come after a quiet spell;
- burst: ``--events`` single-recipient events in POSTs of ``--batch`` → emails/s from
  the first POST to the last message at the sink;
- server CPU per event (user + system of the server process, in each shape);
- SQL statements per event (SQLite), or round trips to the server per event
  (PostgreSQL: pipeline syncs and exchanges outside a pipeline, see
  ``bench/pg_round_trips.py``), counted in a separate pass against a server of its own
  (``--count-samples`` one at a time, a burst of ``--count-events``): the counter
  costs CPU of its own, so the pass that measures time and CPU runs without it;
- the floor under the lone shape (``bench/durable_floor.py``, ``--floor-samples``): the
  same HTTP server stack answering each POST with 202 after one durable SQLite insert
  and nothing else, ``--gap`` apart: what this machine gives any durable 202; and the
  burst's POSTs to it (a row an event), the intake's floor in events/s;
- outbox alone with 4 connections (``bench/outbox_bench.py``'s ``tocsin`` contender)
  beside ``smtp-source -s4 -d`` to the same kind of sink; the same queue drained by
  two delivery processes of 2 connections each (``tocsin-processes``: both cores, as
  ``serve --delivery-processes 2``); and the SMTP transport alone (its
  ``tocsin-transport`` contender: the same emails from memory, no outbox).

In the same run, the Alertmanager anchor (``AMB_ONLY=L1,T1 AMB_RUNS=1`` of
``../shared/anchors/alertmanager/run.sh``; ``--am-runs`` for more); then the burst
and Alertmanager's (its T1 alone) in ``--burst-rounds`` rounds, in turns, against a
fresh ``serve --delivery-processes N`` each round (medians, and the range of the
rounds' ratios: the single burst and Alertmanager's run a minute apart can meet
different machines); then the issue's table with ratios.  ``load`` is the 1-minute
load average as each part started: other work on the machine skews every figure, so
read ratios rather than absolute times.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(HERE))

SENDER = "alarm@example.com"
RECIPIENT = "oncall@example.net"
ANCHORS = REPO.parent / "shared" / "anchors"
STEADY_LINE = "serve leaves the queued mail to the delivery processes"
"""What serve logs once a delivery process has run long enough to be left the queue."""
GOALS = {"ack_p99": 2.0, "mail_p99": 3.0, "burst_x_am": 3.0, "cpu_ms": 0.8, "outbox_share": 0.5}


# ---------------------------------------------------------------------- the server
def serve(
    data: str, port: int, database: str, profile: str, *, count: bool, delivery: int = 0
) -> None:
    """``--serve``: what ``tocsin serve`` runs, over ``data`` (a child process); with
    ``count``, it counts its SQL statements (see :func:`_count_statements`); with
    ``delivery``, beside that many delivery processes (``--delivery-processes``)."""
    import cProfile

    from tocsin.cli.runtime import serve_forever
    from tocsin.deploy.event_loop import run_service
    from tocsin.deploy.logs import configure_logging
    from tocsin.deploy.workers import DeliveryProcesses
    from tocsin.services.context import Services

    # As `tocsin serve` logs (one text line per request and event, uvicorn's access log
    # included), to a file in the data directory instead of the journal's stream.
    log_file = open(Path(data) / "serve.log", "a", encoding="utf-8")  # noqa: SIM115
    configure_logging("text", level="info", stream=log_file)
    services = Services.open(data, database_url=database or None)
    if count:
        _count_statements(services, Path(data) / "statements")
    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()  # the event loop's thread only (the intake runs in a pool)
    try:
        workers = None
        if delivery:
            workers = DeliveryProcesses.of(
                Path(data), delivery, database_url=database or None, log_format="text",
                log_level="info",
            )  # fmt: skip
        run_service(serve_forever(services, host="127.0.0.1", port=port, workers=workers))
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)
        services.close()


def _count_statements(services: Any, out: Path) -> None:
    """Count the statements the server runs (SQLite) or its round trips to the server
    (PostgreSQL); SIGUSR1 writes the count to ``out``."""
    conn = getattr(services.store, "_conn", None)
    if conn is None or not hasattr(conn, "set_trace_callback"):
        import pg_round_trips

        read = pg_round_trips.install()
        if read is None:
            raise SystemExit("this psycopg cannot be counted: run with --count-samples 0")
        _dump_on_signal(read, out)
        return
    count = [0]
    # $TOCSIN_BENCH_SQL_LOG: also write each statement (time, thread, first 160
    # characters) to that file, to see which ones an event costs.
    sql_log = os.environ.get("TOCSIN_BENCH_SQL_LOG")
    texts = open(sql_log, "a", encoding="utf-8") if sql_log else None  # noqa: SIM115

    def traced(sql: str) -> None:
        count[0] += 1
        if texts is not None:
            line = " ".join(sql.split())[:160]
            texts.write(f"{time.monotonic():.4f} {threading.current_thread().name} {line}\n")
            texts.flush()

    conn.set_trace_callback(traced)
    _dump_on_signal(lambda: count[0], out)


def _dump_on_signal(read: Any, out: Path) -> None:
    def dump(_signum: int, _frame: object) -> None:
        out.with_suffix(".tmp").write_text(str(read()))
        out.with_suffix(".tmp").replace(out)

    signal.signal(signal.SIGUSR1, dump)


def statements_now(server: subprocess.Popen[str], data: Path) -> int:
    """The server's statement (SQLite) or round-trip (PostgreSQL) count so far, or -1."""
    out = data / "statements"
    out.unlink(missing_ok=True)
    server.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 5.0
    while not out.exists():
        if time.monotonic() > deadline:
            return -1
        time.sleep(0.01)
    return int(out.read_text())


def prepare(data: Path, database: str, sink_port: int) -> str:
    """Set up the site and the email settings; the API token."""
    from tocsin.services.context import Services

    services = Services.open(data, database_url=database or None)
    try:
        _, report, saved = services.settings.update(
            {
                "enabled": True,
                "sender_address": SENDER,
                "sender_name": "Tocsin Bench",
                "host": "127.0.0.1",
                "port": sink_port,
                "encryption": "none",
            }
        )
        if not saved:
            raise SystemExit(f"settings refused: {report}")
        services.sites.import_site(
            {
                "groups": [{"id": "hall", "name": "Hall"}],
                "users": [
                    {
                        "id": "u1",
                        "name": "On Call",
                        "email": RECIPIENT,
                        "language": "en",
                        "time_zone": "Europe/Berlin",
                        "groups": ["hall"],
                        "categories": ["fire", "sabotage", "armed", "always", "system"],
                    }
                ],
            }
        )
        token, _ = services.accounts.create_token("bench", ("events",))
        return token
    finally:
        services.close()


def event(tag: str, i: int) -> dict[str, Any]:
    """A fire alarm from its own detector: one email to the one user."""
    return {
        "group": "hall",
        "device": f"Detector {i}",
        "sensor": "smoke",
        "category": "fire",
        "severity": "alarm",
        "text": "Smoke in the hall",
        "client_event_id": f"{tag}-{i}",
    }


class Client:
    """POST /api/v1/events over one keep-alive connection (http.client: cheap, blocking)."""

    def __init__(self, port: int, token: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def post(self, payload: object) -> None:
        self.conn.request("POST", "/api/v1/events", json.dumps(payload), self.headers)
        answer = self.conn.getresponse()
        body = answer.read()
        if answer.status != 202:
            raise RuntimeError(f"POST answered {answer.status}: {body[:300]!r}")

    def reconnect(self) -> None:
        """A new connection: the server closes an idle one after a few seconds."""
        self.conn.close()
        self.conn.connect()

    def close(self) -> None:
        self.conn.close()


def wait_up(
    port: int, timeout: float = 30.0, *, path: str = "/healthz", what: str = "the server"
) -> None:
    """Until GET ``path`` answers 200, or any status when ``path`` is "/" (the floor
    server has no health check); exits after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            try:
                conn.request("GET", path)
                answer = conn.getresponse()
                answer.read()
            finally:
                conn.close()
            if answer.status == 200 or path == "/":
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not start within {timeout:.0f} s")
        time.sleep(0.1)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class Harness:
    """One server process (as ``tocsin serve``), its smtp-sink and the sink's watch."""

    def __init__(self, args: Any, amlib: Any, *, count: bool, delivery: int = 0) -> None:
        self.args, self.amlib, self.count, self.delivery = args, amlib, count, delivery
        self.work = Path(tempfile.mkdtemp(prefix="tocsin-alarm-bench-"))
        self.dump_root = Path(
            tempfile.mkdtemp(prefix="tocsin-alarm-dump-", dir=amlib.ram_dir_base())
        )
        os.chmod(self.dump_root, 0o755)  # noqa: S103  (smtp-sink runs as nobody and writes below it)
        self.dump = self.dump_root / "d"
        self.dump.mkdir()
        self.sink: subprocess.Popen[bytes] | None = None
        self.server: subprocess.Popen[str] | None = None
        self.watch: Any = None
        self.schema = f"tocsin_alarm_{uuid.uuid4().hex[:8]}" if args.database else ""
        self.database = (
            f"{args.database}?options=-csearch_path%3D{self.schema}" if self.schema else ""
        )

    def start(self) -> Client:
        """Sink, store, server; a client with an ``events`` token."""
        amlib, args = self.amlib, self.args
        sink_bin = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
        root = os.geteuid() == 0
        if root:  # smtp-sink insists on -u when root, and writes its dumps as that user
            shutil.chown(self.dump, "nobody")
        sink_port, port = amlib.free_port(), amlib.free_port()
        user = ["-u", "nobody"] if root else []
        self.sink = subprocess.Popen(
            [sink_bin, *user, "-m", "4096", "-d", f"{self.dump}/%Y%m%d%H%M%S.",
             f"127.0.0.1:{sink_port}", "4096"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        amlib.wait_port(sink_port)
        self.watch = amlib.DirWatch(self.dump, amlib.IN_CLOSE_WRITE)
        if self.schema:
            from tocsin.store.postgres import PostgresStore

            PostgresStore(args.database, schema=self.schema).close()
        token = prepare(self.work / "data", self.database, sink_port)
        command = [sys.executable, __file__, "--serve", str(self.work / "data"), str(port)]
        command += ["--database", self.database] if self.database else []
        command += ["--count-sql"] if self.count else []
        command += ["--delivery-processes", str(self.delivery)]  # the default is for main()
        command += ["--profile", str(args.profile)] if args.profile and not self.count else []
        env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
        self.server = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
        wait_up(port)
        if self.delivery:
            self._wait_steady(time.monotonic() + 30)
        return Client(port, token)

    def _wait_steady(self, deadline: float) -> None:
        """Until serve says it leaves the queue to its delivery processes: a worker has
        run ``STEADY_UP`` (5) seconds.  Before that serve claims the queue itself beside
        the worker (tocsin.deploy.workers), a start-up state, not the one a storm meets:
        a burst 3 s after the start spent 450 µs of serve's CPU an event, after 7 s 330."""
        log = self.work / "data" / "serve.log"
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if STEADY_LINE in log.read_text(encoding="utf-8", errors="replace"):
                    return
            time.sleep(0.1)
        raise RuntimeError(f"serve did not hand the queue to its delivery processes: {log}")

    def children(self) -> list[int]:
        """The server's child processes now (its delivery processes)."""
        assert self.server is not None
        try:
            text = Path(f"/proc/{self.server.pid}/task/{self.server.pid}/children").read_text()
        except OSError:
            return []
        return [int(pid) for pid in text.split()]

    def cpu_s(self) -> float:
        """The server's CPU seconds so far (user + system), its delivery processes' too."""
        assert self.server is not None
        total = 0.0
        for pid in [self.server.pid, *self.children()]:
            with contextlib.suppress(OSError):
                total += self.amlib.proc_cpu_s(pid)
        return total

    def statements(self) -> int:
        """The server's statement (SQLite) or round-trip (PostgreSQL) count so far, if
        it counts, or -1."""
        if not self.count or self.server is None:
            return -1
        return statements_now(self.server, self.work / "data")

    def close(self) -> None:
        """Stop the server and the sink; remove the data (and the PostgreSQL schema)."""
        server = self.server
        if server is not None:
            server.send_signal(signal.SIGTERM)
            try:
                _, errors = server.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                _, errors = server.communicate()
            if server.returncode not in (0, -signal.SIGTERM) and errors:
                print(errors[-2000:], file=sys.stderr)
        if self.watch is not None:
            self.watch.close()
        if self.sink is not None:
            self.amlib.stop_pid(self.sink)
        if self.schema:
            from tocsin.store.postgres import PostgresStore

            store = PostgresStore(self.args.database, schema=self.schema)
            store.drop_schema()
            store.close()
        shutil.rmtree(self.work, ignore_errors=True)
        shutil.rmtree(self.dump_root, ignore_errors=True)


def _per_second(h: Harness, seconds: float) -> tuple[float, float]:
    """CPU cores and statements per second the idle server spends (engine, timers)."""
    sql0, idle0, began = h.statements(), h.cpu_s(), time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - began
    return (h.cpu_s() - idle0) / elapsed, (h.statements() - sql0) / elapsed


def _lone(h: Harness, client: Client, samples: int, gap: float, tag: str) -> dict[str, Any]:
    """``samples`` events one at a time (plus one uncounted); POST → 202 and → sink."""
    idle, sql_idle = _per_second(h, 2.0)
    acks, mails = [], []
    sql0, cpu0, began = h.statements(), h.cpu_s(), time.monotonic()
    for i in range(-1, samples):
        seen = h.watch.count()
        if gap > 4:  # uvicorn closes a keep-alive connection idle for 5 s
            client.reconnect()  # (not timed: the server's side is what is measured)
        t0 = time.monotonic_ns()
        client.post(event(f"l{tag}", i))
        t_ack = time.monotonic_ns()
        if h.watch.wait(seen + 1, time.monotonic() + 10.0) < seen + 1:
            raise RuntimeError(f"latency sample {i}: no mail at the sink within 10 s")
        if i >= 0:
            acks.append((t_ack - t0) / 1e6)
            mails.append((h.watch.stamps()[-1] - t0) / 1e6)
        time.sleep(gap)
    if gap > 4:
        client.reconnect()  # for what comes next
    elapsed = time.monotonic() - began
    spent = h.cpu_s() - cpu0 - idle * elapsed
    sql = h.statements() - sql0 - sql_idle * elapsed
    return {
        "idle_cores": idle,
        "cpu_latency_ms": spent / (samples + 1) * 1e3,
        "sql_latency": sql / (samples + 1),
        "ack": acks,
        "mail": mails,
    }


def _burst(h: Harness, client: Client, n: int, batch: int, tag: str) -> dict[str, Any]:
    """``n`` events in POSTs of ``batch``, then wait for every mail."""
    time.sleep(0.5)
    h.amlib.empty_dir(h.dump)
    h.watch.reset()
    batches = [
        {"events": [event(f"b{tag}", i) for i in range(b, min(b + batch, n))]}
        for b in range(0, n, batch)
    ]
    sql0, cpu0 = h.statements(), h.cpu_s()
    t0 = time.monotonic_ns()
    for body in batches:
        client.post(body)
    t_posted = time.monotonic_ns()
    seen = h.watch.wait(n, time.monotonic() + h.args.burst_deadline)
    done = max(h.watch.stamps(), default=t0)
    return {
        "cpu_burst_ms": (h.cpu_s() - cpu0) / n * 1e3,
        "sql_burst": (h.statements() - sql0) / n,
        "burst_seen": seen,
        "burst_rate": seen / ((done - t0) / 1e9),
        "burst_post_s": (t_posted - t0) / 1e9,
    }


def _pass(
    args: Any, amlib: Any, *, count: bool, samples: int, events: int, delivery: int = 0
) -> dict[str, Any]:
    """Both shapes against one fresh server (counting statements or not; beside
    ``delivery`` delivery processes, the lone shape without the sweep)."""
    h = Harness(args, amlib, count=count, delivery=delivery)
    try:
        client = h.start()
        tag = uuid.uuid4().hex[:8]
        out: dict[str, Any] = {"load_latency": os.getloadavg()[0]}
        client.post(event(f"w{tag}", 0))  # warm-up: imports, templates, first connection
        time.sleep(1.0)
        out |= _lone(h, client, samples, args.gap, tag)
        out["sweep"] = [
            {"gap": gap, **_lone(h, client, samples, gap, f"{tag}s{k}")}
            for k, gap in enumerate([] if count or delivery else args.sweep)
        ]
        if args.quiet and not count and not delivery:  # each after an idle close
            from tocsin.outbox import EngineOptions

            quiet = EngineOptions().idle_close + 1.0
            out["sweep"].append({"gap": quiet, **_lone(h, client, args.quiet, quiet, f"{tag}q")})
        out["load_burst"] = os.getloadavg()[0]
        out |= _burst(h, client, events, args.batch, tag)
        assert h.server is not None
        out["rss_mb"] = (amlib.proc_status_kb(h.server.pid, "VmHWM") or 0) / 1024
        out["child_rss_mb"] = [(amlib.proc_status_kb(pid, "VmHWM") or 0) / 1024
                               for pid in h.children()]  # fmt: skip
        client.close()
        return out
    finally:
        h.close()


def run_tocsin(args: Any, amlib: Any) -> dict[str, Any]:
    """Latency and burst shapes; the figures.

    Two passes, each against its own server: the first measures time and CPU with no
    instrument in the server; the second (skipped by ``--count-samples 0``) counts the
    statements with a trace callback (SQLite) or the round trips (PostgreSQL), which
    costs CPU of its own (0.2-0.3 ms an event on SQLite) and so would inflate the first
    pass's figures.
    """
    out = _pass(args, amlib, count=False, samples=args.samples, events=args.events)
    out["sql_latency"] = out["sql_burst"] = -1.0
    if args.count_samples <= 0:
        return out
    counted = _pass(
        args, amlib, count=True, samples=args.count_samples,
        events=min(args.events, args.count_events),
    )  # fmt: skip
    out["sql_latency"], out["sql_burst"] = counted["sql_latency"], counted["sql_burst"]
    out["counted"] = {k: v for k, v in counted.items() if k not in ("ack", "mail")}
    return out


def run_delivery_processes(args: Any, amlib: Any) -> dict[str, Any] | None:
    """The lone and burst shapes again, against ``serve --delivery-processes N``."""
    if args.delivery_processes <= 0:
        return None
    return _pass(
        args, amlib, count=False, samples=args.samples, events=args.events,
        delivery=args.delivery_processes,
    )  # fmt: skip


# ---------------------------------------------------------------------- the anchors
def run_outbox_vs_source(count: int, rounds: int) -> dict[str, Any]:
    """The outbox alone with 4 connections next to ``smtp-source -s4 -d`` (one sink).

    ``rounds`` rounds of each contender, their order turning every round: on this
    machine kind one run of a few seconds can land in a slow minute (one run gave the
    outbox 37 % of ``smtp-source``, the next 49 %).  Each figure is the median of its
    rounds; a share is the median of the rounds' shares, with their range.
    """
    import outbox_bench
    from contenders import Target, alarm

    names = ["source", "tocsin", "tocsin-processes", "tocsin-transport"]
    rates: dict[str, list[float]] = {n: [] for n in names}
    cpus: dict[str, list[float]] = {n: [] for n in names}
    with outbox_bench.smtp_sink() as port:
        size = len(alarm(0).content)
        load = os.getloadavg()[0]
        target = Target("127.0.0.1", port, connections=4)
        for r in range(rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                if name == "source":
                    got = outbox_bench.smtp_source(port, count, 4, size)
                else:
                    got = outbox_bench.contender(name, target, count)
                rates[name].append(count / got["elapsed"])
                cpus[name].append(got["cpu"] / count * 1e6)

    def share(name: str) -> list[float]:
        return sorted(x / s for x, s in zip(rates[name], rates["source"], strict=True))

    return {
        "rounds": rounds,
        "source_rate": statistics.median(rates["source"]),
        "outbox_rate": statistics.median(rates["tocsin"]),
        "outbox_cpu_us": statistics.median(cpus["tocsin"]),
        "outbox_shares": share("tocsin"),
        "processes_rate": statistics.median(rates["tocsin-processes"]),
        "processes_cpu_us": statistics.median(cpus["tocsin-processes"]),
        "processes_shares": share("tocsin-processes"),
        "transport_rate": statistics.median(rates["tocsin-transport"]),
        "transport_cpu_us": statistics.median(cpus["tocsin-transport"]),
        "transport_shares": share("tocsin-transport"),
        "load": load,
    }


def run_alertmanager(anchors: Path, runs: int, *, only: str = "L1,T1") -> dict[str, Any]:
    """``AMB_ONLY=L1,T1`` of the anchor (or ``only``); its L1 latency and T1 rate
    (medians of runs; None for a scenario not run)."""
    with tempfile.TemporaryDirectory(prefix="tocsin-am-out-") as tmp:
        env = {**os.environ, "AMB_ONLY": only, "AMB_RUNS": str(runs), "AMB_OUT": tmp,
               "AMB_NO_INSTALL": "1"}  # fmt: skip
        load = os.getloadavg()[0]
        done = subprocess.run(
            ["bash", str(anchors / "alertmanager" / "run.sh")],
            env=env, capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"the Alertmanager anchor failed:\n{done.stderr[-2000:]}")
        rows = {r["id"]: r for r in json.loads((Path(tmp) / "results.json").read_text())["rows"]}
    l1, t1 = rows.get("L1"), rows["T1"]
    return {
        "mail_p50": l1["pooled_lat"]["p50_ms"] if l1 else None,
        "mail_p99": l1["pooled_lat"]["p99_ms"] if l1 else None,
        "rate": t1.get(t1["rate_key"]),
        "cpu_us": t1.get("am_cpu_us_per_mail"),
        "load": load,
    }


def run_burst_rounds(args: Any, amlib: Any) -> dict[str, Any] | None:
    """The burst against Alertmanager's (T1) in ``--burst-rounds`` rounds, the two in
    turns, the order changing every round: the single burst above and Alertmanager's
    run a minute apart can meet different machines (on 2026-12-07 Alertmanager gave
    1,041 and 1,268 emails/s in two runs four minutes apart, Tocsin's burst 2,837 and
    3,751 within the hour).  Tocsin's side is a fresh ``serve`` (with
    ``--delivery-processes`` delivery processes), a warm-up burst of four POSTs, then
    the burst.
    Each rate is the median of its rounds; the ratio is the median of the rounds'
    ratios, with their range."""
    if args.burst_rounds <= 0:
        return None
    tocsin: list[float] = []
    am: list[float] = []
    load = os.getloadavg()[0]
    for r in range(args.burst_rounds):
        for side in ("tocsin", "am") if r % 2 == 0 else ("am", "tocsin"):
            if side == "am":
                am.append(run_alertmanager(args.anchors, 1, only="T1")["rate"])
                continue
            h = Harness(args, amlib, count=False, delivery=args.delivery_processes)
            try:
                client = h.start()
                tag = uuid.uuid4().hex[:8]
                # Warmed up as the single burst's server is by the shapes before it: a
                # small burst first (imports, templates, the delivery connections).
                _burst(h, client, min(args.events, 4 * args.batch), args.batch, f"w{tag}")
                tocsin.append(_burst(h, client, args.events, args.batch, tag)["burst_rate"])
                client.close()
            finally:
                h.close()
    return {
        "rounds": args.burst_rounds,
        "tocsin_rate": statistics.median(tocsin),
        "am_rate": statistics.median(am),
        "ratios": sorted(t / a for t, a in zip(tocsin, am, strict=True)),
        "load": load,
    }


# ---------------------------------------------------------------------- the table
def table(
    t: dict[str, Any],
    am: dict[str, Any] | None,
    ob: dict[str, Any] | None,
    args: Any,
    dp: dict[str, Any] | None = None,
    floor: dict[str, Any] | None = None,
    rounds: dict[str, Any] | None = None,
) -> str:
    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    ack50, ack99 = pct(t["ack"], 50), pct(t["ack"], 99)
    mail50, mail99 = pct(t["mail"], 50), pct(t["mail"], 99)
    backend = "PostgreSQL" if args.database else "SQLite"
    lines = [
        f"Alarm path, {backend}, {os.cpu_count()} CPUs; {args.samples} samples one at a "
        f"time, {args.events} events in POSTs of {args.batch}",
        "",
        "| measure | Tocsin | Alertmanager | ratio | goal | load |",
        "|---|--:|--:|--:|--:|--:|",
        f"| one at a time: POST → 202 | p50 {ack50:.2f} ms, p99 {ack99:.2f} ms | (not durable) "
        f"| – | p99 ≤ 2 ms: {verdict(ack99 <= GOALS['ack_p99'])} | {t['load_latency']:.2f} |",
    ]
    if floor:  # what the machine gives a 202 that only commits (bench/durable_floor.py)
        f50, f99 = pct(floor["ack"], 50), pct(floor["ack"], 99)
        lines.append(
            f"| the floor: the same HTTP server answering 202 after one durable SQLite "
            f"insert, nothing else (`bench/durable_floor.py`) | p50 {f50:.2f} ms, p99 "
            f"{f99:.2f} ms | – | Tocsin p50 {ack50 / f50:.1f}×, p99 {ack99 / f99:.1f}× the "
            f"floor | p99 ≤ 2 ms: "
            f"{'within reach' if f99 <= GOALS['ack_p99'] else 'below this floor'} "
            f"| {floor['load']:.2f} |"
        )
    if am:
        ratio = f"p50 {mail50 / am['mail_p50']:.1f}×, p99 {mail99 / am['mail_p99']:.1f}× AM time"
        am_mail = f"p50 {am['mail_p50']:.2f} ms, p99 {am['mail_p99']:.2f} ms"
        am_rate = f"{am['rate']:.0f} emails/s"
        rate_ratio = f"{t['burst_rate'] / am['rate']:.2f}× AM"
        rate_goal = f"≥ 3× AM: {verdict(t['burst_rate'] >= GOALS['burst_x_am'] * am['rate'])}"
    else:
        ratio = am_mail = am_rate = rate_ratio = "–"
        rate_goal = "≥ 3× AM"
    lines += [
        f"| one at a time: POST → message complete at smtp-sink | p50 {mail50:.2f} ms, "
        f"p99 {mail99:.2f} ms | {am_mail} | {ratio} "
        f"| p99 ≤ 3 ms: {verdict(mail99 <= GOALS['mail_p99'])} | {t['load_latency']:.2f} |",
        f"| burst of {args.events} single-recipient events (POSTs of {args.batch}) → smtp-sink "
        f"| {t['burst_rate']:.0f} emails/s ({t['burst_seen']} seen; POSTs took "
        f"{t['burst_post_s']:.2f} s) | {am_rate} | {rate_ratio} | {rate_goal} "
        f"| {t['load_burst']:.2f} |",
        *(
            [
                f"| the floor of the burst's intake: the same POSTs to the floor server, "
                f"a durable SQLite row an event | {floor['burst_rate']:.0f} events/s (Tocsin's "
                f"POSTs: {args.events / t['burst_post_s']:.0f} events/s) | – | Tocsin "
                f"{args.events / t['burst_post_s'] / floor['burst_rate']:.0%} of the floor "
                f"| – | – |"
            ]
            if floor and floor.get("burst_rate")
            else []
        ),
        f"| server CPU per single-recipient event | one at a time {t['cpu_latency_ms']:.2f} ms "
        f"(less idle {t['idle_cores'] * 1000:.0f} ms/s), "
        f"burst {t['cpu_burst_ms']:.2f} ms | "
        + (f"burst {am['cpu_us'] / 1000:.2f} ms" if am and am.get("cpu_us") else "–")
        + f" | – | ≤ 0.8 ms: {verdict(t['cpu_burst_ms'] <= GOALS['cpu_ms'])} | – |",
    ]
    if dp:
        n = args.delivery_processes
        rate = f"{dp['burst_rate']:.0f} emails/s ({dp['burst_seen']} seen)"
        lines += [
            f"| with `serve --delivery-processes {n}`: one at a time, POST → 202 / → sink "
            f"| p50 {pct(dp['ack'], 50):.2f} / {pct(dp['mail'], 50):.2f} ms, p99 "
            f"{pct(dp['ack'], 99):.2f} / {pct(dp['mail'], 99):.2f} ms | – | – "
            f"| p99 ≤ 2 / 3 ms: {verdict(pct(dp['ack'], 99) <= GOALS['ack_p99'])} / "
            f"{verdict(pct(dp['mail'], 99) <= GOALS['mail_p99'])} | {dp['load_latency']:.2f} |",
            f"| with `serve --delivery-processes {n}`: burst → smtp-sink | {rate} "
            f"| {am_rate} | "
            + (f"{dp['burst_rate'] / am['rate']:.2f}× AM" if am else "–")
            + " | "
            + (
                f"≥ 3× AM: {verdict(dp['burst_rate'] >= GOALS['burst_x_am'] * am['rate'])}"
                if am
                else "≥ 3× AM"
            )
            + f" | {dp['load_burst']:.2f} |",
            f"| with `serve --delivery-processes {n}`: CPU per event (serve and its delivery "
            f"processes) | one at a time {dp['cpu_latency_ms']:.2f} ms, burst "
            f"{dp['cpu_burst_ms']:.2f} ms | – | – | ≤ 0.8 ms: "
            f"{verdict(dp['cpu_burst_ms'] <= GOALS['cpu_ms'])} | – |",
        ]
    if rounds:
        ratios = rounds["ratios"]
        middle = statistics.median(ratios)
        lines.append(
            f"| burst, {rounds['rounds']} rounds in turns with Alertmanager (`serve "
            f"--delivery-processes {args.delivery_processes}`; medians) "
            f"| {rounds['tocsin_rate']:.0f} emails/s | {rounds['am_rate']:.0f} emails/s "
            f"| {middle:.2f}× AM ({ratios[0]:.2f}–{ratios[-1]:.2f}× in {len(ratios)} rounds) "
            f"| ≥ 3× AM: {verdict(middle >= GOALS['burst_x_am'])} | {rounds['load']:.2f} |"
        )
    if t.get("sql_latency", -1) >= 0 and t.get("sql_burst", -1) >= 0:
        c = t["counted"]
        lines.append(
            f"| {'round trips to PostgreSQL' if args.database else 'SQL statements'} per "
            f"single-recipient event (server, {'PostgreSQL' if args.database else 'SQLite'}; "
            f"a separate "
            f"counting pass of {args.count_samples} one at a time and {c['burst_seen']} in a "
            f"burst, whose CPU with the counter was {c['cpu_latency_ms']:.2f} ms and "
            f"{c['cpu_burst_ms']:.2f} ms) | one at a time {t['sql_latency']:.1f}, burst "
            f"{t['sql_burst']:.1f} | – | – | – | – |"
        )
    if ob:

        def shares(key: str) -> tuple[float, str]:
            values = ob[key]
            middle = statistics.median(values)
            spread = f"{values[0]:.0%}–{values[-1]:.0%} in {len(values)} rounds"
            return middle, f"{middle:.1%} ({spread})"

        share, said = shares("outbox_shares")
        lines.append(
            f"| outbox alone, 4 connections, vs `smtp-source -s4 -d` (medians of "
            f"{ob['rounds']} rounds) | {ob['outbox_rate']:.0f} emails/s vs "
            f"{ob['source_rate']:.0f} | – | {said} "
            f"| ≥ 50 %: {verdict(share >= GOALS['outbox_share'])} | {ob['load']:.2f} |"
        )
        share, said = shares("processes_shares")
        lines.append(
            f"| outbox alone, 2 delivery processes of 2 connections (as `serve "
            f"--delivery-processes 2`), vs `smtp-source -s4 -d` | "
            f"{ob['processes_rate']:.0f} emails/s, CPU {ob['processes_cpu_us']:.0f} µs "
            f"an email | – | {said} | ≥ 50 %: "
            f"{verdict(share >= GOALS['outbox_share'])} | – |"
        )
        lines.append(  # where the outbox's time goes: the wire, or the rest
            f"| the same emails through the SMTP transport alone (no outbox), vs "
            f"`smtp-source` | {ob['transport_rate']:.0f} emails/s, CPU "
            f"{ob['transport_cpu_us']:.0f} µs an email (the outbox "
            f"{ob['outbox_cpu_us']:.0f}) | – | {shares('transport_shares')[1]} | – | – |"
        )
    if t.get("sweep"):
        lines += [
            "",
            "The lone shape at other spacings (the same server, one after the other):",
            "",
            "| spacing (samples) | POST → 202 | POST → message at smtp-sink | CPU per event |",
            "|--:|--:|--:|--:|",
        ]
        for row in t["sweep"]:
            spacing = f"{row['gap']:.0f} s" if row["gap"] >= 1 else f"{row['gap'] * 1000:.0f} ms"
            lines.append(
                f"| {spacing} ({len(row['ack'])}) | p50 {pct(row['ack'], 50):.2f} ms, p99 "
                f"{pct(row['ack'], 99):.2f} ms | p50 {pct(row['mail'], 50):.2f} ms, p99 "
                f"{pct(row['mail'], 99):.2f} ms | "
                # Over half a minute, the idle work (settings read every second) is
                # most of the CPU, and its estimate from 2 s swamps one event's share.
                + ("–" if row["gap"] >= 1 else f"{row['cpu_latency_ms']:.2f} ms")
                + " |"
            )
    if am:
        lines.append(f"\nAlertmanager anchor started at load {am['load']:.2f}.")
    lines.append(f"Server peak RSS {t['rss_mb']:.0f} MB.")
    if dp:
        each = ", ".join(f"{mb:.0f}" for mb in dp["child_rss_mb"])
        lines.append(
            f"With delivery processes: serve {dp['rss_mb']:.0f} MB, each delivery process "
            f"{each} MB."
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=200, help="latency samples")
    parser.add_argument("--gap", type=float, default=0.05, help="seconds between samples")
    parser.add_argument(
        "--sweep", type=lambda text: [float(g) for g in text.split(",")], default=[],
        help="also the lone shape at these spacings (seconds, comma-separated, e.g. "
        "0,0.005,0.05): a machine idle between events runs each one cold",
    )  # fmt: skip
    parser.add_argument(
        "--quiet", type=int, default=0, metavar="N",
        help="also N events one at a time, each after a quiet spell longer than the "
        "engine's idle close (31 s: it reconnects), as most real alarms come",
    )  # fmt: skip
    parser.add_argument("--events", type=int, default=2000, help="events in the burst")
    parser.add_argument("--batch", type=int, default=100, help="events per POST in the burst")
    parser.add_argument("--burst-deadline", type=float, default=120.0, help="seconds")
    parser.add_argument("--database", default="", help="postgresql:// URL (default SQLite)")
    parser.add_argument("--anchors", type=Path, default=ANCHORS)
    parser.add_argument("--am-runs", type=int, default=1, help="Alertmanager passes")
    parser.add_argument("--no-anchors", action="store_true", help="Tocsin alone")
    parser.add_argument("--outbox-count", type=int, default=5000)
    parser.add_argument(
        "--outbox-rounds", type=int, default=3,
        help="rounds of the outbox, smtp-source and transport runs (medians)",
    )  # fmt: skip
    parser.add_argument(
        "--burst-rounds", type=int, default=3, metavar="N",
        help="also the burst and Alertmanager's in N rounds, in turns (medians; 0: not)",
    )  # fmt: skip
    parser.add_argument(
        "--delivery-processes", type=int, default=1, metavar="N",
        help="also the lone and burst shapes against `serve --delivery-processes N` "
        "(0: not)",
    )  # fmt: skip
    parser.add_argument("--profile", type=Path, help="cProfile of the server's loop to this file")
    parser.add_argument(
        "--count-samples", type=int, default=30,
        help="events one at a time in the separate statement-counting pass (0: no such pass)",
    )  # fmt: skip
    parser.add_argument(
        "--count-events", type=int, default=1000,
        help="events in the counting pass's burst (at most --events)",
    )  # fmt: skip
    parser.add_argument(
        "--floor-samples", type=int, default=200,
        help="POSTs one at a time (--gap apart) against the durable floor "
        "(bench/durable_floor.py) in the same run; 0: not",
    )  # fmt: skip
    parser.add_argument("--count-sql", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve", nargs=2, metavar=("DATA", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(
            args.serve[0], int(args.serve[1]), args.database, str(args.profile or ""),
            count=args.count_sql, delivery=args.delivery_processes,
        )  # fmt: skip
        return
    sys.path.insert(0, str(args.anchors / "alertmanager"))
    import amlib

    tocsin = run_tocsin(args, amlib)
    delivery = run_delivery_processes(args, amlib)
    floor = None
    if args.floor_samples > 0:
        import durable_floor

        floor = durable_floor.measure(
            args.floor_samples, args.gap, amlib.free_port(), events=args.events, batch=args.batch
        )
    am = ob = rounds = None
    if not args.no_anchors:
        am = run_alertmanager(args.anchors, args.am_runs)
        rounds = run_burst_rounds(args, amlib)
        ob = run_outbox_vs_source(args.outbox_count, args.outbox_rounds)
    print(table(tocsin, am, ob, args, delivery, floor, rounds))
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    record = {"tocsin": tocsin, "delivery_processes": delivery, "alertmanager": am,
              "burst_rounds": rounds, "outbox": ob, "floor": floor,
              "args": vars(args)}  # fmt: skip
    (out / f"alarm-path-{stamp}.json").write_text(json.dumps(record, indent=1, default=str))


if __name__ == "__main__":
    main()
