"""SIGKILL right after the 202 of a handed-off event, before its email is sent: a restarted
``tocsin serve`` takes the lease back and delivers it exactly once (issue 11).

Real parts: ``python -m tocsin serve`` in a process of its own (SQLite in its data
directory, or PostgreSQL), the REST intake, an aiosmtpd server that holds the first
connection without a greeting, so the killed process cannot have sent anything.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from intake_support import event, set_up_site

from helpers import pg_schema_url, serving, start_serve
from tocsin.outbox import ListFilter, Status
from tocsin.outbox.model import DeliveryView
from tocsin.services.context import Services
from tocsin.testing import ThreadedSMTPTestServer

pytestmark = [pytest.mark.slow]


def _until(check: Callable[[], object], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _deliveries(data: Path, url: str | None) -> list[DeliveryView]:
    services = Services.open(data, database_url=url)
    try:
        return services.store.list_deliveries(ListFilter(limit=100))
    finally:
        services.close()


def _prepare(data: Path, url: str | None, port: int) -> str:
    """The standard site, email on to ``port``, and an events token."""
    services = Services.open(data, database_url=url)
    try:
        set_up_site(services)
        settings = {"enabled": True, "host": "127.0.0.1", "port": port, "encryption": "none"}
        _, report, saved = services.settings.update(settings)
        assert saved, report.errors
        token, _ = services.accounts.create_token("gateway", ("events",))
        return token
    finally:
        services.close()


def _killed_after_the_202(env: dict[str, str], smtp: ThreadedSMTPTestServer, token: str) -> str:
    """Start serve, post one event, SIGKILL it once its email is on the way; the owner
    of the lease it left."""
    running = start_serve(env)
    try:
        running.wait_for_output("listening on")
        smtp.faults.black_hole()  # the engine's connections get no greeting
        answer = httpx.post(
            f"{running.url}/api/v1/events",
            json=event(group="office"),  # a fire alarm: one email, to Carol (and Alice)
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert answer.status_code == 202, answer.text
        _until(lambda: smtp.connections >= 1, "the engine to connect")
        running.process.send_signal(signal.SIGKILL)  # the email is not sent: no greeting yet
    finally:
        assert running.stop() == -signal.SIGKILL, running.output()
    assert smtp.messages == []
    smtp.faults.clear()
    return answer.text


def _kill_and_restart(tmp_path: Path, url: str | None) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    env |= {"TOCSIN_DATA": str(data), "NO_COLOR": "1"}
    if url is not None:
        env["TOCSIN_DATABASE_URL"] = url
    with ThreadedSMTPTestServer() as smtp:
        token = _prepare(data, url, smtp.port)
        _killed_after_the_202(env, smtp, token)
        left = _deliveries(data, url)
        assert len(left) == 2  # Alice and Carol
        for row in left:
            # Handed off: leased as written, in the enqueue transaction; never claimed.
            assert row.status is Status.SENDING
            assert row.lease_owner
            assert row.updated_at == row.created_at
        # The lease has about a minute to run: a restart takes it back at once.
        restarted = time.monotonic()
        with serving(env):
            _until(lambda: len(smtp.messages) == 2, "the emails after the restart")
            assert time.monotonic() - restarted < 30
            _until(
                lambda: all(r.status is Status.SENT for r in _deliveries(data, url)),
                "the record",
            )
            time.sleep(0.5)
        assert sorted(r for m in smtp.messages for r in m.rcpt_tos) == [
            "alice@example.com",
            "carol@example.org",
        ]  # no loss, no duplicate
        for row in _deliveries(data, url):
            assert (row.status, row.attempts, row.lease_owner) == (Status.SENT, 1, None)


def test_sqlite_a_sigkill_after_the_202_of_a_handed_off_event_loses_nothing(
    tmp_path: Path,
) -> None:
    _kill_and_restart(tmp_path, None)


@pytest.mark.postgres
def test_postgres_a_sigkill_after_the_202_of_a_handed_off_event_loses_nothing(
    tmp_path: Path,
) -> None:
    with pg_schema_url() as url:
        _kill_and_restart(tmp_path, url)
