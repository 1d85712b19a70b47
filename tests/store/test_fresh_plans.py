"""On PostgreSQL a statement that finds its rows by a list of ids is planned at each call
(``fresh_plan``, issue 11): the events' client-id lookup, the claim's read of the
contents and the attempts' copy.

psycopg prepares a statement after its fifth call, and the server may then keep one plan
for all later calls.  A plan made while the table was small reads it whole once a storm
has grown it, comparing every row with every id, until autovacuum's next ANALYZE.
Real server: after many calls, the store connection's prepared statements hold the
single-key lookup (proof that the check sees what psycopg prepared) and none of the
id-list statements.
"""

from __future__ import annotations

import pytest

from helpers import pg_store
from tocsin.outbox import DeliveryUpdate, NewEmail, Priority, Status
from tocsin.store.events_sql import EventSQL
from tocsin.store.postgres import PostgresStore

pytestmark = pytest.mark.postgres

CALLS = 12  # more than psycopg's prepare threshold (5) and PostgreSQL's five custom plans
NOW = 1_700_000_000.0


def _prepared(store: PostgresStore) -> list[str]:
    """The statements psycopg has prepared on the store's connection."""
    with store.site_reading() as site:
        return [str(r[0]) for r in site.runner.rows("SELECT statement FROM pg_prepared_statements")]


def _lookups(store: PostgresStore, ids: list[str]) -> None:
    for _ in range(CALLS):
        with store.site_reading() as site:
            assert EventSQL(site.runner).events_by_client_id(ids) == {}


def _send_and_record(store: PostgresStore, emails: int) -> None:
    from tocsin.message import compose

    for n in range(CALLS):
        with store.transaction() as tx:
            for i in range(emails):
                mail = compose(sender="tocsin@example.org", to=[f"ops{i}@example.org"],
                               subject=f"Fire {n}.{i}", text="Smoke in hall B")  # fmt: skip
                tx.enqueue(NewEmail.of(mail, Priority.FIRE), now=NOW)
        claimed = store.claim(owner="w", now=NOW + n, limit=emails, lease=60)
        assert len(claimed) == emails
        store.record(
            [DeliveryUpdate(c.deliveries[0].id, Status.SENT, step="data_end", code=250,
                            server_reply="250 ok", link="primary") for c in claimed],
            owner="w", now=NOW + n + 0.5,
        )  # fmt: skip


def test_id_list_statements_are_never_prepared_single_keys_are() -> None:
    with pg_store() as store:
        _lookups(store, ["door-1"])  # the lone form: one text, kept planned
        _lookups(store, ["door-1", "door-2", "door-3"])
        _send_and_record(store, 3)
        prepared = _prepared(store)
        assert any("client_event_id = $1" in s for s in prepared), prepared
        for text in ("client_event_id IN (", "FROM outbox_email WHERE id IN (",
                     "INSERT INTO outbox_attempt"):  # fmt: skip
            assert not [s for s in prepared if text in s], (text, prepared)
        sent = store.counts()[Status.SENT]
        assert sent == CALLS * 3
