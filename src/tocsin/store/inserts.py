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

from tocsin.store.runner import Row, Runner

__all__ = ["ROWS_PER_INSERT", "chunks", "insert_sql", "returning_rows", "send_rows"]

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


def send_rows(
    runner: Runner,
    table: str,
    columns: str,
    row: str,
    rows: Sequence[Sequence[object]],
    *,
    ids: Sequence[int] | None = None,
    then: str = "",
) -> None:
    """Insert ``rows`` (each the values of ``row``'s marks) into ``table``, sent, one
    statement per :data:`ROWS_PER_INSERT`; with ``ids``, each row's id (see
    :func:`insert_sql`).  ``then``: a constant clause after the rows (``ON CONFLICT …``)."""
    numbered = rows if ids is None else [(i, *r) for i, r in zip(ids, rows, strict=True)]
    for part in chunks(numbered):
        sql = insert_sql(table, columns, row, len(part), ids=ids is not None)
        runner.send(f"{sql}{then}", [value for r in part for value in r])


def returning_rows(
    runner: Runner,
    table: str,
    columns: str,
    row: str,
    rows: Sequence[Sequence[object]],
    *,
    returning: str,
    size: int = ROWS_PER_INSERT,
) -> list[Row]:
    """Insert ``rows`` as :func:`send_rows` does, ``size`` to a statement, and answer
    what each statement's ``RETURNING`` gives (rows in no promised order)."""
    answered: list[Row] = []
    for part in chunks(rows, size):
        sql = insert_sql(table, columns, row, len(part), ids=False)
        answered += runner.rows(f"{sql} RETURNING {returning}", [v for r in part for v in r])
    return answered
