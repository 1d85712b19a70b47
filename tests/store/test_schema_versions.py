# Only fixture table names and test-made schema names go into SQL text here.
# ruff: noqa: S608
"""Schema versions on both backends: version 1 is what Tocsin made before versions, a
version-1 database upgrades without losing a row and its queued mail still goes out, a
newer database is refused, a failed migration leaves nothing behind."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from store_support import (
    FIXTURE,
    PG_URL,
    make_v1_postgres,
    make_v1_sqlite,
    pg_schema,
    pg_url,
    read_rows,
    sorted_fixture,
    with_extra_migration,
)

from tocsin.errors import SchemaError, SchemaTooNew
from tocsin.outbox import DeliveryEngine, EngineOptions, RetryPolicy, Status
from tocsin.relay.store import RELAY, open_relay_store
from tocsin.settings import EmailSettings, Encryption
from tocsin.store import AnyStore, TestEmailRun, open_store
from tocsin.store.migrations import APPLIANCE, upgrade
from tocsin.store.sqlite import statements
from tocsin.testing import ThreadedSMTPTestServer

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
NEWEST = len(APPLIANCE.migrations("sqlite"))
"""The appliance's newest version (each branch that adds a migration moves it)."""
LATER = list(range(2, NEWEST + 1))
"""The versions after the baseline."""

# Test only (a version after the newest): a column with a default on tables with
# rows, and an index on it; the same SQL on both dialects.
ADDED_COLUMN = """-- test only: what a later release might do
ALTER TABLE outbox_delivery ADD COLUMN test_note TEXT NOT NULL DEFAULT 'upgraded';
CREATE INDEX outbox_delivery_test_note ON outbox_delivery (test_note);
"""


class Place:
    """A database of one backend: a URL (and schema) to open it by, and raw queries."""

    def __init__(self, dialect: str, url: str, schema: str | None) -> None:
        self.dialect, self.url, self.schema = dialect, url, schema

    def open(self, *, migrate: bool = True, relay: bool = False) -> AnyStore:
        """A store on it (the relay's store with ``relay``)."""
        if relay:
            return open_relay_store(self.url, schema=self.schema, migrate=migrate)
        return open_store(self.url, schema=self.schema, migrate=migrate)

    def fetch(self, query: str) -> list[tuple[Any, ...]]:
        """Rows of ``query`` on a connection of its own."""
        if self.dialect == "sqlite":
            conn = sqlite3.connect(self.url)
            try:
                return conn.execute(query).fetchall()
            finally:
                conn.close()
        assert self.schema is not None
        with psycopg.connect(pg_url(self.schema)) as pg:
            return pg.execute(query).fetchall()  # type: ignore[arg-type]

    def make_v1(self, part: str = "appliance") -> None:
        """Fill it with the version-1 fixture (no version table)."""
        if self.dialect == "sqlite":
            make_v1_sqlite(Path(self.url), part)
        else:
            assert self.schema is not None
            make_v1_postgres(self.schema, part)


@pytest.fixture(params=BACKENDS)
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Place]:
    """An empty database on each backend."""
    if request.param == "sqlite":
        yield Place("sqlite", str(tmp_path / "tocsin.db"), None)
        return
    with pg_schema() as schema:
        yield Place("postgres", PG_URL, schema)


def _versions(place: Place, component: str = "tocsin") -> list[tuple[int, str, str]]:
    return [
        (int(r[0]), str(r[1]), str(r[2]))
        for r in place.fetch(
            "SELECT version, name, applied_by FROM schema_migration "
            f"WHERE component = '{component}' ORDER BY version"
        )
    ]


def test_a_new_database_records_each_version(place: Place) -> None:
    store = place.open()
    try:
        (state,) = store.schema_states()
        assert (state.current, state.known, state.pending, state.baseline) == (
            NEWEST,
            NEWEST,
            (),
            False,
        )
    finally:
        store.close()
    recorded = [(v, n) for v, n, _ in _versions(place)]
    assert recorded[:8] == [
        (1, "initial"),
        (2, "test_emails"),
        (3, "mqtt_dead_letter"),
        (4, "delivery_link"),
        (5, "acknowledgements"),
        (6, "outbox_attempt"),
        (7, "escalation"),
        (8, "quiet_hours"),
    ]
    assert [v for v, _ in recorded] == list(range(1, NEWEST + 1))


