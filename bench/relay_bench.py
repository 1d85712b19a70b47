"""Relay benchmark: submissions/s accepted per API process, deliveries/s through workers.

One command, one table (``load``: the 1-minute load average as each row started; other
work on the machine skews every figure)::

    .venv/bin/python bench/relay_bench.py                    # 2,000 messages, both backends
    .venv/bin/python bench/relay_bench.py --backend postgres --messages 5000
    .venv/bin/python bench/relay_bench.py --devices 20 --profile   # py-spy of each API
    .venv/bin/python bench/relay_bench.py --client raw   # a client that costs little CPU

Every relay process is ``python -m tocsin.relay serve`` (HTTPS with a throw-away CA,
DKIM signing on).  Phase 1 starts the API processes only and submits every message
(raw RFC 5322, one recipient, ``--concurrency`` requests in flight per API process,
round robin over ``--devices`` devices); the rate counts 202s, p50 / p99 are the
latencies of those requests, "API CPU" the API processes' CPU time per message
(steadier than the rates when other work shares the machine) and "client CPU" this
process's (the HTTPS client shares the machine's CPUs with the relay).  Phase 2 starts
the workers and times the queue's drain to ``bench/tls_sink.py`` (STARTTLS, verified
certificate), read from the relay's database.  SQLite: 1 API process + 1 worker.
PostgreSQL: 2 API processes + 2 workers.
``--profile`` records each API process with py-spy (the ``bench`` extra) during phase 1,
on-CPU Python only (samples holding the GIL), and saves collapsed stacks
(``bench/results/relay-*-api*.txt``, for flamegraph tools).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import trustme

HERE = Path(__file__).resolve().parent
PG_URL = os.environ.get("TOCSIN_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
SENDER = "alarm@site.example.org"


def message(i: int, size: int) -> bytes:
    body = ("Smoke detector 3 in server room A raised an alarm. " * (size // 50 + 1))[:size]
    return (
        f"From: {SENDER}\r\nTo: ops@example.net\r\nSubject: Fire alarm {i}\r\n"
        f"Message-ID: <bench-{i}-{uuid.uuid4().hex}@site.example.org>\r\n\r\n{body}\r\n"
    ).encode()


@contextlib.contextmanager
def started(args: list[str]) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    """A child that prints one JSON (or port) line when ready; SIGTERM at the end."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{args[2:4]} did not start")
        ready = json.loads(line) if line.startswith("{") else {"port": int(line)}
        yield proc, ready
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def certificates(tmp: Path) -> tuple[Path, Path, Path]:
    """CA file, relay PEM (key + chain), DKIM key."""
    from tocsin.relay.dkim_signer import generate_private_key

    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp / "ca.pem"))
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    leaf.private_key_and_cert_chain_pem.write_to_path(str(tmp / "relay.pem"))
    leaf.private_key_pem.write_to_path(str(tmp / "sink.key"))
    for i, blob in enumerate(leaf.cert_chain_pems):
        blob.write_to_path(str(tmp / "sink.pem"), append=i > 0)
    (tmp / "dkim.pem").write_bytes(generate_private_key())
    return tmp / "ca.pem", tmp / "relay.pem", tmp / "dkim.pem"


async def submit(
    urls: list[str], credentials: list[str], ca: Path, count: int, per_api: int, size: int
) -> tuple[float, list[float]]:
    """Submit ``count`` messages spread over ``urls`` and ``credentials``; return the wall
    time and each request's latency."""
    gate = asyncio.Semaphore(per_api * len(urls))
    params = {"mail_from": SENDER, "rcpt_to": "ops@example.net"}
    bodies = [message(i, size) for i in range(count)]
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=per_api * len(urls))
    async with httpx.AsyncClient(verify=str(ca), timeout=60, limits=limits) as client:

        async def one(i: int) -> None:
            headers = {
                "Authorization": f"Bearer {credentials[i % len(credentials)]}",
                "Content-Type": "message/rfc822",
            }
            async with gate:
                url = urls[i % len(urls)] + "/v1/messages"
                began = time.perf_counter()
                answer = await client.post(url, content=bodies[i], headers=headers, params=params)
                latencies.append(time.perf_counter() - began)
            if answer.status_code != 202:
                raise RuntimeError(f"{answer.status_code}: {answer.text}")

        started_at = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(count)))
        return time.perf_counter() - started_at, latencies


