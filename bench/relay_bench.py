"""Relay benchmark: submissions/s accepted per API process, deliveries/s through workers.

One command, one table::

    .venv/bin/python bench/relay_bench.py                    # 2,000 messages, both backends
    .venv/bin/python bench/relay_bench.py --backend postgres --messages 5000

Every relay process is ``python -m tocsin.relay serve`` (HTTPS with a throw-away CA,
DKIM signing on).  Phase 1 starts the API processes only and submits every message
(raw RFC 5322, one recipient, ``--concurrency`` requests in flight per API process);
the rate counts 202s.  Phase 2 starts the workers and times the queue's drain to
``bench/tls_sink.py`` (STARTTLS, verified certificate), read from the relay's database.
SQLite: 1 API process + 1 worker.  PostgreSQL: 2 API processes + 2 workers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
    urls: list[str], credential: str, ca: Path, count: int, per_api: int, size: int
) -> float:
    """Submit ``count`` messages spread over ``urls``; return the wall time."""
    gate = asyncio.Semaphore(per_api * len(urls))
    headers = {"Authorization": f"Bearer {credential}", "Content-Type": "message/rfc822"}
    params = {"mail_from": SENDER, "rcpt_to": "ops@example.net"}
    bodies = [message(i, size) for i in range(count)]
    limits = httpx.Limits(max_connections=per_api * len(urls))
    async with httpx.AsyncClient(verify=str(ca), timeout=60, limits=limits) as client:

        async def one(i: int) -> None:
            async with gate:
                url = urls[i % len(urls)] + "/v1/messages"
                answer = await client.post(url, content=bodies[i], headers=headers, params=params)
            if answer.status_code != 202:
                raise RuntimeError(f"{answer.status_code}: {answer.text}")

        started_at = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(count)))
        return time.perf_counter() - started_at


def run(backend: str, count: int, per_api: int, size: int) -> dict[str, Any]:
    from tocsin.relay.config import RelayConfig
    from tocsin.relay.service import RelayService
    from tocsin.relay.store import open_relay_store

    apis, workers = (1, 1) if backend == "sqlite" else (2, 2)
    with tempfile.TemporaryDirectory(prefix="tocsin-relay-bench-") as tmpdir:
        tmp = Path(tmpdir)
        ca, cert, dkim = certificates(tmp)
        schema = f"relay_bench_{uuid.uuid4().hex[:10]}" if backend == "postgres" else None
        database = PG_URL if backend == "postgres" else str(tmp / "relay.db")
        store = open_relay_store(database, schema=schema)
        credential, _ = RelayService(store, RelayConfig()).add_device(
            "bench", [SENDER], quota_per_hour=10**9, burst=10**6, max_size=10**7
        )
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
                urls = []
                for _ in range(apis):
                    _, ready = stack.enter_context(started([*relay, "--no-worker"]))
                    urls.append(f"https://localhost:{ready['api_port']}")
                took = asyncio.run(submit(urls, credential, ca, count, per_api, size))
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
    return {
        "backend": backend,
        "api_processes": apis,
        "workers": workers,
        "messages": count,
        "size": size,
        "submissions_per_s": count / took,
        "submissions_per_s_per_api": count / took / apis,
        "deliveries_per_s": count / drained,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32, help="in flight per API process")
    parser.add_argument("--size", type=int, default=2000, help="body bytes per message")
    opts = parser.parse_args()
    backends = ["sqlite", "postgres"] if opts.backend == "both" else [opts.backend]
    rows = [run(b, opts.messages, opts.concurrency, opts.size) for b in backends]
    print(
        f"\nRelay benchmark: {opts.messages} messages of ~{opts.size} B, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}\n"
    )
    print(
        "| backend | API procs | workers | submissions/s (total) | per API process | deliveries/s |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['backend']} | {r['api_processes']} | {r['workers']} "
            f"| {r['submissions_per_s']:.0f} | {r['submissions_per_s_per_api']:.0f} "
            f"| {r['deliveries_per_s']:.0f} |"
        )
    out = HERE / "results" / f"relay-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))
    print(f"\n(saved to {out.relative_to(HERE.parent)})")


if __name__ == "__main__":
    main()
