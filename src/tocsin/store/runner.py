"""The one interface every SQL module of the store writes against: a :class:`Runner`.

A backend (SQLite, PostgreSQL) supplies a runner inside a transaction; the SQL modules
(outbox, tracking, accounts, sites, events, the relay's) take one and never see the
connection, so none of them needs another to name it.  A repository that opens its own
transactions (the outbox, the accounts...) is given the backend's :class:`Database`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Database", "Row", "Runner"]

Row = tuple[Any, ...]


class Runner(Protocol):
    """Runs SQL written with ``?`` placeholders on one backend connection.

    :meth:`rows` and :meth:`run` return their statement's answer, after every statement
    sent before it; :meth:`send` and :meth:`many` need not wait for theirs.
    """

    def rows(
        self,
        sql: str,
        params: Sequence[object] = (),
        *,
        binary: bool = False,
        fresh_plan: bool = False,
    ) -> list[Row]:
        """Execute and fetch every row.

        ``binary``: the rows carry large BLOBs (the claim's email contents): PostgreSQL
        sends them in its binary format, a BYTEA as its own bytes instead of hex text
        twice its size that the server encodes and psycopg decodes (the same values
        either way).  SQLite has no such choice and ignores it.

        ``fresh_plan``: the statement finds its rows by a list of ids (``IN (?, …)``)
        in a table that a storm makes grow fast.  PostgreSQL then plans it at each call,
        for these values and the table's size now, instead of keeping one plan for every
        call (psycopg prepares a statement after its fifth call).  A kept plan made
        while the table was small (ANALYZEd at 100 rows, say) reads it whole, comparing
        each row with each id: 100 ids cost 0.6 ms at 100,000 rows planned each time
        and up to 226 ms with the kept plan, until the next ANALYZE (issue 11,
        ``bench/pg_kept_plans.py``; planning costs about 50 µs; see also
        :mod:`tocsin.store.statistics`).  SQLite ignores it.
        """
        ...

    def run(self, sql: str, params: Sequence[object] = ()) -> int:
        """Execute; return the number of rows changed."""
        ...

    def send(self, sql: str, params: Sequence[object] = (), *, fresh_plan: bool = False) -> None:
        """Execute a statement whose answer nobody reads, maybe without waiting for it
        (``fresh_plan`` as for :meth:`rows`).

        On PostgreSQL a write transaction pipelines it: its error, if it fails, is raised
        by the next :meth:`rows` or :meth:`run` or at the end of the transaction (which
        then rolls back), not here.  So send only what no one catches an error of.
        """
        ...

    def many(self, sql: str, seq: Sequence[Sequence[object]]) -> None:
        """Execute once per parameter set (like :meth:`send`, maybe without waiting)."""
        ...

    def ask(
        self, sql: str, params: Sequence[object] = (), *, fresh_plan: bool = False
    ) -> Callable[[], list[Row]]:
        """Execute a read whose rows are wanted a little later; call the result for them
        (``fresh_plan`` as for :meth:`rows`).

        On PostgreSQL a write transaction sends it without waiting, and the next wait
        (a :meth:`rows`, :meth:`run`, or the call) answers it with whatever waits there:
        two reads, one round trip.  Its error, if it fails, is raised at that wait.
        """
        ...

    def new_ids(self, table: str, count: int) -> list[int] | None:
        """Ids for ``count`` new rows of ``table``, given before the rows are written, or
        None where the ``INSERT`` should number them itself (and answer them with
        ``RETURNING``, waiting for the server).

        PostgreSQL gives them (from the column's own sequence, see
        :mod:`tocsin.store.id_blocks`), so an ``INSERT`` that carries them can be sent
        without waiting; it must say ``OVERRIDING SYSTEM VALUE`` (the id columns are
        ``GENERATED ALWAYS AS IDENTITY``; :func:`~tocsin.store.inserts.insert_sql`
        writes it).  SQLite gives None: its statements run in the process, and waiting
        for one costs nothing.
        """
        ...

    def mail_queued(self) -> None:
        """Deliveries were queued in this transaction: when it commits, wake the delivery
        engines of other processes on this database (:mod:`tocsin.store.wakeup`)."""
        ...


@dataclass(frozen=True, slots=True)
class Database:
    """How a repository reaches its backend: a write transaction or a read, each a runner.

    ``writing()`` commits at the end of its block (and joins a transaction already open
    on this thread); ``reading()`` runs outside a write transaction.
    """

    writing: Callable[[], AbstractContextManager[Runner]]
    reading: Callable[[], AbstractContextManager[Runner]]
