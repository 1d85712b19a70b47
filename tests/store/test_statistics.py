"""PostgreSQL's statistics follow a storm (``tocsin.store.statistics``, issue 11): a table
that changed by more rows than its statistics describe is ANALYZEd within seconds,
not at autovacuum's next round.  Real server, real tables of a migrated schema."""

from __future__ import annotations

import asyncio
import logging
import time

import psycopg
import pytest

from helpers import _pg_server, pg_store
from tocsin.store.postgres import PostgresStore
from tocsin.store.statistics import LEAST_CHANGES, analyze_grown, keep_statistics

pytestmark = pytest.mark.postgres

_EVENTS = (
    "INSERT INTO event (id, client_event_id, fingerprint, group_id, device, sensor, "
    "category, severity, state, occurred_at, unit, text, is_open, received_at) "
    "SELECT 'e' || i, 'c' || i, 'f', 'g', 'd', 's', 'fire', 'alarm', 'raised', 0, '', '', "
    "0, 0 FROM generate_series(CAST(? AS INTEGER), CAST(? AS INTEGER)) AS i"
)


def _grow(store: PostgresStore, first: int, last: int) -> None:
    """Events ``first`` to ``last``, their counts visible to other sessions at once."""
    with store.transaction() as tx:
        tx.runner.send(_EVENTS, (first, last))
    with store.site_reading() as site:  # (a session reports its counts at most once a second)
        site.runner.rows("SELECT pg_stat_force_next_flush()")
        site.runner.rows("SELECT 1")


def _planned_rows(store: PostgresStore) -> float:
    """The event table's size as the planner knows it (its last ANALYZE)."""
    with store.site_reading() as site:
        rows = site.runner.rows("SELECT reltuples FROM pg_class WHERE oid = 'event'::regclass")
    return float(rows[0][0])


def _analyzed_young(store: PostgresStore) -> None:
    _grow(store, 1, 50)
    with store.site_reading() as site:
        site.runner.rows("ANALYZE")
    assert _planned_rows(store) == 50


async def _grown_then_analyzed(
    store: PostgresStore, stop: asyncio.Event, task: asyncio.Task[None]
) -> None:
    """Grow the event table 60 times; wait (at most 20 s) for the running task to
    ANALYZE it, then stop the task."""
    await asyncio.to_thread(_grow, store, 51, 3050)
    for _ in range(400):
        if _planned_rows(store) == 3050:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 10)
    assert _planned_rows(store) == 3050


def test_a_table_that_outgrew_its_statistics_is_analyzed_once() -> None:
    with pg_store() as store:
        _analyzed_young(store)
        _grow(store, 51, 3050)  # 60 times what ANALYZE saw
        with store.new_connection() as conn:
            assert analyze_grown(conn) == ["event"]
            assert _planned_rows(store) == 3050
            assert analyze_grown(conn) == []  # nothing changed since


def test_fewer_changes_than_the_least_are_left_to_autovacuum() -> None:
    with pg_store() as store:
        _analyzed_young(store)
        _grow(store, 51, 50 + LEAST_CHANGES - 100)
        with store.new_connection() as conn:
            assert analyze_grown(conn) == []
        assert _planned_rows(store) == 50


async def test_serves_task_refreshes_them_and_outlives_a_server_it_cannot_reach(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "tocsin.store")
    with pg_store() as store:
        _analyzed_young(store)
        calls: list[float] = []

        def connect() -> psycopg.Connection[tuple[object, ...]]:
            calls.append(time.monotonic())
            if len(calls) <= 3:  # the server unreachable at first (a closed port)
                return psycopg.connect("postgresql://127.0.0.1:9/test", connect_timeout=2)
            return store.new_connection()

        stop = asyncio.Event()
        task = asyncio.create_task(keep_statistics(connect, stop, every=0.05))
        await _grown_then_analyzed(store, stop, task)
    assert len(calls) == 4  # three refused, then one connection kept
    warnings = [r for r in caplog.records if "could not refresh" in r.getMessage()]
    assert len(warnings) == 1  # said once, not at each try
    assert any("statistics refreshed after much change: event" in r.getMessage()
               for r in caplog.records)  # fmt: skip
    assert _pg_server() not in caplog.text  # no URL (and so no password) in the log


async def test_a_session_the_server_ended_is_opened_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The server restarts (or an admin ends the session): the next look fails, is said
    # once, and the look after it opens a new connection and goes on.
    caplog.set_level(logging.INFO, "tocsin.store")
    with pg_store() as store:
        _analyzed_young(store)
        opened: list[int] = []

        def connect() -> psycopg.Connection[tuple[object, ...]]:
            conn = store.new_connection()
            row = conn.execute("SELECT pg_backend_pid()").fetchone()
            assert row is not None
            opened.append(int(str(row[0])))
            return conn

        stop = asyncio.Event()
        task = asyncio.create_task(keep_statistics(connect, stop, every=0.05))
        for _ in range(200):  # at most 10 s
            if opened:
                break
            await asyncio.sleep(0.05)
        with store.site_reading() as site:
            site.runner.rows("SELECT pg_terminate_backend(?)", (opened[0],))
        await _grown_then_analyzed(store, stop, task)
    assert len(opened) == 2  # the ended session, then one new one
    warnings = [r for r in caplog.records if "could not refresh" in r.getMessage()]
    assert len(warnings) == 1
