"""Users, alarm groups, events and the delivery log; every page in English and German."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from web_data import DEAD_REPLY, dead_email, site
from web_helpers import speak_german

from helpers import LiveServer
from tocsin.outbox import Status
from tocsin.services.context import Services

# Every page of the menu: path, English and German heading.
PAGES = [
    ("/settings/email", "Email settings", "E-Mail-Einstellungen"),
    ("/users", "Users", "Benutzer"),
    ("/groups", "Alarm groups", "Alarmgruppen"),
    ("/events", "Events", "Ereignisse"),
    ("/deliveries", "Delivery log", "Zustellprotokoll"),
    ("/ways-in", "Ways in", "Eingänge"),
]


def test_users_page_lists_addresses_groups_and_categories(
    signed_in: Page, server: LiveServer, services: Services
) -> None:
    site(services)
    page = signed_in
    page.get_by_role("link", name="Users").click()
    expect(page).to_have_url(re.compile(r"/users$"))
    anna = page.locator('tr[data-user="anna"]')
    expect(anna).to_contain_text("anna@example.com")
    expect(anna).to_contain_text("Headquarters / Building 1")
    expect(anna.locator('[data-category="fire"]')).to_have_class(re.compile(r"\bcat-on\b"))
    expect(anna.locator('[data-category="armed"]')).to_have_class(re.compile(r"\bcat-off\b"))
    expect(anna.locator('[data-category="armed"]')).to_contain_text("email off")


def test_groups_page_shows_the_tree_and_what_is_inherited(
    signed_in: Page, server: LiveServer, services: Services
) -> None:
    site(services)
    page = signed_in
    page.goto(server.url + "/groups")
    room = page.locator('li[data-group="sr"]')
    # The tree: the server room sits inside building 1, inside headquarters.
    expect(
        page.locator('li[data-group="hq"] li[data-group="b1"] li[data-group="sr"]')
    ).to_have_count(1)
    fire = room.locator('tr[data-category="fire"]').first
    expect(fire).to_have_attribute("data-source", "own")
    expect(fire).to_contain_text("Set here")
    expect(fire).to_contain_text("3")
    always = room.locator('tr[data-category="always"]').first
    expect(always).to_have_attribute("data-source", "inherited")
    expect(always).to_contain_text("Inherited")
    expect(always).to_contain_text("10")  # building 1's cap, in force in the room
    root = page.locator('li[data-group="hq"] > section tr[data-category="always"]')
    expect(root).to_have_attribute("data-source", "default")


def test_simulated_event_is_routed_and_listed(
    signed_in: Page, server: LiveServer, services: Services
) -> None:
    site(services)
    services.settings.update({"sender_address": "alarms@example.com"})
    page = signed_in
    page.goto(server.url + "/events")
    expect(page.locator("#events-table")).to_have_count(0)
    page.get_by_label("Alarm group").select_option("sr")
    page.get_by_label("Category").select_option("fire")
    page.get_by_label("Severity").select_option("alarm")
    page.get_by_label("Text (optional)").fill("Smoke in rack 4")
    page.get_by_role("button", name="Simulate event").click()

    expect(page.locator("#simulate-accepted")).to_have_text(
        "Event accepted: 2 emailed, 0 held back."
    )
    row = page.locator("#events-table tbody tr").first
    expect(row).to_contain_text("Fire · Raised (open)")
    expect(row).to_contain_text("Headquarters / Building 1 / Server room")
    expect(row).to_contain_text("Anna Berg: emailed")
    expect(row).to_contain_text("Ops desk: emailed")
    assert services.outbox.counts().get(Status.QUEUED) == 2


def test_events_held_for_want_of_a_sender_say_so(
    signed_in: Page, server: LiveServer, services: Services
) -> None:
    site(services)
    services.events.submit(
        {"group": "sr", "device": "Rack 4", "sensor": "Smoke", "category": "fire",
         "severity": "alarm", "state": "raised"}
    )  # fmt: skip
    signed_in.goto(server.url + "/events")
    row = signed_in.locator("#events-table tbody tr").first
    expect(row).to_contain_text("Anna Berg: held for a summary (no sender address set up yet)")


def test_simulate_form_names_the_refused_field(
    signed_in: Page, server: LiveServer, services: Services
) -> None:
    site(services)
    page = signed_in
    page.goto(server.url + "/events")
    page.get_by_label("Device").fill("")
    page.get_by_role("button", name="Simulate event").click()
    expect(page.locator("#simulate-errors")).to_contain_text("not accepted")
    expect(page.locator("#f-device-error")).to_be_visible()
    assert services.events.recent() == []


def test_delivery_log_filters_shows_the_reason_and_retries_a_dead_email(
    signed_in: Page, server: LiveServer, services: Services
) -> None:
    dead_email(services, "anna@example.com")
    page = signed_in
    page.goto(server.url + "/deliveries")
    row = page.locator("table.log tbody tr").first
    expect(row).to_contain_text("anna@example.com")
    expect(row).to_contain_text("Dead")
    expect(row).to_contain_text("Login refused")
    expect(row).to_contain_text(DEAD_REPLY)

    page.get_by_role("link", name=re.compile(r"^Sent")).click()  # the status chips filter
    expect(page).to_have_url(re.compile(r"status=sent"))
    expect(page.locator("table.log")).to_have_count(0)
    page.get_by_role("link", name=re.compile(r"^Dead")).click()
    expect(page.locator("table.log tbody tr")).to_have_count(1)

    page.get_by_role("button", name="Retry the email to anna@example.com").click()
    expect(page.locator("#retried")).to_contain_text("Queued again: 1")
    expect(page).to_have_url(re.compile(r"status=dead"))  # back to the same filter
    expect(page.locator("table.log")).to_have_count(0)  # no longer dead
    assert services.outbox.counts().get(Status.QUEUED) == 1


@pytest.mark.parametrize("language", ["en", "de"])
def test_every_page_works_in_both_languages(
    page: Page,
    server: LiveServer,
    services: Services,
    admin: str,
    signed_in: Page,
    language: str,
    shoot: Callable[[Page, str], None],
) -> None:
    site(services)
    dead_email(services)
    services.events.submit(
        {"group": "sr", "device": "Rack 4", "sensor": "Smoke", "category": "fire",
         "severity": "alarm", "state": "raised", "text": "Smoke detected"}
    )  # fmt: skip
    if language == "de":
        speak_german(page)  # the switch in the top bar
        expect(page).to_have_url(re.compile(r"/settings/email$"))  # stays on the page
    for path, english, german in PAGES:
        page.goto(server.url + path)
        expect(page.locator("html")).to_have_attribute("lang", language)
        expect(page.get_by_role("heading", level=1)).to_have_text(
            english if language == "en" else german
        )
        nav = page.locator("nav.mainnav")
        expect(nav.locator('[aria-current="page"]')).to_have_text(
            english if language == "en" else german
        )
        shoot(page, f"page{path.replace('/', '-')}-{language}")
    found = services.store.admin_credentials(admin)
    assert found is not None
    assert found[0].language == language
