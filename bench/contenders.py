"""The senders the benchmark compares; each runs in a process of its own.

Every contender sends ``count`` alarm emails to one server and reports wall time, the
latency of each send, and the CPU time of the sending phase as a JSON line.
"""

from __future__ import annotations

import asyncio
import os
import resource
import smtplib
import ssl
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tocsin.message import Mail, compose

if TYPE_CHECKING:
    from tocsin.settings import EmailSettings

SENDER = "alarm@example.com"
RECIPIENT = "ops@example.net"
BODY = (
    "Fire alarm in building A, server room 1.01.\n\n"
    "Smoke detector SD-3 raised an alarm at 03:12:44 UTC.\n"
    "Temperature 41.5 C, humidity 18 %.\n\n"
    "Acknowledge in Tocsin or call the on-call technician.\n"
) * 8  # about 1.6 kB, a typical alarm email with some context


@dataclass(frozen=True)
class Target:
    """Where and how to send."""

    host: str
    port: int
    tls: bool = False
    ca_file: str = ""
    username: str = ""
    password: str = ""
    connections: int = 2


def alarm(i: int) -> Mail:
    """The i-th benchmark email (distinct subject and Message-ID)."""
    return compose(
        sender=SENDER, to=[RECIPIENT], subject=f"Fire alarm {i}: server room 1.01", text=BODY
    )


def cpu_seconds() -> float:
    """CPU time (user + system) of this process so far, all threads included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def report(elapsed: float, latencies: list[float], cpu: float, **extra: Any) -> dict[str, Any]:
    """The JSON-ready result of a run."""
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"elapsed": elapsed, "latencies": latencies, "cpu": cpu, "peak_kb": peak_kb, **extra}


# --------------------------------------------------------------------- smtplib
def _smtplib_session(target: Target) -> smtplib.SMTP:
    client = smtplib.SMTP(target.host, target.port, timeout=30)
    if target.tls:
        client.starttls(context=ssl.create_default_context(cafile=target.ca_file))
        client.login(target.username, target.password)
    return client


def run_smtplib(target: Target, count: int, *, reuse: bool) -> dict[str, Any]:
    """Python's smtplib, a connection per email (what most tools do) or one kept open."""
    mails = [alarm(i) for i in range(count)]
    latencies: list[float] = []
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    client = _smtplib_session(target) if reuse else None
    for m in mails:
        started = time.perf_counter()
        if client is None:
            with _smtplib_session(target) as once:
                once.sendmail(m.sender, m.recipients, m.content)
        else:
            client.sendmail(m.sender, m.recipients, m.content)
        latencies.append(time.perf_counter() - started)
    if client is not None:
        client.quit()
    return report(time.perf_counter() - t0, latencies, cpu_seconds() - cpu0)


# --------------------------------------------------------------------- apprise
APPRISE_DEFAULT_THROTTLE = 5.5
"""Apprise's NotifyBase.request_rate_per_sec: seconds it waits between two notifications."""


def run_apprise(target: Target, count: int) -> dict[str, Any]:
    """Apprise's mailto:// (smtplib underneath, a connection per notification)."""
    import apprise  # type: ignore[import-not-found,unused-ignore]

    scheme = "mailto"
    query = f"from={SENDER}&to={RECIPIENT}&smtp={target.host}&port={target.port}"
    if target.tls:
        scheme = "mailtos"
        query += "&mode=starttls"
    user = f"{target.username}:{target.password}@" if target.username else ""
    engine = apprise.Apprise()
    if not engine.add(f"{scheme}://{user}{target.host}:{target.port}?{query}"):
        raise RuntimeError("apprise refused the mailto:// URL")
    default = engine[0].request_rate_per_sec
    for plugin in engine:
        plugin.request_rate_per_sec = 0  # throttle off
    latencies: list[float] = []
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    failures = 0
    for i in range(count):
        started = time.perf_counter()
        if not engine.notify(body=BODY, title=f"Fire alarm {i}: server room 1.01"):
            failures += 1
        latencies.append(time.perf_counter() - started)
    elapsed = time.perf_counter() - t0
    return report(elapsed, latencies, cpu_seconds() - cpu0, failures=failures,
                  default_throttle=default)  # fmt: skip


