"""`tocsin serve` with its data directory on a real 4 MB tmpfs that fills up.

What an operator would see: events refused with 503 and Retry-After (never a 500),
/healthz degraded with the reason, the accepted emails still delivered, one notice,
and everything back to normal once there is room, without a restart.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest
from service_support import alarm, service_env, set_up_site, subjects, wait_until

from helpers import Serving, fill_disk, serving, small_disk
from tocsin.services.disk import MB
from tocsin.testing import ThreadedSMTPTestServer

pytestmark = pytest.mark.slow

NOTICE = "[SYSTEM] Tocsin: disk_space"
RESOLVED = "[RESOLVED] Tocsin: disk_space"


def _post_until_full(client: httpx.Client, token: str) -> tuple[list[str], httpx.Response]:
    """Post alarms from new devices until one is refused: (accepted devices, the refusal)."""
    accepted: list[str] = []
    for n in range(2000):
        device = f"Detector {n}"
        answer = client.post(
            "/api/v1/events", headers={"Authorization": f"Bearer {token}"}, json=alarm(device)
        )
        assert answer.status_code in (202, 503), answer.text  # never a 500
        if answer.status_code == 503:
            return accepted, answer
        accepted.append(device)
    pytest.fail("the disk was not full after 2000 events")


def _assert_refused(answer: httpx.Response) -> None:
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "60"
    body = answer.json()
    assert body["error"] == "storage_full"
    assert body["message"].startswith("the data directory is full")


def _health(client: httpx.Client) -> dict[str, object]:
    answer = client.get("/healthz")
    assert answer.status_code == 200
    return dict(answer.json())


def _codes(client: httpx.Client) -> list[str]:
    problems = _health(client)["problems"]
    assert isinstance(problems, list)
    return [str(p["code"]) for p in problems]


def _assert_whole(database: Path, accepted: list[str], smtp: ThreadedSMTPTestServer) -> None:
    """No partial rows: integrity ok; every accepted event stored with its email, and
    that email delivered once."""
    conn = sqlite3.connect(database)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = conn.execute(
            "SELECT e.device, d.status FROM event e JOIN notification n ON n.event_id = e.id "
            "JOIN outbox_delivery d ON d.id = n.outbox_id WHERE e.group_id = 'site'"
        ).fetchall()
    finally:
        conn.close()
    assert sorted(rows) == sorted((device, "sent") for device in accepted)
    got = subjects(smtp)
    for device in accepted:
        assert sum(f"– {device}: Temperature" in s for s in got) == 1, device


def test_a_full_disk_refuses_events_keeps_delivering_and_recovers(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk") as disk, ThreadedSMTPTestServer() as smtp:
        env = service_env(disk / "data")
        token, admin = set_up_site(env, smtp.port, enabled=False)  # mail waits in the outbox
        filler = disk / "filler"
        fill_disk(filler, leave=int(1.5 * MB))
        limits = ("--disk-warn-mb", "2", "--disk-min-free-mb", "0.5")
        with (
            serving(env, *limits) as running,
            httpx.Client(base_url=running.url, timeout=30) as client,
        ):
            assert _codes(client) == ["disk_low"]
            accepted, refusal = _post_until_full(client, token)
            assert accepted
            _assert_refused(refusal)
            health = _health(client)
            assert health["status"] == "degraded"
            # Full, unless the disk watch gave the write-ahead log back just now.
            assert health["problems"][0]["code"] in ("disk_full", "disk_low")  # type: ignore[index]
            # Email on (a small write, in the room kept): what was accepted goes out.
            # (New events may be taken again meanwhile: the disk watch gives SQLite's
            # write-ahead log back to the disk once it is low.)
            enable = client.patch(
                "/api/v1/settings",
                headers={"Authorization": f"Bearer {admin}"},
                json={"enabled": True},
            )
            assert enable.status_code == 200, enable.text
            wait_until(lambda: len(smtp.messages) >= len(accepted) + 1, "the queued emails")
            # Room again: events are taken at once, without a restart.
            filler.unlink()
            again = client.post(
                "/api/v1/events", headers={"Authorization": f"Bearer {token}"}, json=alarm("Late")
            )
            assert again.status_code == 202, again.text
            accepted.append("Late")
            assert _health(client)["status"] == "ok"
            wait_until(lambda: any(s.startswith(RESOLVED) for s in subjects(smtp)), "resolved")
            wait_until(lambda: len(smtp.messages) >= len(accepted) + 2, "the last alarm")
        _assert_whole(disk / "data" / "tocsin.db", accepted, smtp)
        assert sum(s.startswith(NOTICE) for s in subjects(smtp)) == 1
        assert sum(s.startswith(RESOLVED) for s in subjects(smtp)) == 1
        _assert_logged(running)


def _assert_logged(running: Serving) -> None:
    out = running.output()
    assert "WARNING tocsin.api: refusing POST /api/v1/events: the data directory is full" in out
    assert "the disk_space notice: raised" in out
    assert "the disk_space notice: cleared" in out
    assert "500 Internal Server Error" not in out


def test_the_stores_own_disk_full_is_a_503_too(tmp_path: Path) -> None:
    """Without the floor, SQLite's own "database or disk is full" meets the requests."""
    with small_disk(tmp_path / "disk") as disk, ThreadedSMTPTestServer() as smtp:
        env = service_env(disk / "data")
        token, _ = set_up_site(env, smtp.port)
        filler = disk / "filler"
        fill_disk(filler, leave=1 * MB)
        limits = ("--disk-warn-mb", "0.25", "--disk-min-free-mb", "0")
        with (
            serving(env, *limits) as running,
            httpx.Client(base_url=running.url, timeout=30) as client,
        ):
            accepted, refusal = _post_until_full(client, token)
            _assert_refused(refusal)
            assert _codes(client) == ["disk_full"]
            # The disk watch saw it (it writes the notice now, or once there is room).
            running.wait_for_output("new events are refused until there is room")
            filler.unlink()
            again = client.post(
                "/api/v1/events", headers={"Authorization": f"Bearer {token}"}, json=alarm("Late")
            )
            assert again.status_code == 202, again.text
            accepted.append("Late")
            assert _health(client)["status"] == "ok"
            wait_until(lambda: any(s.startswith(RESOLVED) for s in subjects(smtp)), "resolved")
            wait_until(lambda: len(smtp.messages) >= len(accepted) + 2, "every alarm")
        _assert_whole(disk / "data" / "tocsin.db", accepted, smtp)
        assert sum(s.startswith(NOTICE) for s in subjects(smtp)) == 1
        assert "Traceback" not in running.output()
