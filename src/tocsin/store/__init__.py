"""Storage backends: SQLite (embedded default) and PostgreSQL."""

from tocsin.store.base import KeyValueStore
from tocsin.store.sqlite import SQLiteStore

__all__ = ["KeyValueStore", "SQLiteStore"]
