"""The PostgreSQL store: settings and outbox for many workers in many processes.

Selected by a ``postgresql://`` URL (see :func:`tocsin.store.open_store`).  Claims use
``FOR UPDATE SKIP LOCKED``, so workers on any number of machines share one queue
without ever holding the same delivery.  ``schema`` puts every table in a schema of its
own (tests use one per run).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import ClassVar

import psycopg
from psycopg import sql

from tocsin.store.accounts_sql import SQLAccounts, accounts_schema
from tocsin.store.errors import storage_errors
from tocsin.store.outbox_sql import Row, SQLOutbox, outbox_schema
from tocsin.store.sites_sql import SQLSites, sites_schema
from tocsin.store.tracking_sql import SQLTracking

__all__ = ["PostgresStore"]

_KV = """CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL
)"""
_OUTBOX = outbox_schema(
    pk="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
    fk="BIGINT",
    blob="BYTEA",
    real="DOUBLE PRECISION",
)
_ACCOUNTS = accounts_schema(
    pk="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", fk="BIGINT", real="DOUBLE PRECISION"
)
_SITES = sites_schema(
    pk="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", fk="BIGINT", real="DOUBLE PRECISION"
)


class _PostgresRunner:
    """Runs the shared outbox SQL on a psycopg connection (``?`` becomes ``%s``)."""

    def __init__(self, conn: psycopg.Connection[Row]) -> None:
        self._conn = conn

    def rows(self, sql_text: str, params: Sequence[object] = ()) -> list[Row]:
        cursor = self._conn.execute(sql_text.replace("?", "%s"), params)
        return cursor.fetchall() if cursor.description is not None else []

    def run(self, sql_text: str, params: Sequence[object] = ()) -> int:
        return self._conn.execute(sql_text.replace("?", "%s"), params).rowcount

    def many(self, sql_text: str, seq: Sequence[Sequence[object]]) -> None:
        with self._conn.cursor() as cursor:
            cursor.executemany(sql_text.replace("?", "%s"), seq)


class PostgresStore(SQLOutbox, SQLTracking, SQLAccounts, SQLSites):
    """Settings and outbox storage in PostgreSQL.

    Raises ``psycopg.OperationalError`` when the server cannot be reached.
    """

    claim_lock: ClassVar[str] = " FOR UPDATE SKIP LOCKED"

    def __init__(self, url: str, *, schema: str | None = None, connect_timeout: int = 10) -> None:
        self.url = url
        self.schema = schema
        self._connect_timeout = connect_timeout
        self._lock = threading.RLock()
        self._conn = self._connect()
        with self._writing() as runner:
            for statement in (_KV, *_OUTBOX, *_ACCOUNTS, *_SITES):
                runner.run(statement)

    def _connect(self) -> psycopg.Connection[Row]:
        conn = psycopg.connect(self.url, autocommit=True, connect_timeout=self._connect_timeout)
        if self.schema:
            name = sql.Identifier(self.schema)
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(name))
            conn.execute(sql.SQL("SET search_path TO {}").format(name))
        return conn

    def _runner(self) -> _PostgresRunner:
        if self._conn.closed or self._conn.broken:
            # The server restarted or the network broke: open a new session.
            self._conn = self._connect()
        return _PostgresRunner(self._conn)

    @contextmanager
    def _writing(self) -> Iterator[_PostgresRunner]:
        with self._lock, storage_errors():
            runner = self._runner()
            with self._conn.transaction():
                yield runner

    @contextmanager
    def _reading(self) -> Iterator[_PostgresRunner]:
        with self._lock, storage_errors():
            yield self._runner()

    def get_value(self, key: str) -> str | None:
        """The stored text for ``key``, or None."""
        with self._reading() as runner:
            rows = runner.rows("SELECT value FROM kv WHERE key = ?", (key,))
        return None if not rows else str(rows[0][0])

    def put_value(self, key: str, value: str) -> None:
        """Store ``value`` under ``key``, committed before returning."""
        with self.transaction() as tx:
            tx.put_value(key, value)

    def drop_schema(self) -> None:
        """Drop this store's schema and everything in it (tests clean up with it)."""
        if not self.schema:
            raise ValueError("this store has no schema of its own to drop")
        with self._reading():
            self._conn.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema))
            )

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()
