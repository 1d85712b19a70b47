"""The intake hands a lone email to the running engine in its enqueue transaction (issue 11).

Real parts: the services on SQLite and PostgreSQL, the delivery engine as ``serve`` wires
it (``services.outbox.handoff``), an aiosmtpd server.  The engine polls only every 30 s
and nothing wakes it in the hand-off test: an email that arrives at once was not claimed.
Each fallback (no engine, engine paused, no room, stale settings, not due yet) leaves the
email queued, and it still arrives, once.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from intake_support import Clock, event

from tocsin.outbox import DeliveryEngine, EngineOptions, ListFilter, Status
from tocsin.outbox.model import DeliveryView
from tocsin.services.context import Services
from tocsin.testing import ThreadedSMTPTestServer

SLOW_POLL = EngineOptions(poll_interval=30.0, settings_interval=0.05, lease=60.0)
NO_POLL = EngineOptions(poll_interval=30.0, settings_interval=30.0, lease=60.0)
BOB = "bob@example.net"  # the one user a fire alarm in the server room goes to besides Alice


def _enable(services: Services, port: int, **more: object) -> None:
    settings = {"enabled": True, "host": "127.0.0.1", "port": port, "encryption": "none"}
    _, report, saved = services.settings.update({**settings, **more})
    assert saved, report.errors


def _engine(services: Services, options: EngineOptions, *, wake: bool = True) -> DeliveryEngine:
    """An engine wired as ``tocsin serve`` wires it (``wake``: the intake may wake it)."""
    engine = DeliveryEngine(
        services.store,
        services.settings.load,
        settings_version=services.failover.fingerprint,
        failover_source=services.failover.load,
        options=options,
    )
    services.outbox.on_enqueue = engine.wake if wake else None
    services.outbox.handoff = engine.handoff
    return engine


@asynccontextmanager
async def _running(engine: DeliveryEngine) -> AsyncIterator[DeliveryEngine]:
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))
    try:
        # Taking hand-offs once the settings are read (the first round).
        await _until(lambda: engine.taking() is not None, "the engine's first settings read")
        yield engine
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


async def _until(check: object, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def _deliveries(services: Services) -> list[DeliveryView]:
    return sorted(services.store.list_deliveries(ListFilter(limit=100)), key=lambda d: d.id)


def _not_handed(rows: list[DeliveryView]) -> bool:
    """Each row queued, or leased by a claim after it was written (the woken engine may
    have claimed it already); never leased as written."""
    return all(
        (r.status is Status.QUEUED and r.lease_owner is None)
        or (r.status is Status.SENDING and r.updated_at > r.created_at)
        for r in rows
    )


def _submit(services: Services, **overrides: object) -> None:
    (accepted,) = services.events.submit(event(**overrides))
    assert accepted.notified >= 1


def _to(smtp: ThreadedSMTPTestServer, rcpt: str) -> list[bytes]:
    return [m.raw for m in smtp.messages if rcpt in m.rcpt_tos]


def test_a_lone_email_is_handed_off_leased_and_sent_without_a_claim(backend: Services) -> None:
    services = backend
    with ThreadedSMTPTestServer() as smtp:
        _enable(services, smtp.port)

        async def main() -> None:
            engine = _engine(services, SLOW_POLL, wake=False)
            async with _running(engine):
                # Hold the send at the server so the row is seen as the hand-off left it.
                smtp.faults.delay("mail", 0.5, times=2)
                before = time.time()
                await asyncio.to_thread(_submit, services)
                rows = await asyncio.to_thread(_deliveries, services)
                assert [r.status for r in rows] == [Status.SENDING] * 2
                for row in rows:
                    assert row.lease_owner == engine.owner
                    # As a claim leaves it: due again when the lease runs out ...
                    assert row.next_attempt_at is not None
                    assert before + 59 < row.next_attempt_at < time.time() + 61
                    # ... but never claimed: written so, not updated since.
                    assert row.updated_at == row.created_at == row.queued_at
                # The engine naps for 30 s and nobody woke it: it had the emails in hand.
                await _until(lambda: len(smtp.messages) == 2, "both emails", timeout=5)
                await _until(
                    lambda: all(r.status is Status.SENT for r in _deliveries(services)),
                    "the record",
                )

        asyncio.run(main())
        time.sleep(0.2)
        assert len(smtp.messages) == 2  # once each
        for row in _deliveries(services):
            assert (row.status, row.attempts, row.last_code, row.lease_owner) == (
                Status.SENT,
                1,
                250,
                None,
            )
            view = services.store.get_email(row.email_id, content=True)
            assert view is not None
            assert view.content is not None
            (attempt,) = view.deliveries[0].history
            assert attempt.status is Status.SENT
            (raw,) = _to(smtp, row.recipient)
            assert raw == view.content  # the very bytes that were stored


def test_without_an_engine_in_the_process_the_email_is_queued_and_arrives(
    services: Services,
) -> None:
    with ThreadedSMTPTestServer() as smtp:
        _enable(services, smtp.port)
        _submit(services)  # nobody here takes a hand-off: serve's engine is not running
        rows = _deliveries(services)
        assert [(r.status, r.lease_owner) for r in rows] == [(Status.QUEUED, None)] * 2

        async def main() -> None:
            async with _running(_engine(services, SLOW_POLL)):
                await _until(lambda: len(smtp.messages) == 2, "both emails")

        asyncio.run(main())
        assert len(_to(smtp, BOB)) == 1


def test_a_paused_engine_takes_no_hand_off_and_the_email_arrives_once_it_runs(
    services: Services,
) -> None:
    with ThreadedSMTPTestServer() as smtp:
        _enable(services, smtp.port, enabled=False)  # email off: delivery paused

        async def main() -> None:
            engine = _engine(services, SLOW_POLL)
            stop = asyncio.Event()
            task = asyncio.create_task(engine.run(stop))
            try:
                await _until(lambda: engine.paused is not None, "the pause")
                await asyncio.to_thread(_submit, services)
                rows = await asyncio.to_thread(_deliveries, services)
                assert [(r.status, r.lease_owner) for r in rows] == [(Status.QUEUED, None)] * 2
                await asyncio.sleep(0.3)
                assert smtp.messages == []
                await asyncio.to_thread(_enable, services, smtp.port)
                await _until(lambda: len(smtp.messages) == 2, "both emails")
            finally:
                stop.set()
                await asyncio.wait_for(task, 20)

        asyncio.run(main())
        assert len(_to(smtp, BOB)) == 1


def test_an_engine_without_room_leaves_the_next_email_queued_and_it_arrives(
    services: Services,
) -> None:
    with ThreadedSMTPTestServer() as smtp:
        _enable(services, smtp.port)
        # batch_size 4: room for 2 deliveries in hand; each event here brings 2.
        options = EngineOptions(poll_interval=30.0, settings_interval=0.05, batch_size=4)

        async def main() -> None:
            engine = _engine(services, options)
            async with _running(engine):
                smtp.faults.delay("mail", 1.5, times=2)  # the first event's sends stick ...
                await asyncio.to_thread(_submit, services, device="Smoke detector 1")
                first = await asyncio.to_thread(_deliveries, services)
                assert [r.status for r in first] == [Status.SENDING] * 2
                assert engine.in_flight() == 2  # landed before submit() returned to us
                await asyncio.to_thread(_submit, services, device="Smoke detector 2")
                rows = await asyncio.to_thread(_deliveries, services)
                assert len(rows) == 4
                assert _not_handed(rows[2:])  # ... no room
                await _until(lambda: len(smtp.messages) == 4, "all four emails", timeout=20)

        asyncio.run(main())
        time.sleep(0.2)
        assert len(smtp.messages) == 4
        assert len(_to(smtp, BOB)) == 2


def test_settings_saved_since_the_engine_read_them_mean_no_hand_off(services: Services) -> None:
    with ThreadedSMTPTestServer() as smtp:
        _enable(services, smtp.port)

        rounds = threading.Event()
        next_due = services.store.next_due

        def counted() -> float | None:
            rounds.set()  # a claim round that took less than it asked for ends here
            return next_due()

        services.store.next_due = counted  # type: ignore[method-assign]

        async def main() -> None:
            engine = _engine(services, NO_POLL)  # reads the settings again only when told
            async with _running(engine):
                await asyncio.to_thread(rounds.wait, 10)  # its first round: then a 30 s nap
                await asyncio.to_thread(_enable, services, smtp.port, sender_name="Site Alarm")
                now = await asyncio.to_thread(services.failover.fingerprint)
                assert engine.taking() not in (None, now)  # the engine holds the old ones
                smtp.faults.delay("mail", 0.5, times=2)  # not recorded before we look
                await asyncio.to_thread(_submit, services)
                rows = await asyncio.to_thread(_deliveries, services)
                assert len(rows) == 2
                assert _not_handed(rows)
                await _until(lambda: len(smtp.messages) == 2, "both emails")

        asyncio.run(main())


def test_an_email_not_due_by_the_engine_clock_is_queued_and_sent_when_due(
    services: Services, clock: Clock
) -> None:
    with ThreadedSMTPTestServer() as smtp:
        _enable(services, smtp.port)

        async def main() -> None:
            async with _running(_engine(services, EngineOptions(poll_interval=0.1))):
                clock.now = time.time() + 1.0  # the intake's clock runs a second ahead
                await asyncio.to_thread(_submit, services)
                rows = await asyncio.to_thread(_deliveries, services)
                assert [(r.status, r.lease_owner) for r in rows] == [(Status.QUEUED, None)] * 2
                await _until(lambda: len(smtp.messages) == 2, "both emails")

        asyncio.run(main())


@pytest.mark.parametrize("threads", [8])
def test_concurrent_events_in_group_commits_each_arrive_once(
    backend: Services, threads: int
) -> None:
    services = backend
    with ThreadedSMTPTestServer() as smtp:
        _enable(services, smtp.port)

        async def main() -> None:
            async with _running(_engine(services, SLOW_POLL)):
                per_thread = 5

                def post(n: int) -> None:
                    for i in range(per_thread):
                        _submit(services, device=f"Smoke detector {n}-{i}")

                await asyncio.gather(*(asyncio.to_thread(post, n) for n in range(threads)))
                total = 2 * threads * per_thread
                await _until(lambda: len(smtp.messages) == total, "every email", timeout=30)

        asyncio.run(main())
        time.sleep(0.3)
        rows = _deliveries(services)
        assert len(smtp.messages) == len(rows) == 2 * threads * 5
        assert {r.status for r in rows} == {Status.SENT}
        assert len({m.raw for m in smtp.messages}) == len(rows)  # no email twice


def test_the_202_is_written_before_the_engine_takes_the_email(services: Services) -> None:
    # Landed at once, the hand-off would run on the event loop ahead of the waiting
    # answer (the loop runs callbacks in order) and the sender would start talking to
    # the server first: the lane holds it until the answer is written.
    from tocsin.api.app import create_app

    token, _ = services.accounts.create_token("gateway", ("events",))
    app = create_app(services)
    with ThreadedSMTPTestServer() as smtp:
        _enable(services, smtp.port)

        async def main() -> None:
            engine = _engine(services, NO_POLL, wake=False)
            held_at_answer: list[int] = []

            async def watched(scope: Any, receive: Any, send: Any) -> None:
                async def sending(message: dict[str, Any]) -> None:
                    if message["type"] == "http.response.body":
                        held_at_answer.append(engine.in_flight())
                    await send(message)

                await app(scope, receive, sending)

            async with _running(engine):
                transport = httpx.ASGITransport(app=watched)
                async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                    answer = await client.post(
                        "/api/v1/events",
                        json=event(),
                        headers={"Authorization": f"Bearer {token}"},
                    )
                assert answer.status_code == 202, answer.text
                assert held_at_answer == [0]  # nothing in the engine's hands yet
                await _until(lambda: len(smtp.messages) == 2, "both emails", timeout=5)
            rows = _deliveries(services)
            assert all(r.updated_at > r.created_at for r in rows)  # sent and recorded
            assert all(r.status is Status.SENT for r in rows)

        asyncio.run(main())
