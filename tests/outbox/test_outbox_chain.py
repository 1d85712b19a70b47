"""The engine sends what waits back to back on each connection (pipelined when offered);
every email still gets its own verdict, at once, and nothing goes out twice."""

from __future__ import annotations

import pytest
from outbox_support import (
    Journal,
    all_done,
    enqueue,
    eventually,
    fast_options,
    running,
    smtp_settings,
    statuses,
)

from tocsin.outbox import DeliveryEngine, Status
from tocsin.store import Store
from tocsin.testing import SMTPTestServer


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "lock-step"])
async def test_a_backlog_goes_out_once_each_with_its_own_verdict(
    sqlite_store: Store, pipelining: bool
) -> None:
    journal = Journal()
    ids = [enqueue(sqlite_store, f"ops{n}@example.net", subject=f"Alarm {n}") for n in range(40)]
    flaky = "ops7@example.net"
    async with SMTPTestServer(pipelining=pipelining) as srv:
        srv.faults.reply_at("rcpt", "421 4.3.2 busy, try later", recipient=flaky, times=1)
        engine = DeliveryEngine(
            sqlite_store,
            lambda: smtp_settings(srv.port),
            options=fast_options(max_connections=2, chain=8),
            on_sent=journal,
        )
        async with running(engine):
            await eventually(lambda: all_done(sqlite_store), what="the backlog")
    assert all(statuses(sqlite_store, i) == {f"ops{n}@example.net": Status.SENT}
               for n, i in enumerate(ids))  # fmt: skip
    received = sorted(m.rcpt_tos[0] for m in srv.messages)
    assert received == sorted(f"ops{n}@example.net" for n in range(40))  # once each
    assert srv.connections <= 3  # two, and one more after the 421
    first_try = [u for _, v, _, _ in journal.sends for u in v.updates if u.reason == "server_busy"]
    assert len(first_try) == 1
    assert len(journal.sends) == 41  # one verdict per email and attempt
