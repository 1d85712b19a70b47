"""Statistics that follow a storm: ANALYZE a table that outgrew what the planner knows.

PostgreSQL plans a statement from its statistics of each table, and keeps the plan of a
prepared statement (psycopg prepares one after its fifth call) until the statistics
change.  Autovacuum refreshes them once a minute at most, after a tenth of a table
changed.  A young database (ANALYZEd at its first few dozen rows) that meets a storm
of alarms grows from hundreds of rows to tens of thousands within that minute, and
its kept plans read whole tables: a lookup of one event by its client id took 9 ms at
100,000 rows instead of 0.2, the claim twice its time (issue 11).  The statements
that find rows by a list of ids are planned at each call anyway (``fresh_plan``).

:func:`analyze_grown` ANALYZEs each table of the current schema that changed by more
rows than its statistics describe (and by at least :data:`LEAST_CHANGES`): once per
doubling, so a storm costs a few ANALYZEs, a steady database none beyond
autovacuum's.  ``tocsin serve`` runs it every :data:`EVERY` seconds on a connection of
its own (:func:`keep_statistics`), so the ANALYZE never holds the store's connection.
SQLite's planner does not keep plans across a table's growth: nothing to do there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import psycopg

__all__ = ["EVERY", "LEAST_CHANGES", "analyze_grown", "keep_statistics"]

log = logging.getLogger("tocsin.store")

EVERY: Final = 5.0
"""Seconds between two looks at the tables' changes."""
LEAST_CHANGES: Final = 1_000
"""Rows changed since the last ANALYZE below which a table is left to autovacuum: on a
table of a few thousand rows a kept plan costs little (0.3 ms a lookup at 2,000)."""

_GROWN_SQL: Final = """SELECT s.relname FROM pg_stat_user_tables s
    JOIN pg_class c ON c.oid = s.relid
    WHERE s.schemaname = current_schema()
    AND s.n_mod_since_analyze > GREATEST(%s, c.reltuples)
    ORDER BY s.relname"""


def analyze_grown(conn: psycopg.Connection[tuple[object, ...]]) -> list[str]:
    """ANALYZE the tables of ``conn``'s current schema that changed by more rows than
    their statistics describe (at least :data:`LEAST_CHANGES`); their names."""
    from psycopg import sql

    names = [str(r[0]) for r in conn.execute(_GROWN_SQL, (LEAST_CHANGES,)).fetchall()]
    for name in names:
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(name)))
    return names


async def keep_statistics(
    connect: Callable[[], psycopg.Connection[tuple[object, ...]]],
    stop: asyncio.Event,
    *,
    every: float = EVERY,
) -> None:
    """Until ``stop``: every ``every`` seconds, :func:`analyze_grown` on a connection of
    its own (made by ``connect``, made again after an error; errors are logged once
    until it works again: the statistics are a help, never a reason to stop)."""
    conn: psycopg.Connection[tuple[object, ...]] | None = None
    failing = False
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
            if stop.is_set():
                break
            try:
                if conn is None or conn.closed or conn.broken:
                    conn = await asyncio.to_thread(connect)
                analyzed = await asyncio.to_thread(analyze_grown, conn)
            except Exception as exc:
                if not failing:
                    log.warning("could not refresh the database's statistics: %s", exc)
                failing = True
                continue
            failing = False
            if analyzed:
                log.info("statistics refreshed after much change: %s", ", ".join(analyzed))
    finally:
        if conn is not None:
            conn.close()
