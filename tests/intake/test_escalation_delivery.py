"""End to end: an alarm nobody acknowledges is escalated by email through a real SMTP server.

In process: the delivery engine and the escalation runner as ``tocsin serve`` runs them,
an aiosmtpd server, a settable clock (no waiting minutes).  Across processes: a real
``tocsin worker`` fires a due step, is SIGKILLed, and a new worker fires the next step —
each step reaches its user once.
"""

from __future__ import annotations

import asyncio
import copy
import email
import email.policy
import os
import signal
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

from intake_support import SITE, Clock, event, set_up_site, use_clock

from tocsin.alarm_email import message_id_for
from tocsin.model import email_id
from tocsin.outbox import DeliveryEngine, EngineOptions
from tocsin.services.context import Services
from tocsin.services.escalation import EscalationService, run_escalation
from tocsin.testing import ThreadedSMTPTestServer

FAST = EngineOptions(poll_interval=0.05, settings_interval=0.05, lease=10.0, shutdown_grace=5.0)
POLICY = {
    "categories": ["fire"],
    "steps": [
        {"after_minutes": 5, "users": ["carol"]},
        {"after_minutes": 15, "users": ["erin"]},
    ],
}
ERIN = {"id": "erin", "name": "Erin", "email": "erin@example.de", "language": "de"}


def _open(data: Path, port: int, clock: Clock | None = None) -> Services:
    services = Services.open(data)
    if clock is not None:
        use_clock(services, clock)
    set_up_site(services)
    site = copy.deepcopy(SITE)
    site["users"].append(ERIN)
    assert services.sites.import_site(site).applied
    services.sites.update_group("site", {"escalation": POLICY})
    settings = {"enabled": True, "host": "127.0.0.1", "port": port, "encryption": "none"}
    _, report, saved = services.settings.update(settings)
    assert saved, report.errors
    return services


def _parsed(server: ThreadedSMTPTestServer, rcpt: str) -> list[EmailMessage]:
    found = []
    for m in server.messages:
        if rcpt in m.rcpt_tos:
            parsed = email.message_from_bytes(m.raw, policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            found.append(parsed)
    return found


def _wait_for(check: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_no_acknowledgement_escalates_to_the_next_steps_user_threaded(tmp_path: Path) -> None:
    clock = Clock()
    with ThreadedSMTPTestServer() as smtp:
        services = _open(tmp_path / "data", smtp.port, clock)
        escalation = EscalationService(
            services.store,
            sites=services.sites,
            events=services.events,
            outbox=services.outbox,
            clock=clock,
        )
        try:
            (accepted,) = services.events.submit(event())

            async def serve() -> None:
                engine = DeliveryEngine(services.store, services.settings.load, options=FAST)
                services.outbox.on_enqueue = engine.wake
                stop = asyncio.Event()
                tasks = [
                    asyncio.create_task(engine.run(stop)),
                    asyncio.create_task(run_escalation(escalation, stop, interval=0.05)),
                ]
                try:
                    await asyncio.to_thread(_wait_for, lambda: len(smtp.messages) == 2)
                    assert _parsed(smtp, "carol@example.org") == []
                    clock.now += 5 * 60  # nobody acknowledged within 5 minutes
                    await asyncio.to_thread(
                        _wait_for, lambda: _parsed(smtp, "carol@example.org") != []
                    )
                    await asyncio.sleep(0.3)  # more rounds: still one email
                finally:
                    stop.set()
                    await asyncio.gather(*tasks)

            asyncio.run(serve())
            (mail,) = _parsed(smtp, "carol@example.org")
            assert mail["Subject"].startswith("[Escalated] ")
            body = mail.get_body(("plain",))
            assert body is not None
            assert "Escalated: nobody acknowledged within 5 minutes" in body.get_content()
            root = message_id_for(email_id(accepted.id, "carol"), "example.com")
            assert mail["In-Reply-To"] == root
            assert mail["References"] == root
            assert _parsed(smtp, "erin@example.de") == []
        finally:
            services.close()


def _worker(data: Path, log: Path) -> subprocess.Popen[bytes]:
    """A real ``tocsin worker``; its log goes to ``log`` (a pipe nobody reads could fill)."""
    env = {**os.environ, "TOCSIN_DATA": str(data)}
    env.pop("TOCSIN_DATABASE_URL", None)
    with log.open("wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "tocsin", "worker", "--data", str(data)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def _deliveries(services: Services, rcpt: str) -> list[str]:
    """The outbox's deliveries to ``rcpt``: one status per email queued for them."""
    with services.store.site_reading() as sql:
        rows = sql.runner.rows(
            "SELECT status FROM outbox_delivery WHERE recipient = ? ORDER BY id", (rcpt,)
        )
    return [str(status) for (status,) in rows]


def _make_due(services: Services, event_id: str, number: int) -> None:
    with services.store.transaction() as tx:
        tx.runner.run(
            "UPDATE escalation_timer SET due_at = ? WHERE event_id = ? AND kind = 'step' "
            "AND number = ?",
            (time.time() - 1, event_id, number),
        )


def test_a_sigkilled_worker_and_its_successor_fire_each_step_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with ThreadedSMTPTestServer() as smtp:
        services = _open(data, smtp.port)
        try:
            (accepted,) = services.events.submit(event())
            _make_due(services, accepted.id, 1)
            first = _worker(data, tmp_path / "first.log")
            try:
                _wait_for(lambda: len(_parsed(smtp, "carol@example.org")) == 1, 60)
                # Killed once the email is recorded as sent: a kill between the server's
                # acceptance and that record sends it again (at least once, by design).
                _wait_for(lambda: _deliveries(services, "carol@example.org") == ["sent"], 30)
            finally:
                first.send_signal(signal.SIGKILL)
                first.wait(timeout=30)
            _make_due(services, accepted.id, 2)
            second = _worker(data, tmp_path / "second.log")
            try:
                _wait_for(lambda: len(_parsed(smtp, "erin@example.de")) == 1, 60)
                time.sleep(1.0)
            finally:
                second.send_signal(signal.SIGTERM)
                second.wait(timeout=30)
            # Each step fired once: one email queued for each step's user, and sent once.
            assert _deliveries(services, "carol@example.org") == ["sent"]
            assert _deliveries(services, "erin@example.de") == ["sent"]
            assert len(_parsed(smtp, "carol@example.org")) == 1
            assert len(_parsed(smtp, "erin@example.de")) == 1
            (german,) = _parsed(smtp, "erin@example.de")
            assert german["Subject"].startswith("[Eskaliert] ")
            state = services.escalation.state_of([accepted.id])[accepted.id]
            assert (state.steps_done, state.next_due_at) == (2, None)
        finally:
            services.close()
