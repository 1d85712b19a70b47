"""Retention: old events go with their notifications, in batches; what is needed stays."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from intake_support import PG_URL, Clock, event
from typer.testing import CliRunner

from tocsin.cli import app
from tocsin.message import compose
from tocsin.outbox import DeliveryUpdate, ListFilter, NewEmail, Status
from tocsin.services import retention
from tocsin.services.context import Services
from tocsin.services.inputs import InputRefused
from tocsin.services.summaries import run_summaries, tick
from tocsin.store import AnyStore, PostgresStore, SQLiteStore

DAY = 86400.0
NOW = 1_790_000_000.0  # "now" of the explicit-time tests: events at OLD are 100 days old
OLD = NOW - 100 * DAY


# ---------------------------------------------------------------------- helpers
def _rows(store: AnyStore, sql: str) -> list[tuple[Any, ...]]:
    with store.site_reading() as site:
        return site.runner.rows(sql)


def _event_ids(store: AnyStore) -> set[str]:
    return {str(r[0]) for r in _rows(store, "SELECT id FROM event")}


def _notifications(store: AnyStore) -> set[tuple[str, str, str]]:
    rows = _rows(store, "SELECT event_id, user_id, status FROM notification")
    return {(str(r[0]), str(r[1]), str(r[2])) for r in rows}


def _deliver_all(services: Services) -> int:
    """Mark every queued email as sent through the store's own claim and record."""
    claimed = services.store.claim(owner="test", now=4e9, limit=100_000, lease=60)
    updates = [
        DeliveryUpdate(delivery_id=d.id, status=Status.SENT, step="data", code=250)
        for email in claimed
        for d in email.deliveries
    ]
    services.store.record(updates, owner="test", now=4e9)
    return len(updates)


def _raise_and_clear(services: Services, sensor: str, **fields: Any) -> tuple[str, str]:
    (raised,) = services.events.submit(event(sensor=sensor, **fields))
    (cleared,) = services.events.submit(event(sensor=sensor, state="cleared", **fields))
    assert cleared.clears == raised.id
    return raised.id, cleared.id


def _old_resolved(services: Services, clock: Clock, count: int, *, at: float = OLD) -> list[str]:
    """``count`` raises and their clears (two fire emails each), received at ``at``."""
    clock.now = at
    body = {"events": [event(sensor=f"s{i}") for i in range(count)]}
    raised = [a.id for a in services.events.submit(body)]
    clears = {"events": [event(sensor=f"s{i}", state="cleared") for i in range(count)]}
    return raised + [a.id for a in services.events.submit(clears)]


@contextmanager
def _second_store(services: Services) -> Iterator[AnyStore]:
    """Another connection to the same database: it sees only what was committed."""
    store = services.store
    other: AnyStore = (
        PostgresStore(PG_URL, schema=store.schema)
        if isinstance(store, PostgresStore)
        else SQLiteStore(store.path)
    )
    try:
        yield other
    finally:
        other.close()


def _block_deletes(store: AnyStore) -> None:
    """A real database error for every delete of an event (a broken disk, say)."""
    with store.site_writing() as site:
        if isinstance(store, PostgresStore):
            site.runner.run(
                "CREATE FUNCTION block_delete() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'deleting is blocked by the test'; END $$"
            )
            site.runner.run(
                "CREATE TRIGGER block_delete BEFORE DELETE ON event "
                "FOR EACH ROW EXECUTE FUNCTION block_delete()"
            )
        else:
            site.runner.run(
                "CREATE TRIGGER block_delete BEFORE DELETE ON event "
                "BEGIN SELECT RAISE(ABORT, 'deleting is blocked by the test'); END"
            )


def _unblock_deletes(store: AnyStore) -> None:
    on_table = " ON event" if isinstance(store, PostgresStore) else ""
    with store.site_writing() as site:
        site.runner.run(f"DROP TRIGGER block_delete{on_table}")


