# Only constants and "?" placeholder lists are put into SQL text here. Hence:
# ruff: noqa: S608
"""A kept PostgreSQL plan against a table that a storm grew: the client-id lookup (issue 11).

One command, one table::

    .venv/bin/python bench/pg_kept_plans.py [--database postgresql://…] [--ids 100]

On a schema of its own, the event table gets 50 rows and an ANALYZE (as autovacuum
gives a young database; autovacuum is then off for the table, as it is for the minute
before its next round), then the lookup of a request's client event ids runs 12
times (psycopg prepares a statement after its fifth call; the server may then keep
one plan for every later call).  Then the table grows, as in a storm before
autovacuum's next ANALYZE, and each form is timed again (median of 9 calls, the
client's wall time of each call):

- ``fresh``: Tocsin's lookup (``EventSQL.events_by_client_id``: ``IN (?, …)`` planned
  at each call, ``fresh_plan``);
- ``kept IN``: the same text, left to psycopg and the server's plan cache;
- ``kept VALUES``: the form before (the ids as rows of a ``VALUES`` list);
- ``kept one``: the lookup of a lone event's one client id (prepared, as it stays).

The last row is the same after :func:`tocsin.store.statistics.analyze_grown`, which
``tocsin serve`` runs every 5 seconds: the kept plans are made again, for the table's
size now.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Callable

from tocsin.store.events_sql import _BY_CLIENT_ID_SQL, _EVENT_COLUMNS, EventSQL
from tocsin.store.lists import marks, padded
from tocsin.store.postgres import PostgresStore
from tocsin.store.statistics import analyze_grown

_INSERT = (
    "INSERT INTO event (id, client_event_id, fingerprint, group_id, device, sensor, "
    "category, severity, state, occurred_at, unit, text, is_open, received_at) "
    "SELECT 'e' || i, 'storm-' || md5(CAST(i AS TEXT)), 'f', 'g', 'd', 's', 'fire', "
    "'alarm', 'raised', i, '', 'Smoke in hall B', 0, i "
    "FROM generate_series(CAST(? AS INTEGER), CAST(? AS INTEGER)) AS i"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--ids", type=int, default=100, help="client ids per lookup")
    parser.add_argument("--sizes", default="2000,10000,30000,100000", help="rows to grow to")
    args = parser.parse_args()
    store = PostgresStore(args.database, schema=f"tocsin_plans_{uuid.uuid4().hex[:8]}")
    try:
        run(store, args.ids, [int(s) for s in args.sizes.split(",")])
    finally:
        store.drop_schema()
        store.close()


def run(store: PostgresStore, count: int, sizes: list[int]) -> None:
    def ids(k: int) -> list[str]:
        return [f"new-{k}-{i}" for i in range(count)]

    def fresh(k: int) -> None:
        with store.site_reading() as site:
            EventSQL(site.runner).events_by_client_id(ids(k))

    def kept_in(k: int) -> None:
        wanted = padded(ids(k))
        with store.site_reading() as site:
            site.runner.rows(_BY_CLIENT_ID_SQL.format(marks=marks(len(wanted))), wanted)

    values = ", ".join(["(CAST(? AS TEXT))"] * count)
    before = (f"SELECT {_EVENT_COLUMNS} FROM event WHERE client_event_id IN "
              f"(SELECT column1 FROM (VALUES {values}) AS wanted)")  # fmt: skip

    def kept_values(k: int) -> None:
        with store.site_reading() as site:
            site.runner.rows(before, ids(k))

    def kept_one(k: int) -> None:
        with store.site_reading() as site:
            EventSQL(site.runner).events_by_client_id(ids(k)[:1])

    forms: dict[str, Callable[[int], None]] = {
        "fresh": fresh, "kept IN": kept_in, "kept VALUES": kept_values, "kept one": kept_one,
    }  # fmt: skip
    with store.transaction() as tx:
        # Autovacuum off on this table: the run stands for the minute before its next
        # round (it ANALYZEs at most once a minute), whatever the run's own pace.
        tx.runner.send("ALTER TABLE event SET (autovacuum_enabled = off)")
        tx.runner.send(_INSERT, (1, 50))
    with store.site_reading() as site:
        site.runner.rows("ANALYZE event")
    for form in forms.values():  # the storm's first requests: the plans are made now
        for k in range(12):
            form(k)
    print(f"{count} client ids a lookup; the event table ANALYZEd at 50 rows, then grown")
    print(f"{'rows':>8} " + " ".join(f"{name + ' ms':>14}" for name in forms))

    def row(label: str) -> None:
        cells = []
        for form in forms.values():
            times = []
            for k in range(9):
                started = time.perf_counter()
                form(100 + k)
                times.append(time.perf_counter() - started)
            cells.append(f"{statistics.median(times) * 1e3:14.2f}")
        print(f"{label:>8} " + " ".join(cells))

    size = 50
    for target in sizes:
        with store.transaction() as tx:
            tx.runner.send(_INSERT, (size + 1, target))
        size = target
        row(str(size))
    with store.site_reading() as site:  # the session's counts, visible to the next one
        site.runner.rows("SELECT pg_stat_force_next_flush()")
        site.runner.rows("SELECT 1")
    with store.new_connection() as conn:
        print(f"analyze_grown: {', '.join(analyze_grown(conn)) or 'nothing'}")
    row("then")


if __name__ == "__main__":
    main()
