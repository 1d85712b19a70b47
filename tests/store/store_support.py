# Only fixture table names and test-made schema names go into SQL text here.
# ruff: noqa: S608
"""Helpers of the schema tests: the version-1 database of v1/v1.json, on either backend.

``v1.json`` holds what Tocsin wrote before schema versions existed (see
``v1/make_fixture.py``): the DDL it ran, per dialect, and every table's rows.  Loading it
gives a database exactly as such a release left it: tables, rows, and no version table.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from tocsin.store.migrations import Component

HERE = Path(__file__).resolve().parent
FIXTURE: dict[str, Any] = json.loads((HERE / "v1" / "v1.json").read_text())
PG_URL = os.environ.get("TOCSIN_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
Rows = dict[str, list[tuple[Any, ...]]]


def unique_schema() -> str:
    """A PostgreSQL schema name no other test run uses."""
    return f"tocsin_schema_{os.getpid()}_{uuid.uuid4().hex[:10]}"


def pg_url(schema: str) -> str:
    """A URL whose connections work in ``schema`` (for processes that take only a URL)."""
    return f"{PG_URL}?options=-csearch_path%3D{schema}"


@contextmanager
def pg_schema() -> Iterator[str]:
    """A fresh, empty schema, dropped afterwards."""
    schema = unique_schema()
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield schema
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def _value(value: Any) -> Any:
    return base64.b64decode(value["b64"]) if isinstance(value, dict) else value


def fixture_rows(part: str) -> Rows:
    """The fixture's rows of ``part`` (``appliance`` or ``relay``), table by table."""
    return {
        table: [tuple(_value(v) for v in row) for row in data["rows"]]
        for table, data in FIXTURE[part].items()
    }


def _columns(part: str, table: str) -> list[str]:
    return list(FIXTURE[part][table]["columns"])


def _ddl(dialect: str, part: str) -> list[str]:
    key = "sqlite" if dialect == "sqlite" else "postgres"
    if part == "relay":
        return FIXTURE["ddl"][key] + FIXTURE["ddl"][f"relay_{key}"]
    return list(FIXTURE["ddl"][key])


def make_v1_sqlite(path: Path, part: str = "appliance") -> None:
    """Write the version-1 database of ``part`` to the SQLite file ``path``."""
    conn = sqlite3.connect(path)
    try:
        for statement in _ddl("sqlite", part):
            conn.execute(statement)
        conn.execute("DELETE FROM site_version")  # the fixture's own row replaces the seed
        for table, rows in fixture_rows(part).items():
            if rows:
                names = _columns(part, table)
                marks = ", ".join("?" * len(names))
                conn.executemany(
                    f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})",
                    rows,
                )
        conn.commit()
    finally:
        conn.close()


def make_v1_postgres(schema: str, part: str = "appliance") -> None:
    """Write the version-1 database of ``part`` into the (existing) ``schema``."""
    with psycopg.connect(pg_url(schema)) as conn:
        for statement in _ddl("postgres", part):
            conn.execute(statement)
        conn.execute("DELETE FROM site_version")
        for table, rows in fixture_rows(part).items():
            if not rows:
                continue
            names = _columns(part, table)
            query = sql.SQL("INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE VALUES ({})").format(
                sql.Identifier(table),
                sql.SQL(", ").join(map(sql.Identifier, names)),
                sql.SQL(", ").join(sql.Placeholder() * len(names)),
            )
            with conn.cursor() as cursor:
                cursor.executemany(query, rows)
            if "id" in names and isinstance(rows[0][names.index("id")], int):
                conn.execute(  # as pg_dump would: identities continue after the rows
                    sql.SQL(
                        "SELECT setval(pg_get_serial_sequence({}, 'id'), max(id)) FROM {}"
                    ).format(sql.Literal(table), sql.Identifier(table))
                )


def read_rows(fetch: Any, part: str) -> Rows:
    """Every fixture table's rows as they are now, on the fixture's columns (sorted).

    ``fetch(sql)`` runs a query and returns its rows (either backend).
    """
    found: Rows = {}
    for table in FIXTURE[part]:
        names = ", ".join(_columns(part, table))
        rows = fetch(f"SELECT {names} FROM {table}")
        found[table] = sorted((tuple(_plain(v) for v in r) for r in rows), key=repr)
    return found


def _plain(value: Any) -> Any:
    return bytes(value) if isinstance(value, memoryview) else value


def sorted_fixture(part: str) -> Rows:
    """The fixture's rows, sorted like :func:`read_rows`."""
    return {t: sorted(rows, key=repr) for t, rows in fixture_rows(part).items()}


def with_extra_migration(
    component: Component, tmp: Path, dialect: str, sql_text: str, name: str = "test_only"
) -> Component:
    """``component`` with one more migration after its own, in ``tmp`` (test-only).

    The product's files are copied as they are, so an upgrade runs through every real
    version first.
    """
    target = tmp / dialect
    target.mkdir(parents=True, exist_ok=True)
    migrations = component.migrations(dialect)
    for source in component.root.joinpath(dialect).iterdir():
        if source.name.endswith(".sql"):
            (target / source.name).write_text(source.read_text("utf-8"))
    (target / f"{len(migrations) + 1:04d}_{name}.sql").write_text(sql_text)
    return Component(component.name, component.title, tmp, component.marker)


def up_to(component: Component, tmp: Path, dialect: str, version: int) -> Component:
    """``component`` as a release that stopped at ``version`` (its first migrations only,
    copied to ``tmp``): a database upgraded with it is exactly what that release left."""
    target = tmp / dialect
    target.mkdir(parents=True, exist_ok=True)
    wanted = {f"{m.version:04d}_{m.name}.sql" for m in component.migrations(dialect)[:version]}
    for source in component.root.joinpath(dialect).iterdir():
        if source.name in wanted:
            (target / source.name).write_text(source.read_text("utf-8"))
    return Component(component.name, component.title, tmp, component.marker)
