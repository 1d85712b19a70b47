"""The page /ways-in/mqtt in Chromium: save, refuse with errors by their fields, the
password write-only, the status and the dead letters shown; valid HTML in both languages."""

from __future__ import annotations

import json
import shutil
import time

import httpx
from playwright.sync_api import Page, expect
from test_web_html_valid import assert_valid
from web_helpers import SCREENSHOTS, next_page, speak_german

from helpers import LiveServer
from tocsin.intake.mqtt.service import MqttService, MqttStatus
from tocsin.services.context import Services

SHOTS = SCREENSHOTS


def _shots(page: Page, name: str) -> None:
    """Screenshots at 1280 and 375 px, to look at."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1280, 900), (375, 800)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_the_page_saves_and_keeps_the_password_write_only(
    signed_in: Page, server: LiveServer, services: Services
) -> None:
    page = signed_in
    page.goto(server.url + "/ways-in/mqtt")
    expect(page.locator("#mqtt-state")).to_have_attribute("data-state", "stopped")
    page.get_by_label("Subscribe to the broker").check()
    page.get_by_label("Broker host").fill("broker.example.net")
    page.get_by_label("TLS", exact=True).check()
    page.get_by_label("Username").fill("tocsin")
    page.get_by_label("Password", exact=True).fill("page-secret-1")
    page.get_by_label("Topics").fill("site/+/alarms\nplant/#")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#saved")).to_be_visible()
    stored = MqttService(services).load()
    assert stored.topics == ("site/+/alarms", "plant/#")
    assert stored.port == 8883
    assert stored.password is not None
    assert stored.password.reveal() == "page-secret-1"
    assert "page-secret-1" not in page.content()
    expect(page.get_by_text("A password is stored.")).to_be_visible()
    # An empty password box keeps it.
    page.get_by_label("Broker host").fill("broker2.example.net")
    with next_page(page):  # "saved" shows before and after
        page.get_by_role("button", name="Save").click()
    expect(page.locator("#saved")).to_be_visible()
    again = MqttService(services).load()
    assert again.host == "broker2.example.net"
    assert again.password == stored.password


def test_the_page_refuses_with_errors_by_their_fields(signed_in: Page, server: LiveServer) -> None:
    page = signed_in
    page.goto(server.url + "/ways-in/mqtt")
    page.get_by_label("Subscribe to the broker").check()
    page.get_by_label("Broker host").fill("bad host!")
    page.get_by_label("Topics").fill("a/#/b")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#f-host-error")).to_contain_text("Not a valid server name")
    expect(page.locator("#f-topics-error")).to_contain_text("a/#/b")
    expect(page.get_by_label("Topics")).to_have_value("a/#/b")


def test_status_and_dead_letters_show_in_both_languages(
    signed_in: Page, server: LiveServer, services: Services
) -> None:
    service = MqttService(services)
    service.update({"host": "127.0.0.1", "topics": ["site/#"]})
    now = time.time()
    service.set_status(
        MqttStatus("retrying", now, "auth_failed", "", 4.0, "127.0.0.1:1883", seen=now)
    )
    service.handle("site/door", b"{not json <b>bold</b>")
    page = signed_in
    page.goto(server.url + "/ways-in/mqtt")
    expect(page.locator("#mqtt-error")).to_contain_text("refused the username or password")
    rows = page.locator("#mqtt-dead-letters tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("malformed_json")
    expect(rows.first).to_contain_text("<b>bold</b>")  # shown as text, never as markup
    _shots(page, "mqtt-en")
    speak_german(page)
    page.goto(server.url + "/ways-in/mqtt")
    expect(page.locator("#mqtt-error")).to_contain_text("Benutzername oder Passwort")
    _shots(page, "mqtt-de")


def test_the_page_is_valid_html_and_needs_a_session(
    signed_in: Page, server: LiveServer, services: Services
) -> None:
    MqttService(services).handle("x/y", b"nope")
    cookies = {c["name"]: c["value"] for c in signed_in.context.cookies()}
    with httpx.Client(base_url=server.url, cookies=cookies, timeout=10) as client:
        for lang in ("en", "de"):
            answer = client.get(f"/ways-in/mqtt?lang={lang}")
            assert answer.status_code == 200
            assert_valid(answer.text, f"/ways-in/mqtt ({lang})")
    anonymous = httpx.get(f"{server.url}/ways-in/mqtt", timeout=10, follow_redirects=False)
    assert anonymous.status_code in (302, 303)
    posted = httpx.post(f"{server.url}/ways-in/mqtt", data={"host": "x"}, timeout=10)
    assert posted.status_code in (302, 303, 403)
    assert json.loads(json.dumps(MqttService(services).load().public()))["host"] == ""
    assert shutil.which("mosquitto_pub")  # the page's example names it
