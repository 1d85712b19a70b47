"""SIGTERM with mail queued and a send in flight: `tocsin serve` exits 0 within a bound
(well inside the unit's TimeoutStopSec), and every email is either sent once or back
in the queue, none left leased."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import httpx
from service_support import alarm, service_env, set_up_site, wait_until

from helpers import serving
from tocsin.testing import ThreadedSMTPTestServer

STOP_BOUND = 20.0  # seconds; the unit gives TimeoutStopSec=30


def test_sigterm_with_work_queued_stops_cleanly_in_time(tmp_path: Path) -> None:
    with ThreadedSMTPTestServer() as smtp:
        # A slow server: the sends in flight (a chain of up to 8 per connection) take a
        # few seconds, inside the engine's 10 s of grace, so none is cut off.
        smtp.faults.delay("data_end", 0.3)
        env = service_env(tmp_path / "data")
        token, _ = set_up_site(env, smtp.port)
        with serving(env) as running, httpx.Client(base_url=running.url, timeout=30) as client:
            batch = {"events": [alarm(f"Sensor {n}") for n in range(40)]}
            answer = client.post(
                "/api/v1/events", headers={"Authorization": f"Bearer {token}"}, json=batch
            )
            assert answer.status_code == 202, answer.text
            wait_until(lambda: smtp.handler.connections > 0, "a send in flight")
            started = time.monotonic()
            status = running.stop(timeout=STOP_BOUND)
            took = time.monotonic() - started
    assert status == 0, running.output()
    assert took < STOP_BOUND, took
    assert "Traceback" not in running.output()
    conn = sqlite3.connect(tmp_path / "data" / "tocsin.db")
    try:
        rows = conn.execute(
            "SELECT status, lease_owner, COUNT(*) FROM outbox_delivery GROUP BY status, lease_owner"
        ).fetchall()
    finally:
        conn.close()
    by_status = {status: count for status, owner, count in rows}
    assert all(owner is None for _, owner, _ in rows), rows  # nothing left leased
    assert set(by_status) <= {"sent", "queued"}, rows
    assert by_status.get("sent", 0) == len(smtp.messages)  # sent once, recorded
    assert sum(by_status.values()) == 40
    assert by_status.get("queued", 0) > 0  # the rest waits for the next start
