"""Lists of values in SQL text whose text repeats: padded to a few lengths (issue 11).

A statement that names a list of ids (``id IN (?, ?, …)``) is a new text for every
length.  The outbox's hot statements take lists of every length (a claim's emails, the
attempts of a batch of verdicts), and SQLite compiles each new text and keeps only the
last 128.

:func:`padded` fills a list up to the next power of two with copies of its last value.
A copy changes nothing where a list is a set (``IN``: both servers drop an index scan's
repeated keys), so a statement has at most one text per power of two.  (Not for the
rows of a ``VALUES`` list: an ``UPDATE … FROM (VALUES …)`` joins each copy and skips
it, which cost the verdicts' update more server time than it saved.)

On PostgreSQL these statements are planned at each call (``fresh_plan``, see
:class:`~tocsin.store.runner.Runner`): a plan kept from when the table was small reads
a grown table whole.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

__all__ = ["marks", "padded", "padded_chunks"]

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


def padded_chunks(values: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``values`` in lists of at most ``size``, each :func:`padded` (so up to the next
    power of two: 512 parameters for a ``size`` of 500)."""
    for start in range(0, len(values), size):
        yield padded(values[start : start + size])
