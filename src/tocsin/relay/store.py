"""The relay's database: the outbox engine's tables plus the relay's own.

It is a database of its own (never the appliance's): one SQLite file for a one-process
relay, or one PostgreSQL database shared by every API process and delivery worker.
Each write transaction is a :class:`~tocsin.relay.relay_sql.RelayTransaction` (quota
buckets locked up front, written back once), which concurrent submissions share through
:class:`tocsin.services.group_commit.GroupCommit`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

from tocsin.relay.relay_sql import InFlight, RelayTransaction, SQLRelay, relay_schema
from tocsin.store import is_postgres_url
from tocsin.store.postgres import PostgresStore
from tocsin.store.sqlite import SQLiteStore

__all__ = ["PostgresRelayStore", "RelayStore", "SQLiteRelayStore", "open_relay_store"]


class SQLiteRelayStore(SQLiteStore, SQLRelay):
    """The relay's store in one SQLite file (one relay process)."""

    def __init__(self, path: Path) -> None:
        self.in_flight = InFlight()
        super().__init__(path)
        with self._writing() as runner:
            for statement in relay_schema(pk="INTEGER PRIMARY KEY", fk="INTEGER", real="REAL"):
                runner.run(statement)

    @contextmanager
    def transaction(self) -> Iterator[RelayTransaction]:
        """A write transaction, committed at the end of the block (see
        :meth:`~tocsin.relay.relay_sql.SQLRelay.relay_transaction`)."""
        with self.relay_transaction() as tx:
            yield tx


class PostgresRelayStore(PostgresStore, SQLRelay):
    """The relay's store in PostgreSQL (many API processes and workers)."""

    # NO KEY: a bucket update changes no key, and other processes' submissions may still
    # insert rows that reference the device (their foreign key check takes KEY SHARE).
    row_lock: ClassVar[str] = " FOR NO KEY UPDATE"

    def __init__(self, url: str, *, schema: str | None = None) -> None:
        self.in_flight = InFlight()
        super().__init__(url, schema=schema)
        ddl = relay_schema(
            pk="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
            fk="BIGINT",
            real="DOUBLE PRECISION",
        )
        with self._writing() as runner:
            for statement in ddl:
                runner.run(statement)

    @contextmanager
    def transaction(self) -> Iterator[RelayTransaction]:
        """A write transaction, committed at the end of the block (see
        :meth:`~tocsin.relay.relay_sql.SQLRelay.relay_transaction`)."""
        with self.relay_transaction() as tx:
            yield tx


RelayStore = SQLiteRelayStore | PostgresRelayStore


def open_relay_store(url: str | Path, *, schema: str | None = None) -> RelayStore:
    """Open the relay's store: a ``postgresql://`` URL, else an SQLite file path.

    Raises ``psycopg.OperationalError`` or ``sqlite3.Error`` when it cannot be opened.
    """
    if is_postgres_url(url):
        return PostgresRelayStore(str(url), schema=schema)
    text = str(url)
    if text.startswith("sqlite:///"):
        text = text.removeprefix("sqlite://")
    return SQLiteRelayStore(Path(text))
