"""Row ids taken ahead from a table's own sequence, a block at a time (PostgreSQL).

A write transaction on PostgreSQL is pipelined (see :mod:`tocsin.store.postgres`): only
a statement whose answer is read makes it wait for the server.  ``INSERT … RETURNING
id`` was such a statement for every email the intake enqueued, and another for the
deliveries it hands to the engine (issue 11).  With ids taken ahead, those INSERTs carry
their ids and are sent without waiting; one round trip takes a block of ids::

    SELECT nextval('outbox_email_id_seq') FROM generate_series(1, 128)

The sequence is the id column's own (``pg_get_serial_sequence``: the identity column's,
whatever its name), so rows inserted without an id (the queued deliveries, other
processes, older versions) draw from the same numbers: no id is ever given twice.
``nextval`` is outside transactions, so an id taken stays taken whether the transaction
that used it commits or rolls back (a gap, as a rolled-back ``INSERT`` leaves anyway),
and a block taken in a transaction that rolled back is still good.

As with a sequence's own ``CACHE`` option, the ids of two processes (or two stores)
interleave by blocks: they rise within each, not across them in the order the rows were
made, and a process that stops leaves the rest of its blocks unused.  Nothing reads an
order of creation into these ids: listings sort by time, the claim only breaks ties
of priority and due time with them, and an email's deliveries still rise in the order
of its recipients.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Final

from tocsin.store.runner import Runner

__all__ = ["BLOCK", "IdBlocks"]

BLOCK: Final = 128
"""Ids taken per round trip: a burst of 2,000 single-recipient events takes 16 blocks
of email ids, and a process that stops leaves fewer than 128 numbers unused per table."""


class IdBlocks:
    """The ids this store has taken ahead and not used yet, per table; thread-safe.

    Raises what the runner raises (then nothing was taken from the blocks), and
    :class:`LookupError` for a table whose ``id`` column has no sequence.
    """

    def __init__(self, *, block: int = BLOCK) -> None:
        if block < 1:
            raise ValueError("a block holds at least one id")
        self._block = block
        self._lock = threading.Lock()
        self._sequences: dict[str, str] = {}
        self._free: dict[str, deque[int]] = {}

    def take(self, runner: Runner, table: str, count: int) -> list[int]:
        """``count`` ids for new rows of ``table``, rising; a new block through
        ``runner`` (one round trip) when those left are too few."""
        with self._lock:
            free = self._free.setdefault(table, deque())
            if len(free) < count:
                free.extend(self._fetch(runner, table, max(self._block, count - len(free))))
            return [free.popleft() for _ in range(count)]

    def _fetch(self, runner: Runner, table: str, count: int) -> list[int]:
        sequence = self._sequences.get(table)
        if sequence is None:
            found = runner.rows("SELECT pg_get_serial_sequence(?, 'id')", (table,))
            if not found or found[0][0] is None:
                raise LookupError(f"the id column of {table} has no sequence")
            sequence = self._sequences[table] = str(found[0][0])
        rows = runner.rows(
            "SELECT nextval(CAST(? AS regclass)) FROM generate_series(1, ?)", (sequence, count)
        )
        return sorted(int(r[0]) for r in rows)
