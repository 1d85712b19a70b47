"""What every storage backend offers: a small key-value table for settings.

The outbox adds its own interface (see :mod:`tocsin.outbox`); backends implement both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tocsin.outbox.store import OutboxStore

__all__ = ["KeyValueStore", "Store"]


class KeyValueStore(Protocol):
    """Durable, transactional storage of small JSON documents by key."""

    def get_value(self, key: str) -> str | None:
        """The stored text for ``key``, or None."""
        ...

    def get_values(self, keys: Sequence[str]) -> dict[str, str]:
        """The stored texts for those of ``keys`` that have one, read in one statement."""
        ...

    def put_value(self, key: str, value: str) -> None:
        """Store ``value`` under ``key``, committed before returning."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


class Store(KeyValueStore, OutboxStore, Protocol):
    """A complete backend: the settings table and the outbox, in one database."""