# ---------------------------------------------------------------------- what goes, what stays
def test_old_resolved_events_go_and_what_is_needed_stays(backend: Services, clock: Clock) -> None:
    clock.now = OLD
    gone = set(_raise_and_clear(backend, "smoke"))  # resolved and delivered: goes
    (still_active,) = backend.events.submit(event(sensor="heat"))  # never cleared: stays
    # The cap (3 per hour for "always" in building A) holds the 4th back for a summary.
    capped = [event(category="always", sensor=f"t{i}") for i in range(4)]
    capped_ids = [a.id for a in backend.events.submit({"events": capped})]
    clears = [event(category="always", sensor=f"t{i}", state="cleared") for i in range(4)]
    gone |= {*capped_ids[:3], *(a.id for a in backend.events.submit({"events": clears}))}
    long_raise = backend.events.submit(event(sensor="long"))[0].id
    (waiting,) = backend.events.submit(event(sensor="queued"))
    assert _deliver_all(backend) > 0
    # The "cleared" email still waits in the outbox: it stays, and so does its raise.
    (waiting_clear,) = backend.events.submit(event(sensor="queued", state="cleared"))
    clock.now = NOW - DAY  # an incident that began long ago and ended yesterday stays whole
    backend.events.submit(event(sensor="long", state="cleared"))
    recent = set(_raise_and_clear(backend, "recent"))
    before = _event_ids(backend.store)
    kept_notes = {n for n in _notifications(backend.store) if n[0] not in gone}

    report = retention.purge_events(backend.store, older_than_days=90, now=NOW)

    after = _event_ids(backend.store)
    assert after == before - gone
    assert {still_active.id, capped_ids[3], long_raise, waiting.id, waiting_clear.id} <= after
    assert recent <= after
    assert ("alice", "held") in {(u, s) for e, u, s in _notifications(backend.store)}
    assert _notifications(backend.store) == kept_notes  # every other one went with its event
    assert (report.events, report.notifications) == (len(gone), 2 * 2 + 3 * 2 * 2)
    assert report.kept == 5  # active, held, the long incident's raise, queued raise and clear
    assert report.finished


def test_a_dry_run_counts_without_deleting(backend: Services, clock: Clock) -> None:
    ids = _old_resolved(backend, clock, 3)
    _deliver_all(backend)
    dry = retention.purge_events(backend.store, older_than_days=90, now=NOW, dry_run=True)
    assert (dry.events, dry.notifications, dry.dry_run) == (6, 12, True)
    assert set(ids) <= _event_ids(backend.store)
    real = retention.purge_events(backend.store, older_than_days=90, now=NOW)
    assert (real.events, real.notifications) == (dry.events, dry.notifications)
    assert _event_ids(backend.store) == set()


def test_the_period_decides(backend: Services, clock: Clock) -> None:
    _old_resolved(backend, clock, 1)  # 100 days old
    _deliver_all(backend)
    assert retention.purge_events(backend.store, older_than_days=101, now=NOW).events == 0
    retention.set_retention_days(backend.store, 99)
    assert retention.purge_events(backend.store, now=NOW).events == 2  # the stored period


def test_batches_are_bounded_and_each_is_committed(backend: Services, clock: Clock) -> None:
    ids = _old_resolved(backend, clock, 11)
    _deliver_all(backend)
    seen: list[tuple[int, int, int]] = []
    with _second_store(backend) as other:

        def after_batch(report: retention.PurgeReport) -> None:
            left = len(_event_ids(other))  # committed, or the other connection would not see it
            seen.append((report.examined, report.events, left))

        report = retention.purge_events(
            backend.store, older_than_days=90, now=NOW, batch_size=4, on_batch=after_batch
        )
    assert report.events == len(ids) == 22
    assert report.batches == len(seen) == 6  # 4 + 4 + 4 + 4 + 4 + 2
    deleted = [e for _, e, _ in seen]
    steps = [b - a for a, b in zip([0, *deleted], deleted, strict=False)]
    assert max(steps) <= 4
    assert [left for _, _, left in seen] == [22 - d for d in deleted]


def test_a_purge_runs_out_of_budget_and_says_so(services: Services, clock: Clock) -> None:
    _old_resolved(services, clock, 5)
    _deliver_all(services)
    report = retention.purge_events(
        services.store, older_than_days=90, now=NOW, batch_size=2, budget=0.0
    )
    assert (report.batches, report.events, report.finished) == (1, 2, False)


# ---------------------------------------------------------------------- the automatic run
def test_the_timer_purges_at_most_hourly(backend: Services, clock: Clock) -> None:
    first = _old_resolved(backend, clock, 1)
    _deliver_all(backend)
    assert tick(backend, NOW, checks=()).events_purged == 2
    second = _old_resolved(backend, clock, 1, at=OLD + 60)
    _deliver_all(backend)
    for later in (60, 1800, 3599):
        assert tick(backend, NOW + later, checks=()).events_purged == 0
    assert _event_ids(backend.store) == set(second)
    assert tick(backend, NOW + 3600, checks=()).events_purged == 2
    status = retention.retention_status(backend.store)
    assert (status.last_run, status.next_run) == (NOW + 3600, NOW + 7200)
    assert set(first).isdisjoint(_event_ids(backend.store))


