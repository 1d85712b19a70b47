"""Storage backends: SQLite (embedded default) and PostgreSQL, chosen by :func:`open_store`.

The names below are the store's public face: services import them from here, never
from the ``*_sql`` modules that hold them (an import contract in ``pyproject.toml``).
"""

from __future__ import annotations

from pathlib import Path

from tocsin.store.accounts_sql import SQLAccounts
from tocsin.store.ackkey import ACK_KEY_FILE, load_ack_key
from tocsin.store.acks_sql import AckSQL
from tocsin.store.base import KeyValueStore, Store
from tocsin.store.escalation_sql import EscalationSQL
from tocsin.store.events_sql import EventSQL
from tocsin.store.outbox_sql import SQLTransaction
from tocsin.store.postgres import PostgresStore
from tocsin.store.sites_sql import SiteSQL, SQLSites
from tocsin.store.sqlite import SQLiteStore
from tocsin.store.test_emails_sql import TestEmailRun

__all__ = [
    "ACK_KEY_FILE",
    "AckSQL",
    "AnyStore",
    "EscalationSQL",
    "EventSQL",
    "KeyValueStore",
    "PostgresStore",
    "SQLAccounts",
    "SQLSites",
    "SQLTransaction",
    "SQLiteStore",
    "SiteSQL",
    "Store",
    "TestEmailRun",
    "is_postgres_url",
    "load_ack_key",
    "open_store",
    "sqlite_path",
]

AnyStore = SQLiteStore | PostgresStore
"""A concrete backend: everything :class:`Store` offers and the accounts tables."""

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(url: str | Path) -> bool:
    """True when ``url`` names a PostgreSQL database."""
    return isinstance(url, str) and url.startswith(_POSTGRES_SCHEMES)


def sqlite_path(url: str | Path) -> Path:
    """The file of an SQLite store given as a path or ``sqlite:///path``."""
    text = str(url)
    if text.startswith("sqlite:///"):
        text = text.removeprefix("sqlite://")
    return Path(text)


def open_store(url: str | Path, *, schema: str | None = None, migrate: bool = True) -> AnyStore:
    """Open the store at ``url``: a ``postgresql://`` URL, else an SQLite file path.

    ``sqlite:///path`` is accepted as a path too.  ``schema`` (PostgreSQL only) keeps
    every table in that schema.  ``migrate`` brings the schema to the newest version
    (see :mod:`tocsin.store.migrations`).  Raises ``psycopg.OperationalError`` when
    PostgreSQL cannot be reached, ``sqlite3.Error`` when the file cannot be opened, and
    :class:`~tocsin.errors.SchemaTooNew` when a newer Tocsin wrote the database.
    """
    if is_postgres_url(url):
        return PostgresStore(str(url), schema=schema, migrate=migrate)
    return SQLiteStore(sqlite_path(url), migrate=migrate)
