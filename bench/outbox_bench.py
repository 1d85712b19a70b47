"""Throughput benchmark: Tocsin's outbox against the usual ways of sending alert email.

One command, one table (``load``: the 1-minute load average as each row started; other
work on the machine skews every figure)::

    .venv/bin/python bench/outbox_bench.py              # 5,000 emails, 2 connections

Plain SMTP goes to Postfix's ``smtp-sink`` on loopback, next to Postfix's own
``smtp-source`` (the ceiling: C code, same number of connections, kept open).
STARTTLS + AUTH goes to ``bench/tls_sink.py`` (smtp-sink speaks no TLS), where
``smtp-source`` cannot follow.  Each contender runs in a process of its own, so CPU
time and peak memory are its own.  Needs the ``bench`` and ``test`` extras and the
Debian ``postfix`` package (``scripts/smtp-sink.sh`` installs it when missing).

``--base REV`` compares this checkout's outbox and SMTP transport with revision
``REV``'s instead, in turns: ``--pairs`` pairs of fresh processes against one sink,
which side goes first changing every pair, so that both meet the same machine (on the
2-core test machine the same code runs 20-40 % slower in one minute than in the next)::

    .venv/bin/python bench/outbox_bench.py --base HEAD~3 --pairs 6 --count 20000
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from contenders import (  # noqa: E402  (bench/ is not a package)
    APPRISE_DEFAULT_THROTTLE,
    RECIPIENT,
    RUNNERS,
    SENDER,
    Target,
)

TARGETS = {"plain": 2000.0, "starttls+auth": 1500.0}
LABELS = {
    "tocsin": "tocsin outbox (sqlite)",
    "tocsin-processes": "tocsin outbox, 2 processes",
    "tocsin-transport": "tocsin transport alone",
}
"""The table's names; the transport alone (no outbox: the wire's share) has no target."""
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on 127.0.0.1:{port}") from None
            time.sleep(0.05)


@contextlib.contextmanager
def process(args: list[str]) -> Iterator[subprocess.Popen[str]]:
    """Run a server process for the duration of the block."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextlib.contextmanager
def smtp_sink() -> Iterator[int]:
    """Postfix's smtp-sink on a free loopback port."""
    binary = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
    port = free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    with process([binary, *user, f"127.0.0.1:{port}", "1024"]):
        wait_for_port(port)
        yield port


