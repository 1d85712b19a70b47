"""Group commit: concurrent requests share a transaction, yet each stands or falls alone."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from intake_support import event, stored_counts

from helpers import one_shared_round
from tocsin.services.context import Services
from tocsin.services.group_commit import GroupCommit
from tocsin.services.inputs import InputRefused
from tocsin.store.outbox_sql import SQLTransaction


def test_waiting_requests_share_one_transaction_and_fail_alone(backend: Services) -> None:
    seen: dict[int, SQLTransaction] = {}  # the objects, not id(): ids get reused

    def job(index: int, tx: SQLTransaction) -> int:
        seen[index] = tx
        tx.put_value(f"k{index}", "v")
        if index % 3 == 2:
            raise ValueError(f"job {index} refused")
        return index

    first, *rest = one_shared_round(GroupCommit(backend.store), job, 8)
    assert first.result() == 0
    outcomes = [f.result() if f.exception() is None else str(f.exception()) for f in rest]
    assert outcomes == [1, "job 2 refused", 3, 4, "job 5 refused", 6, 7]
    assert all(seen[i] is seen[1] for i in range(1, 8))  # one shared round after the first
    assert seen[0] is not seen[1]
    stored = {i for i in range(8) if backend.store.get_value(f"k{i}") == "v"}
    assert stored == {0, 1, 3, 4, 6, 7}  # the refused ones rolled back alone


def test_concurrent_intake_requests_keep_their_own_answers(backend: Services) -> None:
    def post(index: int) -> object:
        good = event(client_event_id=f"c{index}", device=f"D{index}", group="office")
        body: dict[str, Any] = good
        if index % 2:  # a batch whose second event is refused after the first was written
            body = {"events": [good, event(state="cleared", clears="01NOSUCHRAISE")]}
        try:
            return backend.events.submit(body)[0].client_event_id
        except InputRefused as exc:
            return exc.issues[0].field

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(post, range(24)))
    assert answers == [f"c{i}" if i % 2 == 0 else "events[1].clears" for i in range(24)]
    events, _, deliveries = stored_counts(backend)
    assert events == 12
    assert deliveries == 12 * 2  # alice and carol for each fire alarm in the office


def test_a_failing_statement_rolls_back_to_its_savepoint(backend: Services) -> None:
    """On PostgreSQL an error aborts the transaction; the savepoint rescues the round."""
    commits = GroupCommit(backend.store)

    def broken(tx: SQLTransaction) -> None:
        tx.put_value("half", "written")
        tx.runner.run("INSERT INTO no_such_table VALUES (1)")

    with pytest.raises(Exception, match="no_such_table"):
        commits.run(broken)
    assert backend.store.get_value("half") is None
    assert commits.run(lambda tx: 42) == 42


def test_a_lone_request_takes_no_savepoint(
    backend: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With nothing else queued, a round is one plain transaction (two statements fewer);
    its work failing still leaves nothing behind."""
    seen: list[str] = []
    original = backend.store.transaction

    @contextmanager
    def recording() -> Iterator[SQLTransaction]:
        with original() as tx:
            for name in ("run", "send"):  # a shared round sends its SAVEPOINTs
                monkeypatch.setattr(tx.runner, name, recorder(getattr(tx.runner, name)))
            yield tx

    def recorder(method: Any) -> Any:
        def record(sql: str, *args: Any, **kwargs: Any) -> Any:
            seen.append(sql)
            return method(sql, *args, **kwargs)

        return record

    monkeypatch.setattr(backend.store, "transaction", recording)
    commits = GroupCommit(backend.store)
    assert commits.run(lambda tx: 7) == 7

    def broken(tx: SQLTransaction) -> None:
        tx.put_value("half", "written")
        raise InputRefused([])

    with pytest.raises(InputRefused):
        commits.run(broken)
    assert backend.store.get_value("half") is None
    assert seen  # recorded: the savepoints of a shared round go through run() or send()
    assert [sql for sql in seen if "SAVEPOINT" in sql] == []