async def submit_raw(
    urls: list[str], credentials: list[str], ca: Path, count: int, per_api: int, size: int
) -> tuple[float, list[float]]:
    """:func:`submit` over plain asyncio TLS streams (HTTP/1.1 keep-alive, ``per_api``
    connections per API process): the same requests at a fraction of httpx's CPU, so
    the relay rather than its client is what runs out of CPU first."""
    context = ssl.create_default_context(cafile=str(ca))
    query = urlencode({"mail_from": SENDER, "rcpt_to": "ops@example.net"})
    latencies: list[float] = []
    queues: list[asyncio.Queue[int]] = [asyncio.Queue() for _ in urls]
    for i in range(count):
        queues[i % len(urls)].put_nowait(i)

    async def connection(n: int) -> None:
        host, _, port = urls[n].removeprefix("https://").partition(":")
        reader, writer = await asyncio.open_connection(host, int(port), ssl=context)
        try:
            while not queues[n].empty():
                i = queues[n].get_nowait()
                body = message(i, size)
                head = (
                    f"POST /v1/messages?{query} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                    f"Authorization: Bearer {credentials[i % len(credentials)]}\r\n"
                    "Content-Type: message/rfc822\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n"
                )
                began = time.perf_counter()
                writer.write(head.encode() + body)
                answer = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.partition(b":")[2])
                    for line in answer.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                text = await reader.readexactly(length)
                latencies.append(time.perf_counter() - began)
                if not answer.startswith(b"HTTP/1.1 202 "):
                    raise RuntimeError(f"{answer.splitlines()[0]!r}: {text!r}")
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()

    started_at = time.perf_counter()
    await asyncio.gather(*(connection(n) for n in range(len(urls)) for _ in range(per_api)))
    return time.perf_counter() - started_at, latencies


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of ``pids`` so far (Linux /proc; NaN elsewhere)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            return float("nan")
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


