"""The "Ways in" page in Chromium: paste-ready Alertmanager set-up, Grafana steps and
the mapping form, at desktop and phone width, in English and German."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import yaml
from playwright.sync_api import Page, expect
from web_data import site
from web_helpers import SCREENSHOTS, next_page, speak_german

from helpers import LiveServer
from tocsin.model import Severity
from tocsin.services.context import Services

SHOTS = SCREENSHOTS


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"ways-in-{name}.png"), full_page=True)


@pytest.mark.parametrize("width", [1280, 375])
def test_the_alertmanager_snippet_is_ready_to_paste(
    signed_in: Page, server: LiveServer, services: Services, width: int
) -> None:
    site(services)
    page = signed_in
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(server.url + "/ways-in")
    expect(page.locator('nav.mainnav [aria-current="page"]')).to_have_text("Ways in")
    url = f"{server.url}/api/v1/intake/alertmanager"
    expect(page.locator("#url-alertmanager")).to_have_text(url)
    expect(page.locator("#url-grafana")).to_have_text(f"{server.url}/api/v1/intake/grafana")
    config = yaml.safe_load(page.locator("#am-snippet").inner_text())
    (hook,) = config["receivers"][0]["webhook_configs"]
    assert config["route"]["receiver"] == config["receivers"][0]["name"]
    assert hook["url"] == url
    assert hook["send_resolved"] is True
    assert hook["http_config"]["authorization"] == {"type": "Bearer", "credentials": "<API token>"}
    expect(page.locator("#grafana ol.steps li")).to_have_count(4)
    # Nothing sticks out at phone width but the scrollable snippet itself.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    _shot(page, f"ways-in-en-{width}")


def test_the_mapping_form_saves_and_refuses_with_reasons(
    signed_in: Page, server: LiveServer, services: Services
) -> None:
    site(services)
    page = signed_in
    page.goto(server.url + "/ways-in")
    expect(page.get_by_label("Device", exact=True)).to_have_value("device, instance, job")
    page.get_by_label("Device", exact=True).fill("host, instance")
    page.get_by_label("Default severity").select_option("warning")
    with next_page(page, re.compile(r"/ways-in\?saved=1#mapping$")):
        page.get_by_role("button", name="Save mapping").click()
    expect(page.locator("#saved")).to_be_visible()
    mapping = services.webhooks.mapping.load()
    assert mapping.device == ("host", "instance")
    assert mapping.default_severity is Severity.WARNING
    # A bad label name: the field says why; nothing is saved.
    page.get_by_label("Alarm group", exact=True).fill("room number")
    page.get_by_label("Values meaning warning").fill("warning, critical")
    with next_page(page):
        page.get_by_role("button", name="Save mapping").click()
    expect(page.locator("#mapping-errors")).to_be_visible()
    expect(page.locator("#f-group-error")).to_contain_text("Use a label name")
    expect(page.locator("#f-group")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-group")).to_have_value("room number")  # as typed
    expect(page.locator("#f-warning_values-error")).to_contain_text("cannot mean both")
    assert services.webhooks.mapping.load() == mapping


@pytest.mark.parametrize("width", [1280, 375])
def test_the_page_in_german(
    signed_in: Page,
    server: LiveServer,
    services: Services,
    width: int,
    shoot: Callable[[Page, str], None],
) -> None:
    site(services)
    page = signed_in
    speak_german(page)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(server.url + "/ways-in")
    expect(page.get_by_role("heading", level=1)).to_have_text("Eingänge")
    expect(page.locator('nav.mainnav [aria-current="page"]')).to_have_text("Eingänge")
    expect(page.get_by_role("button", name="Zuordnung speichern")).to_be_visible()
    config = yaml.safe_load(page.locator("#am-snippet").inner_text())
    hook = config["receivers"][0]["webhook_configs"][0]
    assert hook["http_config"]["authorization"]["credentials"] == "<API-Token>"
    page.get_by_label("Alarmgruppe", exact=True).fill("1bad")
    with next_page(page):  # loaded, with its style sheet: the width below is the real one
        page.get_by_role("button", name="Zuordnung speichern").click()
    expect(page.locator("#f-group-error")).to_contain_text("Label-Namen")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    _shot(page, f"ways-in-de-{width}")