def test_the_timer_applies_the_period_to_finished_deliveries(backend: Services) -> None:
    store = backend.store

    def email(to: str, at: float, status: Status | None) -> None:
        mail = compose(sender="alarms@example.com", to=[to], subject="Alarm", text="!\n")
        with store.transaction() as tx:
            tx.enqueue(NewEmail.of(mail), now=at)
        if status is not None:
            (claimed,) = store.claim(owner="t", now=at, limit=10, lease=60)
            (d,) = claimed.deliveries
            store.record([DeliveryUpdate(d.id, status, code=250)], owner="t", now=at)

    for n, status in enumerate((Status.SENT, Status.FAILED, Status.DEAD)):
        email(f"old{n}@example.com", OLD, status)
    email("recent@example.com", NOW - DAY, Status.SENT)
    email("waiting@example.com", OLD, None)  # still queued: never purged
    assert retention.run_retention(store, NOW) is not None
    left = {v.recipient for v in store.list_deliveries(ListFilter())}
    assert left == {"waiting@example.com", "recent@example.com"}
    assert retention.retention_status(store).last_deliveries == 3


def test_the_timer_survives_an_error_and_retries_later(backend: Services, clock: Clock) -> None:
    ids = _old_resolved(backend, clock, 2)
    _deliver_all(backend)
    _block_deletes(backend.store)
    report = tick(backend, NOW, checks=())
    (error,) = report.errors
    assert error.startswith("retention:")
    assert "blocked by the test" in error
    assert _event_ids(backend.store) == set(ids)  # the failed batch rolled back whole
    assert "blocked by the test" in retention.retention_status(backend.store).last_error
    _unblock_deletes(backend.store)
    assert tick(backend, NOW + 60, checks=()).events_purged == 0  # not at every tick
    assert tick(backend, NOW + retention.RETRY_AFTER, checks=()).events_purged == 4
    assert retention.retention_status(backend.store).last_error == ""


def test_a_big_purge_goes_on_at_the_next_tick(services: Services, clock: Clock) -> None:
    _old_resolved(services, clock, 3)
    _deliver_all(services)
    report = retention.run_retention(services.store, NOW, budget=0.0, batch_size=2)
    assert report is not None
    assert not report.finished
    status = retention.retention_status(services.store)
    assert status.next_run is not None
    assert status.next_run - NOW < 3600


def test_a_clock_that_went_back_does_not_stop_the_purge(services: Services, clock: Clock) -> None:
    assert retention.run_retention(services.store, NOW + 10 * DAY) is not None
    _old_resolved(services, clock, 1)
    _deliver_all(services)
    report = retention.run_retention(services.store, NOW)  # ten days "earlier"
    assert report is not None
    assert report.events == 2


async def test_the_minutely_runner_purges(services: Services, clock: Clock) -> None:
    ids = await asyncio.to_thread(_old_resolved, services, clock, 2, at=time.time() - 200 * DAY)
    await asyncio.to_thread(_deliver_all, services)
    stop = asyncio.Event()
    task = asyncio.create_task(run_summaries(services, stop, interval=0.02, checks=()))
    try:
        for _ in range(250):
            if not set(ids) & await asyncio.to_thread(_event_ids, services.store):
                break
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)
    assert set(ids).isdisjoint(_event_ids(services.store))
    assert retention.retention_status(services.store).last_events == 4


# ---------------------------------------------------------------------- the period, checked
@pytest.mark.parametrize("days", [1, 90, 3650, "30", " 7 "])
def test_days_from_1_to_3650(days: object) -> None:
    assert retention.check_days(days) == int(str(days))


@pytest.mark.parametrize(
    ("days", "code"),
    [
        (0, "field_range"),
        (3651, "field_range"),
        (-5, "field_range"),
        ("1.5", "field_range"),
        ("ninety", "field_range"),
        (True, "field_range"),
        (None, "field_missing"),
        ("", "field_missing"),
    ],
)
def test_bad_days_are_refused(days: object, code: str) -> None:
    with pytest.raises(InputRefused) as refused:
        retention.check_days(days, field="older_than_days")
    (issue,) = refused.value.issues
    assert (issue.field, issue.code) == ("older_than_days", code)