# --------------------------------------------------------------------- tocsin
def tocsin_settings(target: Target) -> EmailSettings:
    """Tocsin's email settings for ``target``."""
    from tocsin.secret import Secret
    from tocsin.settings import EmailSettings, Encryption

    return EmailSettings(
        enabled=True,
        sender_address=SENDER,
        host="localhost" if target.tls else target.host,
        port=target.port,
        encryption=Encryption.STARTTLS if target.tls else Encryption.NONE,
        ca_file=target.ca_file,
        username=target.username,
        password=Secret(target.password) if target.password else None,
    )


def run_tocsin(target: Target, count: int, *, database: str = "") -> dict[str, Any]:
    """Tocsin's outbox and delivery engine: enqueue everything, then deliver it.

    On uvloop's event loop, as ``tocsin serve`` and ``tocsin worker`` run the engine
    (:func:`tocsin.deploy.event_loop.run_service`); asyncio's own loop where it is missing.
    """
    try:
        import uvloop
    except ImportError:
        return asyncio.run(_run_tocsin(target, count, database))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_run_tocsin(target, count, database))


async def _run_tocsin(target: Target, count: int, database: str) -> dict[str, Any]:
    from tocsin.outbox import DeliveryEngine, EngineOptions, NewEmail, Priority, Status
    from tocsin.outbox.metrics import OutboxMetrics
    from tocsin.store import open_store

    schema = f"tocsin_bench_{int(time.time())}" if database else None
    with tempfile.TemporaryDirectory(prefix="tocsin-bench-") as tmp:
        store = open_store(database or Path(tmp) / "tocsin.db", schema=schema)
        enq0 = time.perf_counter()
        for start in range(0, count, 500):
            with store.transaction() as tx:
                for i in range(start, min(count, start + 500)):
                    tx.enqueue(NewEmail.of(alarm(i), Priority.FIRE))
        enqueue_s = time.perf_counter() - enq0
        settings = tocsin_settings(target)
        latencies: list[float] = []
        done = asyncio.Event()

        def sent(_email: object, _verdict: object, elapsed: float) -> None:
            latencies.append(elapsed)
            if len(latencies) >= count:
                done.set()

        options = EngineOptions(max_connections=target.connections, poll_interval=0.05)
        # With its metrics, as `tocsin serve` runs it (they serve /metrics).
        metrics = OutboxMetrics(store)
        engine = DeliveryEngine(
            store, lambda: settings, options=options, on_sent=sent, metrics=metrics
        )
        stop = asyncio.Event()
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        task = asyncio.create_task(engine.run(stop))
        await asyncio.wait_for(done.wait(), timeout=600)
        stop.set()
        await task  # the last verdicts are committed before run() returns
        elapsed, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
        sent_rows = store.counts()[Status.SENT]
        if schema:
            store.drop_schema()  # type: ignore[attr-defined]
        store.close()
    if sent_rows != count:
        raise RuntimeError(f"only {sent_rows} of {count} deliveries are marked sent")
    return report(elapsed, latencies, cpu, enqueue_s=enqueue_s)


# ------------------------------------------------- tocsin, delivery over both cores
def run_tocsin_processes(target: Target, count: int, *, processes: int = 2) -> dict[str, Any]:
    """The outbox drained by ``processes`` delivery engines, each in a process of its
    own on one SQLite database with ``target.connections // processes`` connections:
    what ``serve --delivery-processes`` (or that many ``tocsin worker``) run.

    The engines start first and wait on an empty queue; the emails are composed, then
    queued in one transaction, whose commit wakes the engines (their wake-up sockets).
    Timed from that commit to the last delivery marked sent; CPU is the engines'
    (their start-up excluded).
    """
    import multiprocessing

    from tocsin.outbox import NewEmail, Priority, Status
    from tocsin.store import open_store

    each = max(1, target.connections // processes)
    spawn = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="tocsin-bench-") as tmp:
        database = Path(tmp) / "tocsin.db"
        store = open_store(database)
        stop = spawn.Event()
        ready = [spawn.Event() for _ in range(processes)]
        children = [
            spawn.Process(target=_engine_process, args=(str(database), target, each, up, stop))
            for up in ready
        ]
        for child in children:
            child.start()
        try:
            for up in ready:
                if not up.wait(60):
                    raise RuntimeError("a delivery process did not start within 60 s")
            emails = [NewEmail.of(alarm(i), Priority.FIRE) for i in range(count)]
            cpu0 = sum(_process_cpu(c.pid) for c in children)
            with store.transaction() as tx:
                for email in emails:
                    tx.enqueue(email)
            t0 = time.perf_counter()
            deadline = t0 + 600
            while store.counts()[Status.SENT] < count:
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"not all of {count} sent within 600 s")
                time.sleep(0.02)
            elapsed = time.perf_counter() - t0
            cpu = sum(_process_cpu(c.pid) for c in children) - cpu0
        finally:
            stop.set()
            for child in children:
                child.join(30)
                if child.is_alive():
                    child.kill()
            store.close()
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest child
    return {"elapsed": elapsed, "latencies": [], "cpu": cpu, "peak_kb": peak_kb}