def _catalog(place: Place) -> list[tuple[Any, ...]]:
    """Tables, columns, indexes and constraints, without the version table."""
    if place.dialect == "sqlite":
        rows = place.fetch("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL")
        return sorted(
            (t, n, re.sub(r"\s+", " ", s)) for t, n, s in rows if "schema_migration" not in s
        )
    schema = place.schema
    columns = place.fetch(
        "SELECT table_name, column_name, data_type, is_nullable, column_default, is_identity "
        f"FROM information_schema.columns WHERE table_schema = '{schema}'"
    )
    indexes = place.fetch(
        f"SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = '{schema}'"
    )
    constraints = place.fetch(
        "SELECT c.relname, k.conname, pg_get_constraintdef(k.oid) FROM pg_constraint k "
        "JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        f"WHERE n.nspname = '{schema}'"
    )
    found = [("column", *r) for r in columns] + [("index", *r) for r in indexes]
    found += [("constraint", *r) for r in constraints]
    return sorted(
        tuple(str(v).replace(f"{schema}.", "") for v in row)
        for row in found
        if row[1] != "schema_migration"
    )


def _version_1_part(catalog: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The catalog without what later versions added: their tables, the delivery's
    failover link (4) and the quiet hours and acknowledged warnings (8; SQLite keeps
    added columns in the table's CREATE text)."""
    added = (
        ", link TEXT NOT NULL DEFAULT ''",
        ", quiet_hours TEXT NOT NULL DEFAULT '[]'",
        ", ack_warnings INTEGER",
    )
    return [
        tuple(_without(str(v), added) for v in row)
        for row in catalog
        if row[1] not in _LATER_TABLES and row[:3] not in _LATER_COLUMNS
    ]


def _without(text: str, parts: tuple[str, ...]) -> str:
    for part in parts:
        text = text.replace(part, "")
    return text


_LATER_COLUMNS = frozenset(
    {
        ("column", "outbox_delivery", "link"),
        ("column", "site_user", "quiet_hours"),
        ("column", "alarm_group", "ack_warnings"),
    }
)


_LATER_TABLES = frozenset(
    {
        "test_email",
        "mqtt_dead_letter",
        "event_ack",
        "ack_token_used",
        "ack_token_used_expiry",
        "escalation_policy",
        "escalation_timer",
        "escalation_timer_due",
        "outbox_attempt",
        "outbox_attempt_delivery",
    }
)


def test_version_1_is_exactly_what_tocsin_made_before_versions(
    place: Place, tmp_path: Path
) -> None:
    place.make_v1()
    made_before = _catalog(place)
    assert not [row for row in made_before if row[1] == "test_email"]
    if place.dialect == "sqlite":
        fresh = Place("sqlite", str(tmp_path / "fresh.db"), None)
        fresh.open().close()
        assert _version_1_part(_catalog(fresh)) == made_before
        return
    with pg_schema() as schema:
        fresh = Place("postgres", PG_URL, schema)
        fresh.open().close()
        assert _version_1_part(_catalog(fresh)) == made_before


def test_a_version_1_database_opens_at_the_newest_with_its_rows_and_logs_tests(
    place: Place,
) -> None:
    place.make_v1()
    store = place.open()
    try:
        (state,) = store.schema_states()
        assert (state.current, state.known, state.baseline) == (NEWEST, NEWEST, False)
        assert store.list_test_emails() == []
        for n in range(205):  # retention: the newest 200 runs stay
            store.record_test_email(
                TestEmailRun(sent_at=float(n), recipient=f"r{n}@example.com", typed=n % 2 == 1,
                             ok=n % 3 != 0, step="" if n % 3 else "auth", detail=f"reply {n}")
            )  # fmt: skip
        runs = store.list_test_emails()
    finally:
        store.close()
    assert [v for v, _, _ in _versions(place)] == [1, *LATER]
    assert read_rows(place.fetch, "appliance") == sorted_fixture("appliance")
    assert len(runs) == 200
    assert place.fetch("SELECT COUNT(*) FROM test_email") == [(200,)]
    assert runs[0] == TestEmailRun(204.0, "r204@example.com", False, False, "auth", "reply 204")
    assert runs[-1].recipient == "r5@example.com"
    assert runs[1] == TestEmailRun(203.0, "r203@example.com", True, True, "", "reply 203")
    assert (runs[3].ok, runs[3].step) == (False, "auth")  # run 201


def _deliver_queued(store: AnyStore, port: int) -> None:
    settings = EmailSettings(
        enabled=True, sender_address="alarm@example.com", host="127.0.0.1", port=port,
        encryption=Encryption.NONE, timeout=5, deadline=10,
    )  # fmt: skip
    # The fixture's mail is as old as the fixture: no age limit may turn it dead.
    options = EngineOptions(poll_interval=0.05, retry=RetryPolicy(max_age=3650 * 86400.0))
    engine = DeliveryEngine(store, lambda: settings, options=options)

    async def drain() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(engine.run(stop))
        try:
            for _ in range(400):  # 20 s at most
                counts = store.counts()
                if counts[Status.QUEUED] == counts[Status.SENDING] == 0:
                    return
                await asyncio.sleep(0.05)
            raise AssertionError(f"queued mail was not delivered: {store.counts()}")
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=20)

    asyncio.run(drain())


def _queued_in_fixture() -> set[tuple[str, str]]:
    emails = FIXTURE["appliance"]["outbox_email"]
    deliveries = FIXTURE["appliance"]["outbox_delivery"]
    ids = {r[emails["columns"].index("id")]: r[emails["columns"].index("message_id")]
           for r in emails["rows"]}  # fmt: skip
    cols = deliveries["columns"]
    return {
        (ids[r[cols.index("email_id")]].strip("<>"), r[cols.index("recipient")])
        for r in deliveries["rows"]
        if r[cols.index("status")] == "queued"
    }


def test_a_version_1_database_upgrades_keeps_every_row_and_sends_its_queue(
    place: Place, tmp_path: Path
) -> None:
    place.make_v1()
    later = with_extra_migration(APPLIANCE, tmp_path / "migrations", place.dialect, ADDED_COLUMN)
    newest = len(later.migrations(place.dialect))
    store = place.open(migrate=False)
    try:
        applied = upgrade(store, later)
    finally:
        store.close()
    assert [(a.migration.version, a.baseline) for a in applied] == [
        (v, v == 1) for v in range(1, newest + 1)
    ]
    recorded = _versions(place)
    assert [v for v, _, _ in recorded] == list(range(1, newest + 1))
    assert "baseline" in recorded[0][2]
    assert read_rows(place.fetch, "appliance") == sorted_fixture("appliance")
    notes = place.fetch("SELECT DISTINCT test_note FROM outbox_delivery")
    assert notes == [("upgraded",)]

    # This release knows fewer versions than the database has: it refuses, changing nothing.
    with pytest.raises(SchemaTooNew) as refused:
        place.open()
    assert str(refused.value) == (
        f"The database is at schema version {newest}, but this Tocsin knows versions up to "
        f"{newest - 1} only: upgrade Tocsin (it never downgrades a database)."
    )
    assert len(_versions(place)) == newest

    # The mail queued before the upgrade still goes out, every recipient once.
    store = place.open(migrate=False)
    try:
        with ThreadedSMTPTestServer() as server:
            _deliver_queued(store, server.port)
            got = [(str(m.message()["Message-ID"]).strip("<>"), to)
                   for m in server.messages for to in m.rcpt_tos]  # fmt: skip
    finally:
        store.close()
    assert sorted(got) == sorted(_queued_in_fixture())
    assert len(got) == 7


def test_a_version_1_relay_database_is_taken_as_version_1(place: Place) -> None:
    place.make_v1("relay")
    store = place.open(relay=True)
    try:
        states = {s.component.name: s for s in store.schema_states()}
    finally:
        store.close()
    # The appliance's tables were at version 1 (the baseline) and are brought to 2.
    assert {name: s.current for name, s in states.items()} == {"tocsin": NEWEST, RELAY.name: 1}
    for component in ("tocsin", RELAY.name):
        (version, _, applied_by), *later = _versions(place, component)
        assert version == 1
        assert "baseline" in applied_by
        assert [v for v, _, _ in later] == (LATER if component == "tocsin" else [])
    assert read_rows(place.fetch, "relay") == sorted_fixture("relay")


def test_a_failed_migration_is_rolled_back_whole(place: Place, tmp_path: Path) -> None:
    broken = """ALTER TABLE outbox_delivery ADD COLUMN half_done TEXT;
INSERT INTO no_such_table VALUES (1);
"""
    place.open().close()
    newest = len(APPLIANCE.migrations(place.dialect))
    later = with_extra_migration(APPLIANCE, tmp_path / "m", place.dialect, broken)
    store = place.open(migrate=False)
    try:
        with pytest.raises((sqlite3.Error, psycopg.Error)):
            upgrade(store, later)
        assert store.schema_states()[0].current == newest
    finally:
        store.close()
    assert [v for v, _, _ in _versions(place)] == list(range(1, newest + 1))
    if place.dialect == "sqlite":
        names = [r[1] for r in place.fetch("PRAGMA table_info(outbox_delivery)")]
    else:
        names = [r[0] for r in place.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = "
            f"'{place.schema}' AND table_name = 'outbox_delivery'")]  # fmt: skip
    assert "half_done" not in names


