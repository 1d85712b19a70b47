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
from importlib.resources import files
from pathlib import Path
from typing import ClassVar

from tocsin.relay.relay_sql import InFlight, RelayTransaction, SQLRelay, relay_transaction
from tocsin.store import is_postgres_url, sqlite_path
from tocsin.store.facade import via
from tocsin.store.migrations import APPLIANCE, Component
from tocsin.store.postgres import PostgresStore
from tocsin.store.runner import Database
from tocsin.store.sqlite import SQLiteStore

__all__ = [
    "RELAY",
    "PostgresRelayStore",
    "RelayStore",
    "RelayTransaction",
    "SQLiteRelayStore",
    "open_relay_store",
    "relay_transaction",
]

RELAY = Component(
    name="relay",
    title="The relay's database",
    root=files("tocsin.relay") / "migrations",
    marker="relay_device",
)
"""The relay's own tables (devices, submissions), versioned apart from the outbox's."""


def _relay(store: SQLiteRelayStore | PostgresRelayStore) -> SQLRelay:
    return store.relay


class SQLiteRelayStore(SQLiteStore):
    """The relay's store in one SQLite file (one relay process): the appliance's parts
    and ``relay`` (:class:`~tocsin.relay.relay_sql.SQLRelay`: devices, submissions)."""

    components: ClassVar[tuple[Component, ...]] = (APPLIANCE, RELAY)

    def __init__(self, path: Path, *, migrate: bool = True) -> None:
        self.in_flight = InFlight()
        self.relay = SQLRelay(Database(self._writing, self._reading), self.in_flight)
        super().__init__(path, migrate=migrate)

    @contextmanager
    def transaction(self) -> Iterator[RelayTransaction]:
        """A write transaction, committed at the end of the block (see
        :meth:`~tocsin.relay.relay_sql.SQLRelay.relay_transaction`)."""
        with self.relay.relay_transaction() as tx:
            yield tx

    add_device = via(_relay, SQLRelay.add_device)
    device_by_token = via(_relay, SQLRelay.device_by_token)
    list_devices = via(_relay, SQLRelay.list_devices)
    revoke_device = via(_relay, SQLRelay.revoke_device)
    relay_transaction = via(_relay, SQLRelay.relay_transaction)
    accept = via(_relay, SQLRelay.accept)
    submission_status = via(_relay, SQLRelay.submission_status)


class PostgresRelayStore(PostgresStore):
    """The relay's store in PostgreSQL (many API processes and workers): the appliance's
    parts and ``relay`` (:class:`~tocsin.relay.relay_sql.SQLRelay`)."""

    components: ClassVar[tuple[Component, ...]] = (APPLIANCE, RELAY)

    def __init__(self, url: str, *, schema: str | None = None, migrate: bool = True) -> None:
        self.in_flight = InFlight()
        # NO KEY: a bucket update changes no key, and other processes' submissions may
        # still insert rows that reference the device (their foreign key check takes
        # KEY SHARE).
        self.relay = SQLRelay(
            Database(self._writing, self._reading), self.in_flight, row_lock=" FOR NO KEY UPDATE"
        )
        super().__init__(url, schema=schema, migrate=migrate)

    @contextmanager
    def transaction(self) -> Iterator[RelayTransaction]:
        """A write transaction, committed at the end of the block (see
        :meth:`~tocsin.relay.relay_sql.SQLRelay.relay_transaction`)."""
        with self.relay.relay_transaction() as tx:
            yield tx

    add_device = via(_relay, SQLRelay.add_device)
    device_by_token = via(_relay, SQLRelay.device_by_token)
    list_devices = via(_relay, SQLRelay.list_devices)
    revoke_device = via(_relay, SQLRelay.revoke_device)
    relay_transaction = via(_relay, SQLRelay.relay_transaction)
    accept = via(_relay, SQLRelay.accept)
    submission_status = via(_relay, SQLRelay.submission_status)


RelayStore = SQLiteRelayStore | PostgresRelayStore


def open_relay_store(
    url: str | Path, *, schema: str | None = None, migrate: bool = True
) -> RelayStore:
    """Open the relay's store: a ``postgresql://`` URL, else an SQLite file path.

    ``migrate`` brings both the outbox's and the relay's tables to the newest version.
    Raises ``psycopg.OperationalError`` or ``sqlite3.Error`` when it cannot be opened,
    :class:`~tocsin.errors.SchemaTooNew` when a newer Tocsin wrote it.
    """
    if is_postgres_url(url):
        return PostgresRelayStore(str(url), schema=schema, migrate=migrate)
    return SQLiteRelayStore(sqlite_path(url), migrate=migrate)
