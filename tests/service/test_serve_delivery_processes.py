"""`tocsin serve --delivery-processes 1`: a `tocsin worker` beside serve, started,
restarted and stopped by it; every alarm sent once, the queue delivered by the worker
once it runs (and by serve while none does).  Real processes, aiosmtpd."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from service_support import alarm, service_env, set_up_site, wait_until

from helpers import Serving, pg_schema_url, serving, start_serve
from tocsin.message import compose
from tocsin.outbox import NewEmail
from tocsin.outbox.incarnation import WORKERS_DIR
from tocsin.store import open_store
from tocsin.testing import ThreadedSMTPTestServer

Post = Callable[[object], None]
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
Setup = tuple[ThreadedSMTPTestServer, Serving, Post, Callable[[], float]]


def _sent(url: str, admin: str) -> float:
    """tocsin_outbox_sent in serve's /metrics."""
    answer = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {admin}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            if sample.name == "tocsin_outbox_sent_total":
                return float(sample.value)
    raise AssertionError("no tocsin_outbox_sent_total in /metrics")


def _sent_by_workers(data: Path) -> int:
    """The sends the delivery processes counted (their metrics files, every 2 s)."""
    files = (data / WORKERS_DIR / "metrics").glob("*.json")
    return sum(int(json.loads(path.read_text())["sent"]) for path in files)


def _children(pid: int) -> list[int]:
    """The child processes of ``pid`` now."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(child) for child in text.split()]


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, ended and not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _smtp_sessions(pid: int, port: int) -> int:
    """Established TCP connections of process ``pid`` to ``port`` on loopback."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd) if fd.is_symlink() else ""
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if remote_port == port and fields[3] == "01" and fields[9] in inodes:
                count += 1
    return count


@contextmanager
def _serve_with_a_worker(tmp_path: Path, database_url: str = "") -> Iterator[Setup]:
    """An aiosmtpd server, and serve with one delivery process sending to it (its worker
    started): the server, serve, a function that posts events, and one that reads the
    sends counted in /metrics.  ``database_url``: on PostgreSQL (in serve's environment,
    which its worker inherits)."""
    with ThreadedSMTPTestServer() as smtp:
        extra = {"TOCSIN_DATABASE_URL": database_url} if database_url else {}
        env = service_env(tmp_path / "data", **extra)
        token, admin = set_up_site(env, smtp.port)
        with (
            serving(env, "--delivery-processes", "1") as running,
            httpx.Client(base_url=running.url, timeout=30) as client,
        ):
            running.wait_for_output("Tocsin worker")
            # Until its worker has run for 5 s, serve claims from the queue itself.
            running.wait_for_output("serve leaves the queued mail to the delivery processes")

            def post(body: object) -> None:
                answer = client.post(
                    "/api/v1/events", headers={"Authorization": f"Bearer {token}"}, json=body
                )
                assert answer.status_code == 202, answer.text

            def sent() -> float:
                return _sent(running.url, admin)

            yield smtp, running, post, sent


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_burst_goes_out_once_each_and_the_queue_through_the_worker(
    tmp_path: Path, backend: str
) -> None:
    with contextlib.ExitStack() as stack:  # serve stops before its schema is dropped
        url = stack.enter_context(pg_schema_url()) if backend == "postgres" else ""
        smtp, running, post, sent = stack.enter_context(_serve_with_a_worker(tmp_path, url))
        (worker,) = _children(running.process.pid)
        post(alarm("Lone sensor"))
        wait_until(lambda: len(smtp.messages) == 1, "the lone alarm")
        # Far more than serve's own two connections take at once: the request is
        # queued whole, and the worker, woken by the commit, claims and sends it all.
        post({"events": [alarm(f"Sensor {n}") for n in range(80)]})
        wait_until(lambda: len(smtp.messages) == 81, "the burst")
        assert _smtp_sessions(worker, smtp.port) >= 1  # its pooled sessions
        ids = [str(m.message()["Message-ID"]) for m in smtp.messages]
        assert len(set(ids)) == 81  # none twice
        # /metrics counts the worker's sends with serve's own (its file, every 2 s).
        wait_until(lambda: sent() == 81, "81 sends in /metrics", timeout=15)
        # None of the burst by serve (the lone alarm may have been either's).
        assert _sent_by_workers(tmp_path / "data") >= 80
    assert not _alive(worker)  # serve's stop ended it


def test_a_killed_worker_is_started_again(tmp_path: Path) -> None:
    with _serve_with_a_worker(tmp_path) as (smtp, running, post, _):
        (first,) = _children(running.process.pid)
        os.kill(first, signal.SIGKILL)
        running.wait_for_output("exited with status -9; starting it again in 1 s")
        running.wait_for_output("no delivery process is running: serve sends the queued mail")
        wait_until(
            lambda: any(p != first and _alive(p) for p in _children(running.process.pid)),
            "a new worker",
        )
        (second,) = [p for p in _children(running.process.pid) if _alive(p)]
        post({"events": [alarm(f"Sensor {n}") for n in range(40)]})
        wait_until(lambda: len(smtp.messages) == 40, "the burst")
    assert not _alive(second)


def test_mail_a_hung_worker_leaves_overdue_is_sent_by_serve(tmp_path: Path) -> None:
    with _serve_with_a_worker(tmp_path) as (smtp, running, _, _):
        (worker,) = _children(running.process.pid)
        os.kill(worker, signal.SIGSTOP)  # alive, so never started again, and doing nothing
        try:
            # Queued by another process two minutes ago, due since (as a retry is), and
            # the worker does not take it: serve does, once it is over 30 s late.
            store = open_store(tmp_path / "data" / "tocsin.db")
            try:
                with store.transaction() as tx:
                    mail = compose(sender="alarms@example.org", to=["ops@example.net"],
                                   subject="Left behind", text="Smoke.")  # fmt: skip
                    tx.enqueue(NewEmail.of(mail), now=time.time() - 120)
            finally:
                store.close()
            running.wait_for_output("mail has been due for over 30 s")
            wait_until(lambda: len(smtp.messages) == 1, "the overdue email, from serve")
        finally:
            os.kill(worker, signal.SIGCONT)
        assert str(smtp.messages[0].message()["Subject"]) == "Left behind"


def test_a_worker_stops_by_itself_when_serve_is_killed(tmp_path: Path) -> None:
    with ThreadedSMTPTestServer() as smtp:
        env = service_env(tmp_path / "data")
        set_up_site(env, smtp.port)
        running = start_serve(env, "--delivery-processes", "1")
        try:
            running.wait_for_output("Tocsin worker")
            (worker,) = _children(running.process.pid)
            running.process.kill()  # no SIGTERM for serve to pass on
            running.process.wait(10)
            wait_until(lambda: not _alive(worker), "the orphaned worker to stop", timeout=15)
            wait_until(lambda: "is gone: stopping" in running.output(), "the worker's word")
        finally:
            running.stop()
