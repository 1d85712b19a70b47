"""The database's schema version: where it stands, and bringing it up to date.

Every process that opens the store (``tocsin serve``, ``tocsin worker``, the relay, any
command) upgrades the schema first; ``tocsin db upgrade`` does only that, showing each
step, and ``tocsin db status`` reads without changing anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from tocsin.services.context import database_location
from tocsin.store import AnyStore, is_postgres_url, open_store, sqlite_path
from tocsin.store.migrations import Applied, SchemaState
from tocsin.store.paths import data_dir

__all__ = ["DatabaseStatus", "describe_location", "schema_status", "upgrade_database"]


@dataclass(frozen=True, slots=True)
class DatabaseStatus:
    """Where the database is (without a password) and, if it exists, each schema's state."""

    location: str
    states: tuple[SchemaState, ...]
    exists: bool


def describe_location(location: str | Path) -> str:
    """The database's place for people: a file path, or the URL without its password."""
    if not is_postgres_url(location):
        return str(sqlite_path(location))
    parts = urlsplit(str(location))
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit((parts.scheme, user + host, parts.path, "", ""))


def _open(data: Path | str | None, database_url: str | None) -> tuple[str | Path, AnyStore | None]:
    location = database_location(data_dir(data), database_url)
    if not is_postgres_url(location) and not sqlite_path(location).exists():
        return location, None  # never create a file only to say it is empty
    return location, open_store(location, migrate=False)


def schema_status(data: Path | str | None, database_url: str | None = None) -> DatabaseStatus:
    """The schema versions of the data directory's database; changes nothing.

    Raises ``psycopg.OperationalError`` / ``sqlite3.Error`` when it cannot be opened.
    """
    location, store = _open(data, database_url)
    if store is None:
        return DatabaseStatus(describe_location(location), (), exists=False)
    try:
        return DatabaseStatus(describe_location(location), tuple(store.schema_states()), True)
    finally:
        store.close()


def upgrade_database(
    data: Path | str | None,
    database_url: str | None = None,
    *,
    on_applied: Callable[[Applied], None] | None = None,
) -> DatabaseStatus:
    """Apply every pending migration (creating the database if there is none yet).

    ``on_applied`` hears of each migration as it commits.  Raises
    :class:`~tocsin.errors.SchemaTooNew` when a newer Tocsin wrote the database (nothing
    changed), and the driver's error when a migration fails (it is rolled back; those
    before it stay applied).
    """
    root = data_dir(data)
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    location = database_location(root, database_url)
    store = open_store(location, migrate=False)
    try:
        store.upgrade_schema(on_applied)
        return DatabaseStatus(describe_location(location), tuple(store.schema_states()), True)
    finally:
        store.close()
