"""Users, events and the delivery log as a person reads them (issue 12, point 6):
addresses whole, buttons in rows, names not ids, why nobody was emailed, a simulate
form that keeps what was typed, events and their deliveries linked both ways, the
status filter offered once."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from web_data import site
from web_helpers import speak_german

from helpers import LiveServer
from tocsin.services.context import Services

_LINES = """(el) => {
  const range = document.createRange();
  range.selectNodeContents(el);
  return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;
}"""


def _email_set_up(services: Services) -> None:
    services.settings.update(
        {"enabled": True, "encryption": "none", "host": "127.0.0.1", "port": 2525,
         "sender_address": "alarm@example.com"}
    )  # fmt: skip


@pytest.mark.parametrize("width", [1280, 375])
def test_user_addresses_stay_whole_and_buttons_sit_in_rows(
    signed_in: Page, server: LiveServer, services: Services, width: int
) -> None:
    site(services)
    services.sites.add_user(
        {"id": "long", "name": "Facility management night shift",
         "email": "facility-management.nightshift@building-services.example.com",
         "groups": ["sr"], "categories": ["fire"]}
    )  # fmt: skip
    page = signed_in
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(server.url + "/users")
    for address in page.locator("#users-table .address").all():
        text = address.inner_text()
        lines = address.evaluate(_LINES)
        # One line; a long one may break once, after the local part and never inside a word.
        assert lines == 1 or (lines == 2 and "@" in text), (text, lines)
        box = address.bounding_box()
        cell = address.locator("xpath=..").bounding_box()
        assert box is not None
        assert cell is not None
        assert box["x"] + box["width"] <= cell["x"] + cell["width"] + 1, text  # not spilling
    for row in page.locator("#users-table tbody tr").all():
        buttons = row.locator(".action-stack .button").all()
        tops = {round(b["y"]) for b in (x.bounding_box() for x in buttons if x.is_visible()) if b}
        assert len(tops) <= 2, (tops, row.inner_text())  # side by side, not a tower of four
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_events_show_names_and_say_why_nobody_was_emailed(
    signed_in: Page, server: LiveServer, services: Services
) -> None:
    site(services)
    _email_set_up(services)
    services.sites.add_user(
        {"id": "lone", "name": "Lone Ranger", "email": "lone@example.net", "categories": ["fire"]}
    )
    submit = services.events.submit
    # Anna (at b1, above the server room) and ops (at hq) get fire email.
    submit({"group": "sr", "device": "Rack 4", "sensor": "Smoke", "category": "fire",
            "severity": "alarm"})  # fmt: skip
    # Building 1 emails alarms only for "always": a warning reaches nobody.
    submit({"group": "b1", "device": "Rack 1", "sensor": "Temp", "category": "always",
            "severity": "warning"})  # fmt: skip
    # Nobody at hq gets "always" email (Anna does, but she is at Building 1, below).
    submit({"group": "hq", "device": "Gate", "sensor": "Tamper", "category": "always",
            "severity": "alarm"})  # fmt: skip
    page = signed_in
    page.goto(server.url + "/events")
    rows = page.locator("#events-table tbody tr")
    fire = rows.filter(has_text="Smoke")
    expect(fire).to_contain_text("Anna Berg")
    expect(fire).to_contain_text("Ops desk")
    expect(fire).not_to_contain_text(re.compile(r"\banna\b"))
    expect(fire.locator("td").nth(2)).to_have_text("Headquarters / Building 1 / Server room")
    expect(rows.filter(has_text="Temp")).to_contain_text(
        "Nobody was emailed: this group's settings email alarms only, not warnings."
    )
    expect(rows.filter(has_text="Tamper")).to_contain_text(
        "Nobody was emailed: nobody assigned here gets email for Always active."
    )


def test_events_say_who_would_need_a_group(
    signed_in: Page, server: LiveServer, services: Services
) -> None:
    _email_set_up(services)
    services.sites.add_group({"id": "hall", "name": "Hall"})
    services.sites.add_user(
        {"id": "lone", "name": "Lone Ranger", "email": "lone@example.net", "categories": ["fire"]}
    )
    services.events.submit(
        {"group": "hall", "device": "Hall", "sensor": "Smoke", "category": "fire",
         "severity": "alarm"}
    )  # fmt: skip
    page = signed_in
    speak_german(page)
    page.goto(server.url + "/events")
    expect(page.locator("#events-table tbody tr").first).to_contain_text(
        "Niemand wurde benachrichtigt: Niemand ist dieser Gruppe oder einer Gruppe darüber "
        "zugewiesen. In keiner Alarmgruppe: Lone Ranger."
    )


def test_the_simulate_form_keeps_its_values_and_links_to_the_deliveries(
    signed_in: Page, server: LiveServer, services: Services
) -> None:
    site(services)
    _email_set_up(services)
    page = signed_in
    page.goto(server.url + "/events")
    form = page.locator("#simulate-form")
    form.get_by_label("Alarm group").select_option(label="Headquarters / Building 1 / Server room")
    form.get_by_label("Category").select_option("fire")
    form.get_by_label("Severity").select_option("alarm")
    form.get_by_label("Device").fill("Rack 9")
    form.get_by_label("Sensor").fill("Smoke 2")
    form.get_by_role("button").click()
    expect(page.locator("#simulate-accepted")).to_be_visible()
    expect(form.get_by_label("Alarm group")).to_have_value("sr")
    expect(form.get_by_label("Category")).to_have_value("fire")
    expect(form.get_by_label("Severity")).to_have_value("alarm")
    expect(form.get_by_label("Device")).to_have_value("Rack 9")
    expect(form.get_by_label("Sensor")).to_have_value("Smoke 2")

    # Event → its delivery, and back.
    row = page.locator("#events-table tbody tr").filter(has_text="Rack 9")
    row.get_by_role("link", name=re.compile("Anna Berg")).click()
    expect(page).to_have_url(re.compile(r"/deliveries\?email=\d+"))
    log = page.locator("table.log tbody tr")
    expect(log).to_have_count(1)
    expect(log).to_contain_text("anna@example.com")
    log.get_by_role("link", name=re.compile("event", re.I)).click()
    expect(page).to_have_url(re.compile(r"/events\?event="))
    expect(page.locator("#events-table tbody tr.row-chosen")).to_contain_text("Rack 9")


def test_the_delivery_log_offers_the_status_filter_once(
    signed_in: Page, server: LiveServer, services: Services
) -> None:
    page = signed_in
    page.goto(server.url + "/deliveries?status=dead")
    expect(page.locator("select[name=status]")).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile("^Dead"))).to_have_attribute(
        "aria-current", "page"
    )
    # Filtering by recipient keeps the chosen status.
    page.get_by_label("Recipient").fill("anna")
    page.locator("form.filter-bar").get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"status=dead"))
    expect(page).to_have_url(re.compile(r"recipient=anna"))