@contextlib.contextmanager
def profiled(pids: list[int], out: Path | None) -> Iterator[None]:
    """py-spy record of each of ``pids`` for the block (collapsed stacks), if ``out``."""
    if out is None:
        yield
        return
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    record = [spy, "record", "--rate", "250", "--format", "raw", "--gil", "--nonblocking"]
    recorders = [
        subprocess.Popen(
            [*record, "--pid", str(pid), "-o", f"{out}-api{n}.txt"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n, pid in enumerate(pids)
    ]
    time.sleep(1.0)  # py-spy attaches
    try:
        yield
    finally:
        for recorder in recorders:
            recorder.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            try:
                recorder.wait(timeout=30)
            except subprocess.TimeoutExpired:
                recorder.kill()
                recorder.wait(timeout=10)


def run(
    backend: str,
    count: int,
    per_api: int,
    size: int,
    devices: int,
    profile: bool,
    client: str = "httpx",
) -> dict[str, Any]:
    from tocsin.relay.config import RelayConfig
    from tocsin.relay.service import RelayService
    from tocsin.relay.store import open_relay_store

    apis, workers = (1, 1) if backend == "sqlite" else (2, 2)
    load = os.getloadavg()[0]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    profile_to = HERE / "results" / f"relay-{stamp}-{backend}" if profile else None
    if profile_to:
        profile_to.parent.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tocsin-relay-bench-") as tmpdir:
        tmp = Path(tmpdir)
        ca, cert, dkim = certificates(tmp)
        schema = f"relay_bench_{uuid.uuid4().hex[:10]}" if backend == "postgres" else None
        database = PG_URL if backend == "postgres" else str(tmp / "relay.db")
        store = open_relay_store(database, schema=schema)
        credentials = [
            RelayService(store, RelayConfig()).add_device(
                f"bench-{n}", [SENDER], quota_per_hour=10**9, burst=10**6, max_size=10**7
            )[0]
            for n in range(devices)
        ]
        sink_args = [
            sys.executable,
            str(HERE / "tls_sink.py"),
            "--cert",
            str(tmp / "sink.pem"),
            "--key",
            str(tmp / "sink.key"),
        ]
        relay = [
            sys.executable,
            "-m",
            "tocsin.relay",
            "serve",
            "--database",
            database,
            "--api-port",
            "0",
            "--no-smtp",
            "--tls-cert",
            str(cert),
            "--tls-key",
            str(cert),
            "--domain",
            "relay.example.com",
            "--dkim-key",
            str(dkim),
            "--mx-ca-file",
            str(ca),
            "--destination-rate",
            "100000",
            "--destination-connections",
            "8",
        ]
        if schema:
            relay += ["--schema", schema]
        try:
            with contextlib.ExitStack() as stack:
                _, sink = stack.enter_context(started(sink_args))
                relay += ["--route", f"example.net=localhost:{sink['port']}"]
                urls, pids = [], []
                for _ in range(apis):
                    api, ready = stack.enter_context(started([*relay, "--no-worker"]))
                    urls.append(f"https://localhost:{ready['api_port']}")
                    pids.append(api.pid)
                cpu_before, client_before = cpu_seconds(pids), cpu_seconds([os.getpid()])
                with profiled(pids, profile_to):
                    sender = submit if client == "httpx" else submit_raw
                    took, latencies = asyncio.run(
                        sender(urls, credentials, ca, count, per_api, size)
                    )
                api_cpu = cpu_seconds(pids) - cpu_before
                client_cpu = cpu_seconds([os.getpid()]) - client_before
                began = time.perf_counter()
                for _ in range(workers):
                    stack.enter_context(started([*relay, "--no-api", "--connections", "32"]))
                while store.counts()["sent"] < count:
                    if time.perf_counter() - began > 600:
                        raise RuntimeError(f"only {store.counts()} after 600 s")
                    time.sleep(0.02)
                drained = time.perf_counter() - began
        finally:
            if schema:
                store.drop_schema()  # type: ignore[union-attr]
            store.close()
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "backend": backend,
        "client": client,
        "api_processes": apis,
        "workers": workers,
        "devices": devices,
        "messages": count,
        "size": size,
        "submissions_per_s": count / took,
        "submissions_per_s_per_api": count / took / apis,
        "submit_p50_ms": cuts[49] * 1000,
        "submit_p99_ms": cuts[98] * 1000,
        "api_cpu_ms_per_submission": api_cpu / count * 1000,
        "client_cpu_ms_per_submission": client_cpu / count * 1000,
        "deliveries_per_s": count / drained,
        "load": load,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32, help="in flight per API process")
    parser.add_argument("--size", type=int, default=2000, help="body bytes per message")
    parser.add_argument("--devices", type=int, default=1, help="devices submitting, in turn")
    parser.add_argument("--profile", action="store_true", help="py-spy each API process")
    parser.add_argument(
        "--client",
        choices=["httpx", "raw"],
        default="httpx",
        help="httpx (as an appliance), or raw asyncio streams (little client CPU)",
    )
    opts = parser.parse_args()
    backends = ["sqlite", "postgres"] if opts.backend == "both" else [opts.backend]
    rows = [
        run(b, opts.messages, opts.concurrency, opts.size, opts.devices, opts.profile, opts.client)
        for b in backends
    ]
    print(
        f"\nRelay benchmark: {opts.messages} messages of ~{opts.size} B from {opts.devices} "
        f"device(s), {opts.client} client, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}\n"
    )
    print(
        "| backend | API procs | workers | submissions/s (total) | per API process "
        "| p50 ms | p99 ms | API CPU ms/msg | client CPU ms/msg | deliveries/s | load |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['backend']} | {r['api_processes']} | {r['workers']} "
            f"| {r['submissions_per_s']:.0f} | {r['submissions_per_s_per_api']:.0f} "
            f"| {r['submit_p50_ms']:.0f} | {r['submit_p99_ms']:.0f} "
            f"| {r['api_cpu_ms_per_submission']:.1f} | {r['client_cpu_ms_per_submission']:.1f} "
            f"| {r['deliveries_per_s']:.0f} | {r['load']:.1f} |"
        )
    out = HERE / "results" / f"relay-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))
    print(f"\n(saved to {out.relative_to(HERE.parent)})")


if __name__ == "__main__":
    main()
