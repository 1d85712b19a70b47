"""Many rows in one INSERT: what the intake writes for a batch of events (issue 11).

A statement costs the same fixed work whatever it carries: on SQLite, preparing and
binding it in Python; on PostgreSQL, a pipeline's message and psycopg's handling of it.
The intake used to pay that five times an event (its row, its email, the email's
delivery, the notification, the hourly count); a request of 100 events now writes each
table with one statement (:func:`chunks` of up to :data:`ROWS_PER_INSERT` rows).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from typing import Final, TypeVar

__all__ = ["ROWS_PER_INSERT", "chunks", "insert_sql"]

T = TypeVar("T")

ROWS_PER_INSERT: Final = 200
"""Rows per statement: 3,400 parameters for the widest table (an event's 17), far below
either backend's limit (SQLite 32,766, PostgreSQL 65,535)."""


def chunks(rows: Sequence[T], size: int = ROWS_PER_INSERT) -> Iterator[Sequence[T]]:
    """``rows`` in consecutive slices of at most ``size``."""
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


@functools.lru_cache(maxsize=256)
def insert_sql(table: str, columns: str, row: str, count: int, *, ids: bool) -> str:
    """An INSERT of ``count`` rows of ``row`` (its ``?`` marks and constants) into
    ``table``'s ``columns``; with ``ids``, each row's id first, from
    :meth:`tocsin.store.id_blocks.IdBlocks.take`.  PostgreSQL's identity columns
    (``GENERATED ALWAYS``) take a given id only with ``OVERRIDING SYSTEM VALUE``: honest
    here, the id came from the column's own sequence.  The text is the callers'
    constants only; values are bound.  Kept: a storm asks for the same few texts."""
    if ids:
        rows = ", ".join([f"(?, {row})"] * count)
        into = f"{table} (id, {columns}) OVERRIDING SYSTEM VALUE"
    else:
        rows = ", ".join([f"({row})"] * count)
        into = f"{table} ({columns})"
    return f"INSERT INTO {into} VALUES {rows}"  # noqa: S608
