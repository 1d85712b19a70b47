"""Issue 13's "done when" for quiet hours, end to end through a real SMTP server.

Alice (Europe/Berlin) is quiet every night 22:00–07:00.  In the night of a DST change
a fire alarm reaches her at once; an "always" warning is held and arrives in the one
summary sent when her quiet hours end — 07:00 local time, which is 05:00 UTC after the
spring change and 06:00 UTC after the autumn one.  Time is the intake's and the
summaries' own clock (no waiting, no patched ``time.time``); delivery is the real
engine to an aiosmtpd server.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from intake_support import Clock, event, set_up_site, use_clock

from tocsin.outbox import DeliveryEngine, EngineOptions
from tocsin.services.context import Services
from tocsin.services.summaries import tick
from tocsin.testing import ThreadedSMTPTestServer

FAST = EngineOptions(poll_interval=0.05, settings_interval=0.05, lease=10.0, shutdown_grace=5.0)
ALICE = "alice@example.com"


def _at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def _received(smtp: ThreadedSMTPTestServer, rcpt: str) -> list[EmailMessage]:
    found = []
    for m in smtp.messages:
        if rcpt in m.rcpt_tos:
            parsed = email.message_from_bytes(m.raw, policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            found.append(parsed)
    return found


def _wait_for(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _open(data: Path, port: int, clock: Clock) -> Services:
    services = Services.open(data)
    use_clock(services, clock)
    set_up_site(services)
    services.sites.update_user("alice", {"quiet_hours": ["mon-sun 22:00-07:00"]})
    settings = {"enabled": True, "host": "127.0.0.1", "port": port, "encryption": "none"}
    _, report, saved = services.settings.update(settings)
    assert saved, report.errors
    return services


@pytest.mark.parametrize(
    ("night", "before_end", "end"),
    [
        # Sunday 2026-03-29: 02:00 CET → 03:00 CEST.  01:30 CET; 07:00 CEST is 05:00 UTC.
        ("2026-03-29T00:30", "2026-03-29T04:59", "2026-03-29T05:00"),
        # Sunday 2026-10-25: 03:00 CEST → 02:00 CET.  02:30 CEST (first pass); 07:00 CET.
        ("2026-10-25T00:30", "2026-10-25T05:59", "2026-10-25T06:00"),
    ],
    ids=["spring", "autumn"],
)
def test_fire_breaks_through_and_a_warning_waits_for_the_summary_at_seven(
    tmp_path: Path, night: str, before_end: str, end: str
) -> None:
    clock = Clock(_at(night))
    with ThreadedSMTPTestServer() as smtp:
        services = _open(tmp_path / "data", smtp.port, clock)
        try:
            (fire,) = services.events.submit(event(group="office"))
            assert (fire.notified, fire.held) == (2, 0)  # Alice and Carol, at once
            (warning,) = services.events.submit(
                event(
                    group="office",
                    category="always",
                    severity="warning",
                    device="Fridge 3",
                    sensor="temperature",
                )
            )
            assert (warning.notified, warning.held) == (0, 1)  # only Alice wants it: held

            async def serve() -> None:
                engine = DeliveryEngine(services.store, services.settings.load, options=FAST)
                services.outbox.on_enqueue = engine.wake
                stop = asyncio.Event()
                task = asyncio.create_task(engine.run(stop))
                try:
                    await asyncio.to_thread(_wait_for, lambda: len(_received(smtp, ALICE)) == 1)
                    # One minute before 07:00 local: still quiet, no summary.
                    clock.now = _at(before_end)
                    assert tick(services, clock.now, checks=()).summaries == 0
                    await asyncio.sleep(0.3)
                    assert len(_received(smtp, ALICE)) == 1
                    # 07:00 local: the quiet hours are over; one summary.
                    clock.now = _at(end)
                    report = tick(services, clock.now, checks=())
                    assert (report.summaries, report.events_summarized) == (1, 1)
                    assert tick(services, clock.now + 60, checks=()).summaries == 0
                    await asyncio.to_thread(_wait_for, lambda: len(_received(smtp, ALICE)) == 2)
                finally:
                    stop.set()
                    await task

            asyncio.run(serve())
            first, summary = _received(smtp, ALICE)
            assert first["Subject"].startswith("[ALARM]")
            assert first["Subject"].startswith("[ALARM] Brand – Site / Office")
            assert summary["Subject"].startswith("[ZUSAMMENFASSUNG]")
            body = summary.get_body(("plain",))
            assert body is not None
            text = body.get_content()
            assert "Fridge 3" in text
            assert "Ruhezeit" in text
            assert len(_received(smtp, "carol@example.org")) == 1  # the fire alarm only
            record = services.events.get(warning.id)
            assert [(n.user_id, n.status) for n in record.notifications] == [
                ("alice", "summarized")
            ]
        finally:
            services.close()
