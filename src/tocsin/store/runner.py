"""The one interface every SQL module of the store writes against: a :class:`Runner`.

A backend (SQLite, PostgreSQL) supplies a runner inside a transaction; the SQL modules
(outbox, tracking, accounts, sites, events, the relay's) take one and never see the
connection, so none of them needs another to name it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

__all__ = ["Row", "Runner"]

Row = tuple[Any, ...]


class Runner(Protocol):
    """Runs SQL written with ``?`` placeholders on one backend connection."""

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """Execute and fetch every row."""
        ...

    def run(self, sql: str, params: Sequence[object] = ()) -> int:
        """Execute; return the number of rows changed."""
        ...

    def many(self, sql: str, seq: Sequence[Sequence[object]]) -> None:
        """Execute once per parameter set."""
        ...
