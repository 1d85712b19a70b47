"""MQTT's dead letters in SQL: messages that could not become an event (machinery).

A row holds when, the topic, the reason (a stable code such as ``malformed_json``),
a one-line detail and the first :data:`EXCERPT` characters of the payload, so an admin
sees what the publisher sent wrong.  Kept: the newest :data:`KEEP` rows of the last
:data:`MAX_AGE` seconds.  The SQL is plain (``?`` placeholders, both dialects).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Final, Protocol

from tocsin.store.runner import Runner

__all__ = ["EXCERPT", "KEEP", "MAX_AGE", "DeadLetter", "DeadLetters"]

KEEP: Final = 500
MAX_AGE: Final = 30 * 86_400.0
EXCERPT: Final = 300


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One refused message."""

    received_at: float
    topic: str
    reason: str
    detail: str
    size: int
    excerpt: str


class _Writing(Protocol):
    @property
    def runner(self) -> Runner: ...


class _Store(Protocol):
    """What the table needs of a store: a write transaction and a read, with a runner."""

    def transaction(self) -> AbstractContextManager[_Writing]: ...

    def site_reading(self) -> AbstractContextManager[_Writing]: ...


_COLUMNS = "received_at, topic, reason, detail, size, excerpt"


class DeadLetters:
    """Record and list dead letters over any store with ``transaction()`` (a runner)."""

    def __init__(self, store: _Store) -> None:
        self._store = store

    def record(self, letter: DeadLetter, *, keep: int = KEEP, max_age: float = MAX_AGE) -> None:
        """Add ``letter``; drop rows past ``max_age`` and all but the newest ``keep``."""
        with self._store.transaction() as tx:
            runner = tx.runner
            runner.run(
                f"INSERT INTO mqtt_dead_letter ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",  # noqa: S608
                (
                    letter.received_at,
                    letter.topic,
                    letter.reason,
                    letter.detail,
                    letter.size,
                    letter.excerpt,
                ),
            )
            runner.run(
                "DELETE FROM mqtt_dead_letter WHERE received_at < ? OR id NOT IN "
                "(SELECT id FROM mqtt_dead_letter ORDER BY id DESC LIMIT ?)",
                (letter.received_at - max_age, max(0, keep)),
            )

    def newest(self, *, limit: int = 50) -> list[DeadLetter]:
        """The newest dead letters first, at most ``limit``."""
        with self._store.site_reading() as tx:  # a read: no write lock
            rows = tx.runner.rows(
                f"SELECT {_COLUMNS} FROM mqtt_dead_letter ORDER BY id DESC LIMIT ?",  # noqa: S608
                (max(0, limit),),
            )
        return [
            DeadLetter(float(r[0]), str(r[1]), str(r[2]), str(r[3]), int(r[4]), str(r[5]))
            for r in rows
        ]

    def count(self) -> int:
        """How many dead letters are kept."""
        with self._store.site_reading() as tx:
            rows = tx.runner.rows("SELECT COUNT(*) FROM mqtt_dead_letter")
        return int(rows[0][0])