def test_the_period_is_kept_in_the_store(services: Services) -> None:
    status = retention.retention_status(services.store)
    assert (status.days, status.is_default, status.last_run) == (90, True, None)
    retention.set_retention_days(services.store, "30")
    assert retention.retention_status(services.store).days == 30
    with pytest.raises(InputRefused):
        retention.set_retention_days(services.store, 0)
    assert retention.retention_status(services.store).days == 30
    services.store.put_value("event_retention", "not json")  # hand-edited: the default
    assert retention.retention_status(services.store).days == 90


# ---------------------------------------------------------------------- CLI
class _Cli:
    def __init__(self, data: Path) -> None:
        self.data = data
        self.runner = CliRunner()

    def __call__(self, *args: str, code: int = 0) -> tuple[str, str]:
        env = {"TOCSIN_DATA": str(self.data), "COLUMNS": "200", "NO_COLOR": "1"}
        result = self.runner.invoke(app, list(args), env=env)
        assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
        return result.stdout, result.stderr


def test_cli_retention_and_purge(services: Services, clock: Clock) -> None:
    cli = _Cli(services.data)
    out, _ = cli("event", "retention")
    assert "kept for 90 days (the default)" in out
    _, err = cli("event", "retention", "--days", "0", code=2)
    assert "--days: Enter a whole number from 1 to 3650." in err
    _, err = cli("event", "retention", "--days", "a year", code=2)
    assert "--days: Enter a whole number" in err
    out, _ = cli("event", "retention", "--days", "30")
    assert "now kept for 30 days." in out
    _, err = cli("event", "purge", "--older-than-days", "3651", code=2)
    assert "--older-than-days: Enter a whole number from 1 to 3650." in err

    _old_resolved(services, clock, 2, at=time.time() - 40 * DAY)
    (active,) = services.events.submit(event(sensor="active"))
    _deliver_all(services)
    out, _ = cli("event", "purge", "--dry-run")
    assert "4 events and 8 notifications received more than 30 days ago would be deleted" in out
    assert "1 older events stay" in out
    out, _ = cli("event", "purge", "--older-than-days", "41")
    assert "0 events and 0 notifications" in out
    out, _ = cli("event", "purge", "--json")
    assert '"events": 4' in out
    assert '"kept": 1' in out
    assert _event_ids(services.store) == {active.id}
    assert "last at" not in cli("event", "retention")[0]  # the CLI purge is not the timer's


def test_cli_shows_the_last_automatic_run(services: Services, clock: Clock) -> None:
    cli = _Cli(services.data)
    retention.run_retention(services.store, NOW)
    out, _ = cli("event", "retention")
    assert "last at 2026-09-21T14:13:20Z: 0 events, 0 finished deliveries deleted." in out
    _old_resolved(services, clock, 1)
    _deliver_all(services)
    _block_deletes(services.store)
    with pytest.raises(sqlite3.IntegrityError, match="blocked by the test"):
        retention.run_retention(services.store, NOW + 3600)
    out, _ = cli("event", "retention")
    assert "! The last attempt failed: deleting is blocked by the test" in out


# ---------------------------------------------------------------------- REST
def test_api_purge(admin: httpx.Client, services: Services, clock: Clock) -> None:
    _old_resolved(services, clock, 2, at=time.time() - 200 * DAY)
    _deliver_all(services)
    dry = admin.post("/api/v1/events/purge", params={"older_than_days": 90, "dry_run": True})
    assert dry.status_code == 200, dry.text
    assert (dry.json()["events"], dry.json()["dry_run"]) == (4, True)
    done = admin.post("/api/v1/events/purge", params={"older_than_days": 90})
    assert (done.json()["events"], done.json()["notifications"]) == (4, 8)
    assert _event_ids(services.store) == set()


@pytest.mark.parametrize("days", ["0", "3651", "abc", "2.5"])
def test_api_purge_refuses_bad_days(admin: httpx.Client, days: str) -> None:
    answer = admin.post("/api/v1/events/purge", params={"older_than_days": days})
    assert answer.status_code == 422
    assert [(i["field"], i["code"]) for i in answer.json()["issues"]] == [
        ("older_than_days", "field_range")
    ]
    assert "1 to 3650" in answer.json()["message"]


def test_api_purge_is_for_admins(device: httpx.Client) -> None:
    assert device.post("/api/v1/events/purge", params={"older_than_days": 90}).status_code == 403
