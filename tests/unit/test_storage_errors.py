"""The one table of "disk full": which backend errors become StorageFull, causes kept."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import psycopg
import pytest

from tocsin.errors import StorageFull, TocsinError
from tocsin.store.errors import (
    DATA_DIRECTORY,
    DATABASE_SERVER,
    as_storage_error,
    storage_errors,
    storage_full,
)
from tocsin.store.sqlite import SQLiteStore


def _sqlite_full(tmp_path: Path) -> sqlite3.OperationalError:
    """A real SQLITE_FULL: a database that may not grow past its pages."""
    conn = sqlite3.connect(tmp_path / "small.db", isolation_level=None)
    try:
        conn.execute("CREATE TABLE t (x BLOB)")
        conn.execute("PRAGMA max_page_count = 3")
        with pytest.raises(sqlite3.OperationalError) as caught:
            conn.execute("INSERT INTO t VALUES (randomblob(100000))")
        return caught.value
    finally:
        conn.close()


def test_sqlite_full_is_storage_full_of_the_data_directory(tmp_path: Path) -> None:
    error = _sqlite_full(tmp_path)
    assert error.sqlite_errorname == "SQLITE_FULL"
    full = storage_full(error)
    assert isinstance(full, StorageFull)
    assert isinstance(full, TocsinError)
    assert (full.where, str(full)) == (DATA_DIRECTORY, "the data directory is full")


def test_postgres_disk_full_and_no_space_left_are_storage_full() -> None:
    full = storage_full(psycopg.errors.DiskFull("could not extend file"))
    assert full is not None
    assert full.where == DATABASE_SERVER
    assert storage_full(OSError(errno.ENOSPC, "No space left on device")) is not None
    assert storage_full(OSError(errno.EDQUOT, "Disk quota exceeded")) is not None


@pytest.mark.parametrize(
    "error",
    [
        sqlite3.OperationalError("database is locked"),
        psycopg.errors.UniqueViolation("duplicate key"),
        psycopg.OperationalError("connection refused"),
        OSError(errno.EACCES, "Permission denied"),
        ValueError("not a storage error"),
    ],
)
def test_other_errors_are_not_storage_full(error: Exception) -> None:
    assert storage_full(error) is None
    assert as_storage_error(error) is error


def test_an_error_raised_while_handling_a_full_disk_is_one_too(tmp_path: Path) -> None:
    full = _sqlite_full(tmp_path)
    try:
        try:
            raise full
        except sqlite3.OperationalError:  # SQLite rolled back already: no savepoint left
            raise sqlite3.OperationalError("no such savepoint: intake_0") from None
    except sqlite3.OperationalError as exc:
        follow_up = exc
    # "from None" hides the context from tracebacks but keeps it for the search.
    assert storage_full(follow_up) is not None


def test_the_context_manager_keeps_the_cause_and_passes_the_rest(tmp_path: Path) -> None:
    error = _sqlite_full(tmp_path)
    with pytest.raises(StorageFull) as caught, storage_errors():
        raise error
    assert caught.value.__cause__ is error
    with pytest.raises(KeyError), storage_errors():
        raise KeyError("unrelated")


def test_a_full_store_rolls_back_and_stays_usable(tmp_path: Path) -> None:
    """A failed write leaves no transaction open for the next writer to "join"."""
    store = SQLiteStore(tmp_path / "tocsin.db")
    try:
        with store.site_reading() as sql:
            pages = sql.runner.rows("PRAGMA page_count")[0][0]
            sql.runner.rows(f"PRAGMA max_page_count = {pages + 2}")
        with pytest.raises(StorageFull):
            store.put_value("big", "x" * 100_000)
        store.put_value("small", "fits")
        assert store.get_value("small") == "fits"
        assert store.get_value("big") is None
    finally:
        store.close()


def test_failure_log_says_a_full_disk_in_one_line_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    from tocsin.errors import FailureLog

    now = [0.0]
    failures = FailureLog(logging.getLogger("tocsin.test"), every=60.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="tocsin.test"):
        for now[0] in (0.0, 1.0, 59.0, 61.0):
            try:
                raise StorageFull("the data directory is full", where=DATA_DIRECTORY)
            except StorageFull:
                failures.failed("claiming deliveries failed")
        try:
            raise ValueError("a bug")
        except ValueError:
            failures.failed("claiming deliveries failed")
    full = [r for r in caplog.records if r.levelname == "WARNING"]
    assert [r.getMessage() for r in full] == [
        "claiming deliveries failed: the data directory is full"
    ] * 2
    assert all(r.exc_info is None for r in full)
    (bug,) = [r for r in caplog.records if r.levelname == "ERROR"]
    assert bug.exc_info is not None