@contextlib.contextmanager
def tls_sink() -> Iterator[tuple[int, str]]:
    """bench/tls_sink.py with a throw-away CA; (port, CA file)."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    with tempfile.TemporaryDirectory(prefix="tocsin-bench-ca-") as tmp:
        ca_file, cert_file, key_file = (f"{tmp}/{n}" for n in ("ca.pem", "cert.pem", "key.pem"))
        ca.cert_pem.write_to_path(ca_file)
        cert.private_key_pem.write_to_path(key_file)
        for i, blob in enumerate(cert.cert_chain_pems):
            blob.write_to_path(cert_file, append=i > 0)
        args = [sys.executable, str(HERE / "tls_sink.py"), "--cert", cert_file, "--key", key_file]
        with process(args) as proc:
            assert proc.stdout is not None
            port = int(proc.stdout.readline())
            wait_for_port(port)
            yield port, ca_file


def smtp_source(port: int, count: int, connections: int, size: int) -> dict[str, Any]:
    """Postfix's smtp-source: wall time and the child's CPU and peak memory (wait4)."""
    binary = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
    args = [binary, "-s", str(connections), "-m", str(count), "-d", "-l", str(size),
            "-f", SENDER, "-t", RECIPIENT, f"127.0.0.1:{port}"]  # fmt: skip
    load = os.getloadavg()[0]
    started = time.perf_counter()
    proc = subprocess.Popen(args)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"smtp-source failed with status {proc.returncode}")
    cpu = usage.ru_utime + usage.ru_stime
    return {"elapsed": elapsed, "latencies": [], "cpu": cpu, "peak_kb": usage.ru_maxrss,
            "load": load}  # fmt: skip


def contender(name: str, target: Target, count: int, **extra: str) -> dict[str, Any]:
    """Run one contender in a fresh Python process; its JSON result.

    ``src``: load ``tocsin`` from that directory instead of this checkout's.
    """
    args = [sys.executable, str(Path(__file__).resolve()), "--worker", name,
            "--target", json.dumps(asdict(target)), "--count", str(count)]  # fmt: skip
    if extra.get("database"):
        args += ["--database", extra["database"]]
    env = dict(os.environ)
    if extra.get("src"):
        env["PYTHONPATH"] = extra["src"]  # before the installed (editable) checkout
        args += ["--expect-src", extra["src"]]
    if target.ca_file:  # for clients that only read the system store (Apprise)
        env["SSL_CERT_FILE"] = target.ca_file
    load = os.getloadavg()[0]  # other work on the machine skews every figure: show it
    # The result comes back in a file, not on stdout: once, the 460 kB line of a run of
    # 20,000 emails read back from the pipe did not parse (cut off at 352 kB).
    with tempfile.NamedTemporaryFile(prefix="tocsin-bench-result-", suffix=".json") as out:
        args += ["--result", out.name]
        done = subprocess.run(
            args, capture_output=True, text=True, timeout=1800, check=False, env=env
        )
        if done.returncode != 0:
            raise RuntimeError(f"{name} failed:\n{done.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(Path(out.name).read_text())
    return {**result, "load": load}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def row(name: str, result: dict[str, Any], count: int) -> dict[str, Any]:
    lat = result["latencies"]
    return {
        "name": name,
        "load": result["load"],
        "rate": count / result["elapsed"],
        "p50_ms": percentile(lat, 0.50) * 1000,
        "p99_ms": percentile(lat, 0.99) * 1000,
        "cpu_us": result["cpu"] / count * 1e6,
        "peak_mb": result["peak_kb"] / 1024,
        "extra": {k: v for k, v in result.items() if k not in ("latencies",)},
    }


def print_table(title: str, rows: list[dict[str, Any]], target: float | None) -> None:
    base = next((r["rate"] for r in rows if r["name"] == "smtplib-per-email"), None)
    ceiling = next((r["rate"] for r in rows if r["name"].startswith("smtp-source")), None)
    print(f"\n{title}")
    head = (f"{'sender':<26}{'emails/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'CPU µs/email':>14}"
            f"{'peak MB':>9}{'× smtplib/conn':>16}{'of smtp-source':>16}{'load':>7}")  # fmt: skip
    print(head)
    print("-" * len(head))
    for r in rows:
        ratio = f"{r['rate'] / base:.1f}×" if base else "-"
        share = f"{r['rate'] / ceiling:.0%}" if ceiling else "n/a"
        p50 = "-" if r["p50_ms"] != r["p50_ms"] else f"{r['p50_ms']:.2f}"
        p99 = "-" if r["p99_ms"] != r["p99_ms"] else f"{r['p99_ms']:.2f}"
        print(f"{r['name']:<26}{r['rate']:>10.0f}{p50:>9}{p99:>9}{r['cpu_us']:>14.0f}"
              f"{r['peak_mb']:>9.1f}{ratio:>16}{share:>16}{r['load']:>7.2f}")  # fmt: skip
    if target is not None:
        for r in rows:
            if r["name"].startswith("tocsin outbox"):
                verdict = "met" if r["rate"] >= target else "MISSED"
                print(f"target ≥ {target:.0f}/s for {r['name']}: {verdict}")


def postgres_available(url: str) -> bool:
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3):
            return True
    except Exception:
        return False


def run_against(revision: str, pairs: int, count: int, connections: int) -> None:
    """This checkout's outbox and transport against ``revision``'s, in turns (--base)."""
    from revisions import source_of

    if pairs < 2:
        raise SystemExit("--pairs must be at least 2")
    with tempfile.TemporaryDirectory(prefix="tocsin-outbox-ab-") as tmp, smtp_sink() as port:
        sides = {"base": source_of(revision, Path(tmp)), "this": HERE.parent / "src"}
        target = Target("127.0.0.1", port, connections=connections)
        got: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for pair in range(pairs):
            for name in ("tocsin", "tocsin-transport"):
                order = ["base", "this"] if pair % 2 == 0 else ["this", "base"]
                for side in order:
                    result = contender(name, target, count, src=str(sides[side]))
                    got.setdefault((name, side), []).append(row(name, result, count))
    print(f"{count} alarm emails, {connections} connections to smtp-sink, {pairs} pairs; "
          f"base {revision}, this checkout")  # fmt: skip
    print("| contender | base: emails/s, CPU µs an email | this | this / base: rate, CPU "
          "(per pair: median, quartiles) |")  # fmt: skip
    print("|---|--:|--:|--:|")
    for name in ("tocsin", "tocsin-transport"):
        base, this = got[(name, "base")], got[(name, "this")]
        pairs_of = list(zip(base, this, strict=True))
        rate = statistics.quantiles([t["rate"] / b["rate"] for b, t in pairs_of], n=4)
        cpu = statistics.quantiles([t["cpu_us"] / b["cpu_us"] for b, t in pairs_of], n=4)
        medians = [
            f"{statistics.median(r['rate'] for r in rows):.0f}, "
            f"{statistics.median(r['cpu_us'] for r in rows):.0f}"
            for rows in (base, this)
        ]
        ratios = [f"{q[1]:.2f} ({q[0]:.2f}–{q[2]:.2f})" for q in (rate, cpu)]
        print(f"| {LABELS[name]} | {medians[0]} | {medians[1]} | {', '.join(ratios)} |")


def run_plain(count: int, connections: int, names: list[str], pg: str) -> list[dict[str, Any]]:
    rows = []
    with smtp_sink() as port:
        target = Target("127.0.0.1", port, connections=connections)
        size = len(__import__("contenders").alarm(0).content)
        rows.append(
            row(
                f"smtp-source -s{connections} -d",
                smtp_source(port, count, connections, size),
                count,
            )
        )
        for name in names:
            rows.append(row(LABELS.get(name, name), contender(name, target, count), count))
            if name == "tocsin" and pg:
                rows.append(
                    row(
                        "tocsin outbox (postgres)",
                        contender(name, target, count, database=pg),
                        count,
                    )
                )
    return rows


def run_tls(count: int, connections: int, names: list[str], pg: str) -> list[dict[str, Any]]:
    rows = []
    with tls_sink() as (port, ca_file):
        target = Target("127.0.0.1", port, tls=True, ca_file=ca_file, username="tocsin",
                        password="bench-secret", connections=connections)  # fmt: skip
        for name in names:
            rows.append(row(LABELS.get(name, name), contender(name, target, count), count))
            if name == "tocsin" and pg:
                result = contender(name, target, count, database=pg)
                rows.append(row("tocsin outbox (postgres)", result, count))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument(
        "--only", action="append", choices=sorted(RUNNERS), help="contenders to run"
    )
    parser.add_argument("--no-tls", action="store_true", help="skip the STARTTLS + AUTH table")
    parser.add_argument("--no-plain", action="store_true", help="skip the plain SMTP table")
    parser.add_argument(
        "--postgres", default=PG_URL, help="also run the outbox on this database ('' to skip)"
    )
    parser.add_argument("--base", help="compare with this git revision, in turns")
    parser.add_argument("--pairs", type=int, default=6, help="with --base: pairs of runs")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--expect-src", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    parser.add_argument("--database", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        if args.expect_src:  # the other revision's tocsin, not this checkout's
            import tocsin

            loaded = Path(tocsin.__file__ or "").resolve()
            if not loaded.is_relative_to(Path(args.expect_src).resolve()):
                raise SystemExit(f"tocsin came from {loaded}, not from {args.expect_src}")
        target = Target(**json.loads(args.target))
        result = RUNNERS[args.worker](target, args.count, database=args.database)
        Path(args.result).write_text(json.dumps(result))
        return
    if args.base:
        run_against(args.base, args.pairs, args.count, args.connections)
        return
    names = args.only or [
        "smtplib-per-email", "smtplib-reuse", "apprise", "tocsin", "tocsin-transport"
    ]  # fmt: skip
    pg = args.postgres if args.postgres and postgres_available(args.postgres) else ""
    throttle = f"its default waits {APPRISE_DEFAULT_THROTTLE} s between emails"
    print(f"{args.count} alarm emails, {args.connections} connections, {os.cpu_count()} CPUs; "
          f"Apprise throttle off ({throttle})")  # fmt: skip
    results: dict[str, list[dict[str, Any]]] = {}
    if not args.no_plain:
        plain = run_plain(args.count, args.connections, names, pg)
        print_table("Plain SMTP to Postfix smtp-sink (loopback)", plain, TARGETS["plain"])
        results["plain"] = plain
    if not args.no_tls:
        tls = run_tls(args.count, args.connections, names, pg)
        print_table(
            "STARTTLS + AUTH to bench/tls_sink.py (loopback)", tls, TARGETS["starttls+auth"]
        )
        results["starttls+auth"] = tls
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"outbox-{stamp}.json").write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
