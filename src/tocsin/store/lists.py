"""Lists of values in SQL text whose text repeats: padded to a few lengths (issue 11).

A statement that names a list of ids (``id IN (?, ?, …)``, the rows of a ``VALUES``
list) is a new text for every length.  The outbox's hot statements take lists of every
length (a claim's emails, a batch of verdicts and their attempts), so on PostgreSQL each
was parsed and planned anew at every call and never prepared: the attempts' copy of a
batch of about 100 took the server 2.2 ms to plan and 2.3 to run (``pg_stat_statements``
in a burst of 2,400 alarms: 62 µs of the server's time an email, the largest of all).
SQLite prepares each new text too, and keeps only the last 128.

:func:`padded` fills a list up to the next power of two with copies of its last value:
a copy changes nothing where a list is a set (``IN``) or names a row that it updates
with the same values again (an ``UPDATE … FROM (VALUES …)``, which updates each row
once).  So a statement has at most one text per power of two: prepared by psycopg after
its fifth use, and planned once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

__all__ = ["marks", "padded"]

T = TypeVar("T")


def marks(count: int) -> str:
    """``count`` parameter marks, ``?, ?, …``."""
    return ", ".join("?" * count)


def padded(values: Sequence[T]) -> Sequence[T]:
    """``values`` with its last value repeated up to the next power of two (1, 2, 4, 8,
    …); ``values`` itself when its length is one already, or when it is empty."""
    count = len(values)
    size = 1 << (count - 1).bit_length() if count else 0
    if size == count:
        return values
    return [*values, *([values[-1]] * (size - count))]
