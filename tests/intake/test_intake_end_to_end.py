"""End to end: HTTP in, the real outbox engine, the real Postfix, the real Maildir, a browser.

An admin sets up email, a group and a user over the REST API; a device posts an alarm
and later its clear; the outbox engine delivers both to Postfix; the test finds them in
the Maildir with the right subject, both parts and the threading headers, and renders
the HTML part in headless Chromium (the PNG stays in ``test-artifacts/``).
"""

from __future__ import annotations

import asyncio
import os
import time
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from intake_support import Clock
from playwright.sync_api import sync_playwright

from helpers import REPO, RealSMTP, wait_for_delivery
from tocsin.alarm_email import message_id_for
from tocsin.model import email_id
from tocsin.outbox import DeliveryEngine, EngineOptions, Status
from tocsin.services.context import Services

pytestmark = pytest.mark.postfix

ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SENDER = "alarm@example.com"
FAST = EngineOptions(poll_interval=0.05, settings_interval=0.05, lease=10.0, shutdown_grace=5.0)


async def _deliver(services: Services, *, timeout: float = 20.0) -> None:
    """Run the outbox engine until nothing is queued or being sent."""
    engine = DeliveryEngine(services.store, services.settings.load, options=FAST)
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))
    deadline = time.monotonic() + timeout
    try:
        while True:
            counts = await asyncio.to_thread(services.store.counts)
            if counts[Status.QUEUED] == counts[Status.SENDING] == 0:
                break
            assert time.monotonic() < deadline, f"outbox not drained: {counts}"
            assert engine.paused is None or engine.paused.error is None, engine.paused
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=20)
    counts = services.store.counts()
    assert counts[Status.FAILED] == counts[Status.DEAD] == 0, counts


def _set_up(admin: httpx.Client, smtp: RealSMTP, recipient: str) -> None:
    settings = {
        "enabled": True,
        "transport": "smtp",
        "host": smtp.host,
        "port": smtp.plain_port,
        "encryption": "none",
        "sender_address": SENDER,
        "sender_name": "Tocsin Alarm",
        "timeout": 5,
    }
    answer = admin.patch("/api/v1/settings", json=settings)
    assert answer.status_code == 200, answer.text
    for group in (
        {"id": "hq", "name": "Head office"},
        {"id": "hq-dc", "name": "Data centre", "parent": "hq"},
    ):
        assert admin.post("/api/v1/groups", json=group).status_code == 201
    user = {
        "id": "ops",
        "name": "Ops on call",
        "email": recipient,
        "language": "en",
        "time_zone": "Europe/Berlin",
        "groups": ["hq"],
        "categories": ["fire", "sabotage"],
    }
    assert admin.post("/api/v1/users", json=user).status_code == 201


def _parts(message: EmailMessage) -> tuple[str, str]:
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    return text.get_content(), html.get_content()


def _screenshot(html: str, name: str) -> Path:
    """Render ``html`` in headless Chromium; keep the PNG (and the HTML) as artefacts."""
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"{name}.html").write_text(html, encoding="utf-8")
    png = ARTIFACTS / f"{name}.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": 700, "height": 900})
            page.set_content(html, wait_until="load")
            shown = page.inner_text("body")
            page.screenshot(path=str(png), full_page=True)
        finally:
            browser.close()
    assert "Fire" in shown
    assert "Smoke detector 2" in shown
    return png


def test_an_alarm_and_its_clear_arrive_threaded_in_the_maildir(
    real_smtp: RealSMTP,
    services: Services,
    admin: httpx.Client,
    device: httpx.Client,
    clock: Clock,
) -> None:
    clock.now = time.time()  # real dates in the Maildir and the screenshot
    recipient = f"ops-{time.time_ns()}@example.net"
    _set_up(admin, real_smtp, recipient)
    alarm = {
        "group": "hq-dc",
        "device": "Smoke detector 2",
        "sensor": "Smoke",
        "category": "fire",
        "severity": "alarm",
        "value": 41.5,
        "unit": "°C",
        "threshold": 35,
        "text": "Smoke in aisle 3.\nCheck the extinguishing system.",
    }
    (raised,) = device.post("/api/v1/events", json=alarm).json()["ids"]
    asyncio.run(_deliver(services))
    cleared_answer = device.post("/api/v1/events", json={**alarm, "state": "cleared"})
    (cleared,) = cleared_answer.json()["ids"]
    assert cleared_answer.json()["events"][0]["clears"] == raised
    asyncio.run(_deliver(services))

    raise_id = message_id_for(email_id(raised, "ops"), "example.com")
    clear_id = message_id_for(email_id(cleared, "ops"), "example.com")
    first = wait_for_delivery(real_smtp, raise_id)
    second = wait_for_delivery(real_smtp, clear_id)

    assert first["Subject"] == "[ALARM] Fire – Head office / Data centre – Smoke detector 2: Smoke"
    assert second["Subject"].startswith("[CLEARED] Fire – Head office / Data centre")
    for message in (first, second):
        assert message["To"] == recipient
        assert message["From"] == f"Tocsin Alarm <{SENDER}>"
        assert message["Auto-Submitted"] == "auto-generated"
    assert first["In-Reply-To"] is None
    assert second["In-Reply-To"] == first["Message-ID"] == raise_id
    assert second["References"] == raise_id

    text, html = _parts(first)
    for needle in ("Smoke detector 2", "41.5 °C", "35 °C", "Smoke in aisle 3.", raised, "CEST"):
        assert needle in text or needle.replace("CEST", "CET") in text, needle
    assert "<html" in html.lower()
    png = _screenshot(html, "alarm-email")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 5_000
