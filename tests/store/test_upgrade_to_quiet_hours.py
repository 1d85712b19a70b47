"""A database that version 7 made (groups and users, no quiet hours yet) upgrades to
version 8 on both backends: every user reads back with no quiet hours, every group
inherits "acknowledge warnings too", nothing else changes, and the new fields can
then be set and read back."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from datetime import time
from pathlib import Path

import psycopg
import pytest
from store_support import PG_URL, pg_schema, pg_url, up_to

from tocsin.model import AlarmGroup, Category, Language, User
from tocsin.quiet import QuietWindow
from tocsin.store import AnyStore, open_store
from tocsin.store.migrations import APPLIANCE, upgrade

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
QUIET_HOURS = 8
"""The version that added ``site_user.quiet_hours`` and ``alarm_group.ack_warnings``."""

# What version 7 stored: the columns of its day, written as that release wrote them.
V7_ROWS = [
    "INSERT INTO alarm_group (id, name, parent_id, policies, position, updated_at) "
    "VALUES ('hq', 'Headquarters', NULL, '{}', 0, 1.0)",
    "INSERT INTO alarm_group (id, name, parent_id, policies, position, updated_at) "
    "VALUES ('lab', 'Lab', 'hq', '{}', 1, 1.0)",
    "INSERT INTO site_user (id, name, email, language, time_zone, enabled, group_ids, "
    "categories, position, updated_at) VALUES ('u1', 'Ada', 'ada@example.net', 'de', "
    "'Europe/Berlin', 1, 'hq', 'fire always', 0, 1.0)",
    "INSERT INTO site_user (id, name, email, language, time_zone, enabled, group_ids, "
    "categories, position, updated_at) VALUES ('u2', 'Bo', 'bo@example.net', 'en', "
    "'UTC', 0, 'lab', '', 1, 1.0)",
]


class V7:
    """A database on one backend that a version-7 release made and filled."""

    def __init__(self, dialect: str, url: str, schema: str | None, tmp: Path) -> None:
        self.dialect, self.url, self.schema = dialect, url, schema
        store = self.open(migrate=False)
        try:
            applied = upgrade(store, up_to(APPLIANCE, tmp / "v7", dialect, QUIET_HOURS - 1))
            assert [a.migration.version for a in applied] == list(range(1, QUIET_HOURS))
        finally:
            store.close()
        self.execute(V7_ROWS)

    def open(self, *, migrate: bool = True) -> AnyStore:
        return open_store(self.url, schema=self.schema, migrate=migrate)

    def execute(self, statements: list[str]) -> None:
        """Run ``statements`` in one committed transaction on a connection of its own."""
        if self.dialect == "sqlite":
            conn = sqlite3.connect(self.url)
            try:
                with conn:
                    for statement in statements:
                        conn.execute(statement)
            finally:
                conn.close()
            return
        assert self.schema is not None
        with psycopg.connect(pg_url(self.schema)) as pg:
            for statement in statements:
                pg.execute(statement)  # type: ignore[arg-type]

    def columns(self, table: str) -> set[str]:
        if self.dialect == "sqlite":
            conn = sqlite3.connect(self.url)
            try:
                return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            finally:
                conn.close()
        with psycopg.connect(pg_url(str(self.schema))) as pg:
            rows = pg.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = %s",
                (self.schema, table),
            ).fetchall()
        return {str(r[0]) for r in rows}


@pytest.fixture(params=BACKENDS)
def v7(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[V7]:
    if request.param == "sqlite":
        yield V7("sqlite", str(tmp_path / "tocsin.db"), None, tmp_path)
        return
    with pg_schema() as schema:
        yield V7("postgres", PG_URL, schema, tmp_path)


def _site(store: AnyStore) -> tuple[list[AlarmGroup], list[User]]:
    with store.site_reading() as sql:
        return sql.groups(), sql.users()


def test_version_7_had_neither_column(v7: V7) -> None:
    # The fixture is what it claims to be: the columns come with version 8 only.
    assert "quiet_hours" not in v7.columns("site_user")
    assert "ack_warnings" not in v7.columns("alarm_group")


def test_users_and_groups_of_version_7_read_back_unchanged_with_no_quiet_hours(
    v7: V7,
) -> None:
    store = v7.open()
    try:
        (state,) = store.schema_states()
        groups, users = _site(store)
    finally:
        store.close()
    assert state.current == state.known >= QUIET_HOURS
    assert {"quiet_hours"} <= v7.columns("site_user")
    assert [(g.id, g.name, g.parent_id, g.ack_warnings) for g in groups] == [
        ("hq", "Headquarters", None, None),
        ("lab", "Lab", "hq", None),
    ]
    by_id = {u.id: u for u in users}
    assert sorted(by_id) == ["u1", "u2"]
    ada, bo = by_id["u1"], by_id["u2"]
    assert (ada.name, ada.email, ada.language, ada.time_zone, ada.enabled) == (
        "Ada", "ada@example.net", Language.DE, "Europe/Berlin", True,
    )  # fmt: skip
    assert ada.email_categories == {Category.FIRE, Category.ALWAYS}
    assert (ada.group_ids, bo.group_ids, bo.email_categories, bo.enabled) == (
        {"hq"}, {"lab"}, frozenset(), False,
    )  # fmt: skip
    assert ada.quiet_hours == bo.quiet_hours == ()


def test_after_the_upgrade_quiet_hours_and_ack_warnings_are_stored_and_read_back(
    v7: V7,
) -> None:
    store = v7.open()
    try:
        groups, users = _site(store)
        ada = next(u for u in users if u.id == "u1")
        night = QuietWindow(frozenset(range(5)), time(22), time(7))
        lab = next(g for g in groups if g.id == "lab")
        with store.site_writing() as sql:
            sql.put_user(dataclasses.replace(ada, quiet_hours=(night,)), now=2.0)
            sql.put_group(dataclasses.replace(lab, ack_warnings=True), now=2.0)
        groups, users = _site(store)
    finally:
        store.close()
    assert next(u for u in users if u.id == "u1").quiet_hours == (night,)
    assert next(u for u in users if u.id == "u2").quiet_hours == ()
    assert {g.id: g.ack_warnings for g in groups} == {"hq": None, "lab": True}