def test_migrations_numbered_with_a_gap_are_refused(tmp_path: Path) -> None:
    later = with_extra_migration(APPLIANCE, tmp_path / "m", "sqlite", "SELECT 1;")
    extra = NEWEST + 1
    (tmp_path / "m" / "sqlite" / f"{extra:04d}_test_only.sql").rename(
        tmp_path / "m" / "sqlite" / f"{extra + 1:04d}_gap.sql"
    )
    numbers = ", ".join(str(n) for n in [*range(1, extra), extra + 1])
    with pytest.raises(SchemaError, match=rf"numbered \[{numbers}\]"):
        later.migrations("sqlite")


def test_scripts_split_only_where_sqlite_sees_a_statement_end() -> None:
    script = """-- a comment; with a semicolon
CREATE TABLE t (a TEXT DEFAULT ';');
CREATE TRIGGER tr AFTER INSERT ON t BEGIN
    UPDATE t SET a = 'x;y';
END;
-- trailing comment
"""
    parts = list(statements(script))
    assert len(parts) == 2
    assert parts[1].strip().endswith("END;")
    with pytest.raises(SchemaError, match="incomplete"):
        list(statements("CREATE TABLE u (a TEXT)\n"))


def test_the_schema_allows_every_status_the_code_knows(tmp_path: Path) -> None:
    """The CHECK lists were made from the enums; now they are SQL, a new status needs a
    migration, and this test says so."""
    from tocsin.outbox.tracking import RemoteState

    store = open_store(tmp_path / "tocsin.db")
    try:
        with store.transaction() as tx:
            tx.runner.run(
                "INSERT INTO outbox_email (id, message_id, sender, content, priority, created_at)"
                " VALUES (1, 'm', 's', X'00', 0, 0)"
            )
            for n, status in enumerate(Status):
                tx.runner.run(
                    "INSERT INTO outbox_delivery (id, email_id, recipient, status, priority, "
                    "queued_at, created_at, updated_at) VALUES (?, 1, ?, ?, 0, 0, 0, 0)",
                    (n + 1, f"r{n}@example.com", status.value),
                )
            for n, state in enumerate(RemoteState):
                tx.runner.run(
                    "INSERT INTO outbox_tracking (delivery_id, tracking_id, state, created_at, "
                    "updated_at) VALUES (?, 't', ?, 0, 0)",
                    (n + 1, state.value),
                )
    finally:
        store.close()
