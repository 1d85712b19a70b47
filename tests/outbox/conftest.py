"""Fixtures of the outbox tests: a store on each backend, a clean PostgreSQL schema per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import pg_store as fresh_pg_store
from tocsin.store import Store, open_store
from tocsin.store.postgres import PostgresStore


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """A fresh SQLite outbox in a temporary directory."""
    store = open_store(tmp_path / "tocsin.db")
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def pg_store() -> Iterator[PostgresStore]:
    """A fresh PostgreSQL outbox in a schema of its own, dropped afterwards.

    Fails (never skips) when the server at 127.0.0.1:5432 is down.
    """
    with fresh_pg_store() as store:
        yield store


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest) -> Store:
    """Each conformance test runs once per backend."""
    fixture = "sqlite_store" if request.param == "sqlite" else "pg_store"
    return request.getfixturevalue(fixture)  # type: ignore[no-any-return]
