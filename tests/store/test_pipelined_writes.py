"""A write transaction on PostgreSQL is pipelined (issue 11); its callers must not notice.

- ``rows()`` and ``run()`` answer as they do outside a pipeline (rows, row counts);
- a statement sent without waiting (``send()``, ``many()``) that fails still fails the
  transaction, with the error its ``run()`` raised, and leaves nothing stored;
- in a group commit, such a statement is the error of its own request alone.

Each test runs on both backends: SQLite shows what "as before" means.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import _pg_server, one_shared_round, pg_store, pipeline_syncs
from tocsin.model import Category, Event, Severity, State
from tocsin.services.group_commit import GroupCommit
from tocsin.store import AnyStore, EventSQL, PostgresStore, SQLiteStore
from tocsin.store.inserts import send_rows
from tocsin.store.outbox_sql import SQLTransaction
from tocsin.store.postgres import numbered

DUPLICATE = {"sqlite": sqlite3.IntegrityError, "postgres": psycopg.errors.UniqueViolation}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AnyStore]:
    if request.param == "sqlite":
        lite = SQLiteStore(tmp_path / "tocsin.db")
        yield lite
        lite.close()
        return
    with pg_store() as pg:
        yield pg


def _event(event_id: str = "01EVENT", client_id: str | None = None) -> Event:
    return Event(
        id=event_id,
        group_id="office",
        device="D1",
        sensor="smoke",
        category=Category.FIRE,
        severity=Severity.ALARM,
        state=State.RAISED,
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        client_event_id=client_id,
    )


def _insert(sql: EventSQL, event: Event) -> None:
    sql.insert_events([(event, "f")], received_at=1.0)


def _events(store: AnyStore) -> list[str]:
    with store.site_reading() as site:
        return [e.event.id for e in EventSQL(site.runner).recent_events(limit=10)]


def _pipelined(store: AnyStore) -> bool:
    return isinstance(store, PostgresStore) and store._pipeline is not None


def test_rows_and_run_answer_inside_as_outside(store: AnyStore) -> None:
    with store.transaction() as tx:
        for key in ("a", "b", "c"):
            tx.runner.send("INSERT INTO kv (key, value, updated_at) VALUES (?, 'x', 't')", (key,))
        # An UPDATE's count includes the rows sent just before it, not yet answered.
        assert tx.runner.run("UPDATE kv SET value = 'y' WHERE value = 'x'") == 3
        assert tx.runner.run("DELETE FROM kv WHERE key = 'nothing'") == 0
        assert tx.runner.rows("SELECT key, value FROM kv ORDER BY key") == [
            ("a", "y"),
            ("b", "y"),
            ("c", "y"),
        ]
        assert tx.runner.rows("UPDATE kv SET value = 'z' WHERE key = 'a'") == []  # no rows
        returned = tx.runner.rows("UPDATE kv SET value = 'w' WHERE key <> 'a' RETURNING key")
        assert sorted(returned) == [("b",), ("c",)]
        tx.runner.many(
            "INSERT INTO kv (key, value, updated_at) VALUES (?, ?, 't')", [("d", "1"), ("e", "2")]
        )
        # A read on the same thread, inside the write, sees the writes sent before it.
        assert store.get_value("e") == "2"
        assert store.get_values(["a", "d"]) == {"a": "z", "d": "1"}
        pipelined = _pipelined(store)
    assert pipelined is isinstance(store, PostgresStore)  # the test did meet a pipeline
    # Outside any write transaction, the same answers.
    with store.transaction() as tx:
        assert tx.runner.run("UPDATE kv SET value = 'v' WHERE key IN ('a', 'b', 'q')") == 2
    assert store.get_values(["a", "b", "c"]) == {"a": "v", "b": "v", "c": "w"}


@pytest.mark.parametrize("then", ["commit", "rows", "raise"])
def test_a_sent_statement_that_fails_rolls_everything_back(store: AnyStore, then: str) -> None:
    """The duplicate's error is raised (at a later read, or before the commit) as the
    same error type ``run()`` raises at once, and nothing of the transaction stays."""
    with store.transaction() as tx:
        _insert(EventSQL(tx.runner), _event("01FIRST"))
    with pytest.raises(DUPLICATE[store.dialect]), store.transaction() as tx:
        tx.runner.run(  # the statement the intake sends, failing where it runs
            "INSERT INTO event (id, group_id, device, sensor, category, severity, state, "
            "occurred_at, received_at) SELECT id, group_id, device, sensor, category, "
            "severity, state, occurred_at, received_at FROM event WHERE id = '01FIRST'"
        )

    def attempt() -> None:
        with store.transaction() as tx:
            tx.put_value("half", "written")
            sql = EventSQL(tx.runner)
            _insert(sql, _event("01SECOND"))
            _insert(sql, _event("01FIRST"))  # the same id again: sent, not waited for
            sql.add_to_count("office", Category.FIRE, 7)
            if then == "rows":
                tx.runner.rows("SELECT 1")
                pytest.fail("the read after the failed statement must raise its error")
            if then == "raise":  # an error after the failed statement: the statement's
                raise ValueError("later")  # wins, as when it was raised at once

    with pytest.raises(DUPLICATE[store.dialect]) as raised:
        attempt()
    assert type(raised.value) is DUPLICATE[store.dialect]
    assert store.get_value("half") is None
    assert _events(store) == ["01FIRST"]
    with store.site_reading() as site:
        assert EventSQL(site.runner).hour_count("office", Category.FIRE, 7) == 0
    # The connection is ready for the next transaction.
    with store.transaction() as tx:
        _insert(EventSQL(tx.runner), _event("01THIRD"))
    assert sorted(_events(store)) == ["01FIRST", "01THIRD"]


def test_a_sent_statement_that_fails_in_a_shared_round_fails_its_request_alone(
    store: AnyStore,
) -> None:
    with store.transaction() as tx:
        _insert(EventSQL(tx.runner), _event("01TAKEN"))

    def job(index: int, tx: SQLTransaction) -> int:
        tx.put_value(f"k{index}", "v")
        event_id = "01TAKEN" if index == 2 else f"01E{index}"
        _insert(EventSQL(tx.runner), _event(event_id))  # job 2's fails, unseen here
        return index

    futures = one_shared_round(GroupCommit(store), job, 4)
    assert [futures[i].result() for i in (0, 1, 3)] == [0, 1, 3]
    with pytest.raises(DUPLICATE[store.dialect]):
        futures[2].result()
    stored = {i for i in range(4) if store.get_value(f"k{i}") == "v"}
    assert stored == {0, 1, 3}
    assert sorted(_events(store)) == ["01E0", "01E1", "01E3", "01TAKEN"]


def test_an_error_read_while_sending_leaves_the_transaction_able_to_go_on(
    store: AnyStore,
) -> None:
    """psycopg may read a failed statement's error while sending a later one (the server
    sends errors at once): raised there, it must not turn the next statements into
    "pipeline aborted" — rolling back to a savepoint (the group commit's rescue) works."""
    with store.transaction() as tx:
        _insert(EventSQL(tx.runner), _event("01TAKEN"))
    with store.transaction() as tx:
        tx.runner.send("SAVEPOINT attempt")
        sql = EventSQL(tx.runner)
        with pytest.raises(DUPLICATE[store.dialect]):  # noqa: PT012 (where it comes varies)
            _insert(sql, _event("01TAKEN"))
            time.sleep(0.2)  # the error is in the socket now
            for n in range(3):
                sql.add_to_count("office", Category.FIRE, n)
            tx.runner.run("RELEASE SAVEPOINT attempt")
        tx.runner.run("ROLLBACK TO SAVEPOINT attempt")
        tx.runner.send("RELEASE SAVEPOINT attempt")
        tx.put_value("after", "stored")
        _insert(sql, _event("01AFTER"))
    assert store.get_value("after") == "stored"
    assert sorted(_events(store)) == ["01AFTER", "01TAKEN"]


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[PostgresStore]:
    with pg_store() as store:
        yield store


@pytest.mark.postgres
def test_a_write_transaction_costs_one_round_trip_more_than_its_reads(
    pg: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # BEGIN rides with the first read, COMMIT with the writes in the closing sync
    # (psycopg's transaction() in a pipeline took four more: issue 11).
    insert = "INSERT INTO kv (key, value, updated_at) VALUES (?, 'x', 't')"
    syncs = pipeline_syncs(monkeypatch)
    with pg.transaction() as tx:
        assert tx.runner.rows("SELECT count(*) FROM kv")[0][0] == 0
        for key in ("a", "b", "c"):
            tx.runner.send(insert, (key,))
    assert len(syncs) == 2, syncs
    syncs.clear()
    with pg.transaction() as tx:  # writes alone: one
        tx.runner.send(insert, ("d",))
    assert len(syncs) == 1, syncs
    monkeypatch.undo()
    assert pg.get_values(["a", "b", "c", "d"]) == dict.fromkeys("abcd", "x")


@pytest.mark.postgres
def test_a_commit_that_fails_stores_nothing_and_leaves_no_transaction_open(
    pg: PostgresStore,
) -> None:
    # A deferred constraint is checked at COMMIT: the error comes from the closing sync.
    with pg.transaction() as tx:
        tx.runner.run("CREATE TABLE deferred (id int UNIQUE DEFERRABLE INITIALLY DEFERRED)")

    def twice() -> None:
        with pg.transaction() as tx:
            tx.put_value("half", "written")
            tx.runner.send("INSERT INTO deferred (id) VALUES (1)")
            tx.runner.send("INSERT INTO deferred (id) VALUES (1)")  # fails only at COMMIT

    with pytest.raises(psycopg.errors.UniqueViolation):
        twice()
    assert pg.get_value("half") is None
    assert pg._conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE
    with pg.transaction() as tx:  # the next one commits
        tx.runner.send("INSERT INTO deferred (id) VALUES (2)")
        tx.put_value("after", "stored")
    assert pg.get_value("after") == "stored"
    with pg.site_reading() as site:
        assert site.runner.rows("SELECT id FROM deferred") == [(2,)]


@pytest.mark.postgres
def test_a_block_that_fails_after_sending_rolls_back_and_the_session_goes_on(
    pg: PostgresStore,
) -> None:
    def failing() -> None:
        with pg.transaction() as tx:
            tx.runner.send("INSERT INTO kv (key, value, updated_at) VALUES ('half', 'x', 't')")
            raise KeyError("the caller's own error")  # after a statement sent, not answered

    with pytest.raises(KeyError):
        failing()
    assert pg._conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert pg.get_value("half") is None
    pg.put_value("next", "stored")
    assert pg.get_value("next") == "stored"


@pytest.mark.postgres
def test_recording_the_verdicts_of_a_chain_is_one_round_trip(
    pg: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The engine's write after each chain of sends (issue 11: three round trips before).
    from tocsin.message import compose
    from tocsin.outbox import DeliveryUpdate, NewEmail, Status

    to = [f"r{i}@example.org" for i in range(3)]
    with pg.transaction() as tx:
        email_id = tx.enqueue(
            NewEmail.of(compose(sender="t@example.com", to=to, subject="s", text="t\n"))
        )
    (claimed,) = pg.claim(owner="me", now=time.time(), limit=10, lease=60)
    ids = [d.id for d in claimed.deliveries]
    syncs = pipeline_syncs(monkeypatch)
    pg.record(
        [DeliveryUpdate(ids[0], Status.SENT, step="data", code=250, server_reply="250 ok"),
         DeliveryUpdate(ids[1], Status.SENT, step="data", code=250, server_reply="250 ok"),
         DeliveryUpdate(ids[2], Status.FAILED, None, True, "rcpt_to", "recipient_rejected",
                        "rcpt_to: 550 no such user", 550)],
        owner="me",
        now=time.time(),
    )  # fmt: skip
    assert len(syncs) == 1, syncs
    monkeypatch.undo()
    view = pg.get_email(email_id)
    assert view is not None
    assert [(d.status, d.attempts) for d in view.deliveries] == [
        (Status.SENT, 1),
        (Status.SENT, 1),
        (Status.FAILED, 1),
    ]


@pytest.mark.postgres
def test_a_session_killed_during_a_write_stores_nothing_and_the_next_write_reconnects(
    pg: PostgresStore,
) -> None:
    # The server ends the session between the first read and the COMMIT (a restart, an
    # administrator): the write fails, and the next one opens a new session.

    pid = pg._conn.info.backend_pid

    def killed_midway() -> None:
        with pg.transaction() as tx:
            tx.runner.send("INSERT INTO kv (key, value, updated_at) VALUES ('half', 'x', 't')")
            assert tx.runner.rows("SELECT count(*) FROM kv WHERE key = 'half'") == [(1,)]
            with psycopg.connect(_pg_server(), autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            tx.runner.send("INSERT INTO kv (key, value, updated_at) VALUES ('more', 'x', 't')")

    with pytest.raises(psycopg.OperationalError):
        killed_midway()
    pg.put_value("after", "stored")  # a new session
    assert pg._conn.info.backend_pid != pid
    assert pg.get_values(["half", "more", "after"]) == {"after": "stored"}


def test_an_asked_read_is_answered_in_order_with_the_next_wait(store: AnyStore) -> None:
    insert = "INSERT INTO kv (key, value, updated_at) VALUES (?, 'x', 't')"
    with store.transaction() as tx:
        tx.runner.send(insert, ("a",))
        asked = tx.runner.ask("SELECT key FROM kv ORDER BY key")
        tx.runner.send(insert, ("b",))
        assert tx.runner.rows("SELECT count(*) FROM kv") == [(2,)]
        assert asked() == [("a",)]  # what was sent before it, not after
        alone = tx.runner.ask("SELECT count(*) FROM kv")
        assert alone() == [(2,)]  # answered by its own call when nothing else waits
    with store.site_reading() as site:  # outside a write: at once
        assert site.runner.ask("SELECT key FROM kv ORDER BY key")() == [("a",), ("b",)]


def test_an_asked_read_that_fails_fails_the_transaction(store: AnyStore) -> None:
    missing = {"sqlite": sqlite3.OperationalError, "postgres": psycopg.errors.UndefinedTable}

    def attempt() -> None:
        with store.transaction() as tx:
            tx.runner.send("INSERT INTO kv (key, value, updated_at) VALUES ('half', 'x', 't')")
            asked = tx.runner.ask("SELECT * FROM no_such_table")
            tx.runner.rows("SELECT 1")  # the wait that answers it (PostgreSQL)
            asked()

    with pytest.raises(missing[store.dialect]):
        attempt()
    assert store.get_value("half") is None
    store.put_value("after", "stored")
    assert store.get_value("after") == "stored"


# ---------------------------------------------------------------- the marks (issue 11)
# On PostgreSQL the runner numbers the "?" marks itself and sends the text through
# psycopg's RawCursor (see tocsin.store.postgres.numbered), so that statements of many
# marks skip psycopg's own conversion, which it does not keep beyond 50 parameters.
NASTY = ["?", "%s", "%(x)s", "$1", "%", "%%", "'; DROP TABLE kv; --", "ü\u2013€", ""]


@pytest.mark.parametrize("count", [1, 17, 300])
def test_many_rows_in_one_statement_keep_every_value(store: AnyStore, count: int) -> None:
    rows = [(f"k{i:04d}", NASTY[i % len(NASTY)] + f"#{i}", NASTY[-1 - i % len(NASTY)])
            for i in range(count)]  # fmt: skip
    with store.transaction() as tx:
        # 300 rows are 900 marks in one statement: far past psycopg's kept conversions.
        send_rows(tx.runner, "kv", "key, value, updated_at", "?, ?, ?", rows)
        got = tx.runner.rows("SELECT key, value, updated_at FROM kv WHERE key LIKE ? ORDER BY key",
                             ("k%",))  # fmt: skip
    assert [tuple(r) for r in got] == rows
    with store.site_reading() as site:  # committed as sent
        assert site.runner.rows("SELECT COUNT(*) FROM kv WHERE key LIKE ?", ("k%",))[0][0] == count


def test_a_mark_count_that_does_not_match_is_refused_and_stores_nothing(store: AnyStore) -> None:
    error = (sqlite3.ProgrammingError, psycopg.Error)
    with pytest.raises(error), store.transaction() as tx:
        tx.runner.run("INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?)", ("a", "b"))
    with store.site_reading() as site:
        assert site.runner.rows("SELECT COUNT(*) FROM kv WHERE key = ?", ("a",))[0][0] == 0


@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="?")), min_size=1, max_size=40))
def test_numbered_gives_each_mark_its_number_in_order(pieces: list[str]) -> None:
    expected = "".join(f"{p}${n}" for n, p in enumerate(pieces[:-1], start=1)) + pieces[-1]
    assert numbered("?".join(pieces)) == expected


def test_events_are_found_by_many_client_ids_each_under_its_own(store: AnyStore) -> None:
    # The ids go to the server as rows of a VALUES list (see events_sql): each found
    # event comes back under its own id, an unknown id finds nothing, on both backends.
    ids = [f"c-{i}-{NASTY[i % len(NASTY)]}" for i in range(250)]
    with store.transaction() as tx:
        sql = EventSQL(tx.runner)
        sql.insert_events(
            [(_event(f"01EVENT{i:05d}", client_id), "f") for i, client_id in enumerate(ids)],
            received_at=1.0,
        )
    wanted = ids[::2] + [f"unknown-{i}" for i in range(30)]
    with store.site_reading() as site:
        found = EventSQL(site.runner).events_by_client_id(wanted)
    assert sorted(found) == sorted(ids[::2])
    assert all(found[c].event.id == f"01EVENT{ids.index(c):05d}" for c in found)


def test_numbered_numbers_marks_past_the_kept_ones() -> None:
    text = "SELECT " + ", ".join("?" * 5000)
    assert numbered(text) == "SELECT " + ", ".join(f"${n}" for n in range(1, 5001))