def _process_cpu(pid: int | None) -> float:
    """User + system CPU seconds of a running process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _until_stopped(stop: Any, parent: int) -> None:
    """Until the parent sets ``stop`` (a process-shared event), or is gone."""
    while not stop.wait(1.0) and os.getppid() == parent:
        pass


def _engine_process(database: str, target: Target, connections: int, ready: Any, stop: Any) -> None:
    """One delivery engine on ``database`` until ``stop`` is set (a spawned child)."""
    import uvloop

    from tocsin.outbox import DeliveryEngine, EngineOptions
    from tocsin.outbox.metrics import OutboxMetrics
    from tocsin.store import open_store

    store = open_store(Path(database))
    settings = tocsin_settings(target)

    async def run() -> None:
        options = EngineOptions(max_connections=connections, poll_interval=0.5)
        engine = DeliveryEngine(
            store, lambda: settings, options=options, metrics=OutboxMetrics(store)
        )
        stopping = asyncio.Event()
        task = asyncio.create_task(engine.run(stopping))
        await asyncio.sleep(0.5)  # listening, first (empty) claim done
        ready.set()
        await asyncio.to_thread(_until_stopped, stop, os.getppid())
        stopping.set()
        await task

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(run())
    store.close()


# ------------------------------------------------------------ tocsin, wire only
def run_tocsin_transport(target: Target, count: int) -> dict[str, Any]:
    """Tocsin's SMTP transport alone: the emails already rendered, in memory, sent in
    runs of 8 (the engine's ``chain``) by one task per connection, no outbox.

    Beside ``tocsin`` it splits the outbox's time: what is left is the engine's own
    work (claims, verdicts, their commits), not the wire.
    """
    try:
        import uvloop
    except ImportError:
        return asyncio.run(_run_tocsin_transport(target, count))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_run_tocsin_transport(target, count))


async def _run_tocsin_transport(target: Target, count: int) -> dict[str, Any]:
    from tocsin.outbox import EngineOptions
    from tocsin.transports.base import DeliveryResult
    from tocsin.transports.smtp import SMTPTransport

    settings = tocsin_settings(target)
    chain = EngineOptions().chain
    mails = [alarm(i) for i in range(count)]
    runs = [mails[i : i + chain] for i in range(0, count, chain)]
    runs.reverse()  # popped from the end: in order
    transport = SMTPTransport(settings, max_connections=target.connections)
    latencies: list[float] = []
    refused: list[object] = []

    async def sender() -> None:
        while runs:
            run = runs.pop()
            started = time.perf_counter()

            def heard(_index: int, outcome: DeliveryResult | Exception) -> None:
                nonlocal started
                finished = time.perf_counter()
                latencies.append(finished - started)
                started = finished
                if not isinstance(outcome, DeliveryResult) or not outcome.all_accepted:
                    refused.append(outcome)

            await transport.send_many(run, heard)

    cpu0, t0 = cpu_seconds(), time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(target.connections)))
    elapsed, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    await transport.aclose()
    if refused or len(latencies) != count:
        raise RuntimeError(f"{len(refused)} of {count} not accepted: {refused[:1]}")
    return report(elapsed, latencies, cpu)


RUNNERS: dict[str, Callable[..., dict[str, Any]]] = {
    "smtplib-per-email": lambda t, n, **_: run_smtplib(t, n, reuse=False),
    "smtplib-reuse": lambda t, n, **_: run_smtplib(t, n, reuse=True),
    "apprise": lambda t, n, **_: run_apprise(t, n),
    "tocsin": lambda t, n, **kw: run_tocsin(t, n, **kw),
    "tocsin-processes": lambda t, n, **_: run_tocsin_processes(t, n),
    "tocsin-transport": lambda t, n, **_: run_tocsin_transport(t, n),
}
