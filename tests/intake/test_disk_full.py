"""A full disk, in process, on a real small tmpfs: the store's "disk full" becomes
StorageFull, nothing is half stored, the API answers 503, and room coming back is enough.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from intake_support import (
    PG_URL,
    Clock,
    event,
    set_up_site,
    stored_counts,
    unique_schema,
    use_clock,
)

from helpers import LiveServer, fill_disk, free_bytes, small_disk
from tocsin.api import create_app
from tocsin.errors import StorageFull
from tocsin.services.accounts import AccountsService
from tocsin.services.context import Services
from tocsin.services.disk import (
    DISK_SPACE,
    MB,
    DiskGuard,
    DiskLimits,
    DiskWatch,
    probe_writer,
)
from tocsin.services.outbox import OutboxService
from tocsin.services.settings import SettingsService
from tocsin.services.summaries import raise_system_event
from tocsin.store.errors import DATA_DIRECTORY, DATABASE_SERVER
from tocsin.store.keyfile import SecretBox
from tocsin.store.postgres import PostgresStore
from tocsin.store.space import reclaim_wal
from tocsin.store.sqlite import SQLiteStore

NO_FLOOR = DiskLimits(0, 0)  # meet the store's own "disk full", not Tocsin's floor


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs."""
    with small_disk(tmp_path / "disk") as where:
        yield where


@pytest.fixture
def on_disk(disk: Path, clock: Clock) -> Iterator[Services]:
    """Services whose SQLite database is on the small disk, with the standard site."""
    opened = Services.open(disk / "data")
    try:
        opened.disk.limits = NO_FLOOR
        use_clock(opened, clock)
        set_up_site(opened)
        yield opened
    finally:
        opened.close()


def _fill_with_events(services: Services, limit: int = 2000) -> tuple[list[str], StorageFull]:
    """Submit one event at a time until the disk is full: (accepted ids, the refusal)."""
    accepted: list[str] = []
    for n in range(limit):
        try:
            accepted += [a.id for a in services.events.submit(event(device=f"Detector {n}"))]
        except StorageFull as exc:
            return accepted, exc
    pytest.fail(f"the disk was not full after {limit} events")


def _assert_whole(services: Services, accepted: list[str]) -> None:
    """Integrity ok, and exactly the accepted events are stored, each with both emails."""
    with services.store.site_reading() as sql:
        assert sql.runner.rows("PRAGMA integrity_check") == [("ok",)]
        assert sql.runner.rows("PRAGMA foreign_key_check") == []
    # A fire in the server room goes to alice and bob: two notifications, two emails.
    assert stored_counts(services) == (len(accepted), 2 * len(accepted), 2 * len(accepted))
    for event_id in accepted:
        record = services.events.get(event_id)
        assert record is not None
        assert {(n.user_id, n.status) for n in record.notifications} == {
            ("alice", "sent"),
            ("bob", "sent"),
        }
        assert all(n.outbox_id is not None for n in record.notifications)


def test_sqlite_full_is_storage_full_and_nothing_is_half_stored(
    on_disk: Services, disk: Path
) -> None:
    filler = disk / "filler"
    fill_disk(filler, leave=1 * MB)
    accepted, refusal = _fill_with_events(on_disk)
    assert accepted
    assert str(refusal) == "the data directory is full"
    assert refusal.where == DATA_DIRECTORY
    assert refusal.retry_after > 0
    cause = refusal.__cause__
    assert isinstance(cause, sqlite3.OperationalError)
    assert cause.sqlite_errorname == "SQLITE_FULL"
    _assert_whole(on_disk, accepted)
    # A batch is refused whole.
    with pytest.raises(StorageFull):
        on_disk.events.submit({"events": [event(device=f"Batch {i}") for i in range(20)]})
    _assert_whole(on_disk, accepted)
    # Room again: the same open store takes events, no restart.
    filler.unlink()
    accepted += [a.id for a in on_disk.events.submit(event(device="After"))]
    _assert_whole(on_disk, accepted)


def test_concurrent_intake_on_a_full_disk_is_all_or_nothing(on_disk: Services, disk: Path) -> None:
    fill_disk(disk / "filler", leave=1 * MB)
    accepted: list[str] = []
    surprises: list[BaseException] = []
    lock = threading.Lock()

    def device(name: str) -> None:
        for n in range(500):
            try:
                ids = [a.id for a in on_disk.events.submit(event(device=f"{name} {n}"))]
            except StorageFull:
                return
            except BaseException as exc:
                with lock:
                    surprises.append(exc)
                return
            with lock:
                accepted.extend(ids)

    threads = [threading.Thread(target=device, args=(f"Gateway {i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(t.is_alive() for t in threads)
    assert surprises == []
    _assert_whole(on_disk, accepted)


def test_the_floor_refuses_events_but_keeps_room_for_the_rest(
    on_disk: Services, disk: Path
) -> None:
    on_disk.disk.limits = DiskLimits.from_mb(warn_mb=2, min_free_mb=1)
    fill_disk(disk / "filler", leave=int(1.6 * MB))
    accepted, refusal = _fill_with_events(on_disk)
    assert refusal.__cause__ is None  # Tocsin's own floor, not the store's error
    assert str(refusal).startswith("the data directory is full: ")
    assert "kept for delivering accepted emails" in str(refusal)
    assert free_bytes(disk) > 0.5 * MB
    state = on_disk.disk.state()
    assert state.full
    assert state.problems()[0]["code"] == "disk_full"
    _assert_whole(on_disk, accepted)
    # The room kept serves what is already accepted: a notice, delivery bookkeeping.
    assert raise_system_event(on_disk, "disk_space", "The data directory is full")
    claimed = on_disk.store.claim(owner="test", now=4e9, limit=500, lease=60.0)
    assert sum(len(c.deliveries) for c in claimed) == 2 * len(accepted) + 1


def test_the_api_answers_503_and_recovers_without_a_restart(on_disk: Services, disk: Path) -> None:
    filler = disk / "filler"
    token, _ = on_disk.accounts.create_token("gateway", ("events",))
    admin, _ = on_disk.accounts.create_token("admin", ("admin",))
    fill_disk(filler, leave=1 * MB)
    live = LiveServer(create_app(on_disk))
    try:
        with httpx.Client(base_url=live.url, timeout=30) as client:
            answers = _post_until_503(client, token)
            full = answers[-1]
            assert full.headers["Retry-After"] == "60"
            assert full.json()["error"] == "storage_full"
            assert full.json()["message"].startswith("the data directory is full")
            health = client.get("/healthz").json()
            assert health["status"] == "degraded"
            assert health["problems"][0]["code"] == "disk_full"
            assert health["disk"]["intake"] == "refused"
            metrics = client.get("/metrics", headers={"Authorization": f"Bearer {admin}"}).text
            assert "tocsin_data_free_bytes " in metrics
            assert "tocsin_storage_full 1.0" in metrics
            # Another writing endpoint, with not a byte left: the same answer.  The
            # write-ahead log is truncated first (which needs room): a log that earlier
            # writes left long is space SQLite reuses, and a small write would fit.
            assert isinstance(on_disk.store, SQLiteStore)
            filler.unlink()
            reclaim_wal(on_disk.store, min_bytes=0)
            fill_disk(disk / "the rest", leave=0)
            patch = client.patch(
                "/api/v1/settings",
                headers={"Authorization": f"Bearer {admin}"},
                json={"sender_name": "Plant room"},
            )
            assert patch.status_code == 503, patch.text
            assert patch.headers["Retry-After"] == "60"
            assert patch.json()["error"] == "storage_full"
            (disk / "the rest").unlink()
            again = client.post(
                "/api/v1/events", headers={"Authorization": f"Bearer {token}"}, json=event()
            )
            assert again.status_code == 202, again.text
            assert client.get("/healthz").json()["status"] == "ok"  # stored: room again
    finally:
        live.close()
    accepted = [i for a in answers if a.status_code == 202 for i in a.json()["ids"]]
    _assert_whole(on_disk, [*accepted, *again.json()["ids"]])


def test_a_full_disk_does_not_lock_an_admin_out_of_the_metrics(
    on_disk: Services, disk: Path
) -> None:
    # A token's first use is noted in the store; with no room for that note the
    # request must still be answered (a full disk is when /metrics matters most).
    admin, _ = on_disk.accounts.create_token("monitoring", ("admin",))
    assert isinstance(on_disk.store, SQLiteStore)
    reclaim_wal(on_disk.store, min_bytes=0)
    fill_disk(disk / "the rest", leave=0)
    live = LiveServer(create_app(on_disk))
    try:
        with httpx.Client(base_url=live.url, timeout=30) as client:
            auth = {"Authorization": f"Bearer {admin}"}
            metrics = client.get("/metrics", headers=auth)
            assert metrics.status_code == 200, metrics.text
            assert "tocsin_data_free_bytes " in metrics.text
            assert client.get("/api/v1/outbox", headers=auth).status_code == 200
            (token,) = [t for t in on_disk.accounts.list_tokens() if t.name == "monitoring"]
            assert token.last_used_at is None  # not written: no room
            (disk / "the rest").unlink()
            assert client.get("/metrics", headers=auth).status_code == 200
            (token,) = [t for t in on_disk.accounts.list_tokens() if t.name == "monitoring"]
            assert token.last_used_at is not None  # written once there was room
    finally:
        live.close()


def _post_until_503(client: httpx.Client, token: str, limit: int = 2000) -> list[httpx.Response]:
    answers: list[httpx.Response] = []
    for n in range(limit):
        answer = client.post(
            "/api/v1/events",
            headers={"Authorization": f"Bearer {token}"},
            json=event(device=f"Detector {n}"),
        )
        assert answer.status_code in (202, 503), answer.text
        answers.append(answer)
        if answer.status_code == 503:
            return answers
    pytest.fail(f"no 503 after {limit} events")


@pytest.mark.parametrize("floor", ["0", "20"])
def test_the_cli_says_it_in_one_line(on_disk: Services, disk: Path, floor: str) -> None:
    fill_disk(disk / "filler", leave=64 * 1024)
    if floor == "0":
        _fill_with_events(on_disk)  # the store's own error, not the floor
    env = {
        **os.environ,
        "TOCSIN_DATA": str(disk / "data"),
        "TOCSIN_DISK_MIN_FREE_MB": floor,
        "TOCSIN_DISK_WARN_MB": floor,
        "NO_COLOR": "1",
    }
    args = ["event", "raise", "--group", "server-room", "--device", "CLI", "--sensor", "smoke"]
    done = subprocess.run(
        [sys.executable, "-m", "tocsin", *args, "--category", "fire", "--severity", "alarm"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 75, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "the data directory is full" in lines[0]
    assert "try again later" in lines[0]


# ---------------------------------------------------------------------- PostgreSQL
@pytest.fixture
def pg_on_disk(clock: Clock, tmp_path: Path) -> Iterator[Services]:
    """Services on PostgreSQL whose tables live in a tablespace on a 4 MB tmpfs."""
    mount = Path(tempfile.mkdtemp(prefix="tocsin-pg-disk-"))
    mount.chmod(0o755)  # the server's user must reach the tablespace
    name = f"tocsin_full_{uuid.uuid4().hex[:10]}"
    with small_disk(mount) as disk, psycopg.connect(PG_URL, autocommit=True) as admin:
        space = disk / "tablespace"
        space.mkdir()
        shutil.chown(space, "postgres", "postgres")
        admin.execute(f"CREATE TABLESPACE {name} LOCATION '{space}'")
        store = PostgresStore(
            f"{PG_URL}?options=-c%20default_tablespace%3D{name}", schema=unique_schema()
        )
        box = SecretBox(tmp_path / "secret.key")
        opened = Services(
            data=tmp_path,
            store=store,
            box=box,
            settings=SettingsService(store, box),
            accounts=AccountsService(store.accounts),
            outbox=OutboxService(store),
        )
        try:
            use_clock(opened, clock)
            set_up_site(opened)
            fill_disk(disk / "filler", leave=512 * 1024)  # less to fill with events
            yield opened
        finally:
            store.drop_schema()
            opened.close()
            admin.execute(f"DROP TABLESPACE {name}")
    mount.rmdir()


@pytest.mark.postgres
def test_postgres_disk_full_is_storage_full(pg_on_disk: Services) -> None:
    accepted, refusal = _fill_with_events(pg_on_disk, limit=5000)
    assert accepted
    assert refusal.where == DATABASE_SERVER
    assert str(refusal) == "the database server's disk is full"
    assert isinstance(refusal.__cause__, psycopg.errors.DiskFull)
    assert stored_counts(pg_on_disk) == (len(accepted), 2 * len(accepted), 2 * len(accepted))
    # Remembered: the data directory's own free space says nothing about the server's.
    state = pg_on_disk.disk.state()
    assert state.problems()[0]["code"] == "disk_full"
    assert state.notice().startswith("The database server's disk is full: Tocsin refuses")
    assert "Free space on the database server" in state.notice()
    assert pg_on_disk.disk.check().full


# ---------------------------------------------------------------------- the notice
def _notices(services: Services) -> list[str]:
    return [
        r.stored.event.state.value
        for r in reversed(services.events.recent(limit=50))
        if r.stored.event.sensor == DISK_SPACE
    ]


def test_one_notice_while_low_cleared_with_room(on_disk: Services) -> None:
    free = [10 * MB]
    guard = DiskGuard(
        on_disk.disk.path,
        limits=DiskLimits.from_mb(warn_mb=2, min_free_mb=1),
        usage=lambda _: (free[0], 16 * MB),
    )
    watch = DiskWatch(on_disk, guard)
    assert watch.round() == ""
    free[0] = int(1.5 * MB)  # low
    assert watch.round() == "raised"
    free[0] = int(0.5 * MB)  # full: still the one notice
    assert watch.round() == ""
    assert guard.state().full
    free[0] = int(2.1 * MB)  # above the warning level, but not clearly: no flapping
    assert watch.round() == ""
    free[0] = 3 * MB
    assert watch.round() == "cleared"
    assert _notices(on_disk) == ["raised", "cleared"]


def test_a_notice_that_found_no_room_goes_out_once_there_is(on_disk: Services, disk: Path) -> None:
    fill_disk(disk / "filler", leave=1 * MB)
    _, refusal = _fill_with_events(on_disk)  # the store itself is full (no floor)
    fill_disk(disk / "the rest", leave=0)
    # No reclaim (it would find room in the write-ahead log); the probe after a minute.
    now = [0.0]
    guard = DiskGuard(
        on_disk.disk.path, limits=NO_FLOOR, probe=probe_writer(on_disk), clock=lambda: now[0]
    )
    guard.note_full(refusal)
    watch = DiskWatch(on_disk, guard)
    assert watch.round() == ""  # the notice cannot be written yet
    assert guard.state().full
    assert _notices(on_disk) == []
    (disk / "filler").unlink()
    (disk / "the rest").unlink()
    now[0] = 61.0
    assert watch.round() == "raised"  # the probe found room; the notice goes out now
    assert not guard.state().full
    assert watch.round() == "cleared"
    assert _notices(on_disk) == ["raised", "cleared"]
