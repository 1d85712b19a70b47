"""The users pages in a browser: add, errors next to the field, edit, disable, remove."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Page, expect
from web_data import site
from web_helpers import next_page, speak_german

from helpers import LiveServer
from tocsin.model import Category
from tocsin.services.context import Services


def test_a_new_user_starts_with_every_category_off_and_is_added(
    signed_in: Page, server: LiveServer, services: Services, shoot: Callable[[Page, str], None]
) -> None:
    site(services)
    page = signed_in
    page.goto(server.url + "/users")
    with next_page(page, re.compile(r"/users/new$")):  # group-checks.js drives the boxes
        page.get_by_role("link", name="Add user").click()
    for category in Category:
        expect(page.locator(f"#f-cat-{category.value}")).not_to_be_checked()
    expect(page.locator("#f-categories-help")).to_contain_text("off for a new user: tick")
    expect(page.locator("#f-categories-help")).not_to_contain_text("Kentix")
    expect(page.locator("#f-groups-help")).to_contain_text("covers its subgroups")
    expect(page.locator("#f-cat-always-help")).to_contain_text("temperature")
    expect(page.locator("#f-enabled")).to_be_checked()
    expect(page.locator("datalist#zones option[value='Europe/Berlin']")).to_have_count(1)

    page.get_by_label("Id", exact=True).fill("bert")
    page.get_by_label("Name", exact=True).fill("Bert Kurz")
    page.get_by_label("Email address").fill("bert@example.org")
    page.get_by_label("Language of the emails").select_option("de")
    page.get_by_label("Time zone").fill("Europe/Vienna")
    page.get_by_label("Server room").check()
    page.get_by_label("Fire", exact=True).check()
    page.get_by_label("System", exact=True).check()
    shoot(page, "user-add-en")
    page.get_by_role("button", name="Add user").click()

    expect(page).to_have_url(re.compile(r"/users\?done=added"))
    expect(page.locator("#done")).to_have_text("User Bert Kurz added.")
    row = page.locator('tr[data-user="bert"]')
    expect(row).to_contain_text("Headquarters / Building 1 / Server room")
    expect(row.locator('[data-category="fire"]')).to_have_class(re.compile(r"\bcat-on\b"))
    expect(row.locator('[data-category="armed"]')).to_have_class(re.compile(r"\bcat-off\b"))
    bert = services.sites.user("bert")
    assert bert.email == "bert@example.org"
    assert bert.language == "de"
    assert bert.time_zone == "Europe/Vienna"
    assert bert.group_ids == frozenset({"sr"})
    assert bert.email_categories == frozenset({Category.FIRE, Category.SYSTEM})
    shoot(page, "users-list-en")


def test_a_refused_user_shows_errors_next_to_the_fields_and_saves_nothing(
    signed_in: Page, server: LiveServer, services: Services, shoot: Callable[[Page, str], None]
) -> None:
    site(services)
    page = signed_in
    page.goto(server.url + "/users/new")
    page.get_by_label("Id", exact=True).fill("anna")  # taken
    page.get_by_label("Name", exact=True).fill("Second Anna")
    page.get_by_label("Email address").fill("not an address")
    page.get_by_label("Time zone").fill("Mars/Olympus")
    page.get_by_label("Fire", exact=True).check()
    page.get_by_role("button", name="Add user").click()

    expect(page.locator("#error-summary")).to_contain_text("Nothing was saved")
    expect(page.locator("#f-email-error")).to_be_visible()
    expect(page.locator("#f-email")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-time_zone-error")).to_contain_text("Unknown time zone 'Mars/Olympus'")
    # What was typed stays, ticks included.
    expect(page.get_by_label("Name", exact=True)).to_have_value("Second Anna")
    expect(page.locator("#f-cat-fire")).to_be_checked()
    shoot(page, "user-errors-en")
    assert [u.name for u in services.sites.users()] == ["Anna Berg", "Ops desk"]

    # Fixing the fields leaves the taken id, which the service names too.
    page.get_by_label("Email address").fill("anna2@example.com")
    page.get_by_label("Time zone").fill("Europe/Berlin")
    page.get_by_role("button", name="Add user").click()
    expect(page.locator("#f-id-error")).to_contain_text("already a user with the id 'anna'")
    assert len(services.sites.users()) == 2


def test_a_user_is_edited_disabled_enabled_and_removed(
    signed_in: Page, server: LiveServer, services: Services, shoot: Callable[[Page, str], None]
) -> None:
    site(services)
    page = signed_in
    page.goto(server.url + "/users")
    with next_page(page, re.compile(r"/users/anna/edit$")):  # group-checks.js drives the boxes
        page.get_by_role("link", name="Edit Anna Berg").click()
    expect(page.locator("#f-id")).to_have_text("anna")  # shown as text: it cannot change
    expect(page.get_by_role("textbox", name="Id")).to_have_count(0)
    expect(page.get_by_label("Building 1")).to_be_checked()
    expect(page.locator("#f-cat-fire")).to_be_checked()
    expect(page.locator("#f-cat-armed")).not_to_be_checked()
    page.get_by_label("Name", exact=True).fill("Anna Berg-Schmidt")
    page.get_by_label("Building 1").uncheck()
    page.get_by_label("Headquarters").check()
    page.get_by_label("Fire", exact=True).uncheck()
    shoot(page, "user-edit-en")
    page.get_by_role("button", name="Save user").click()
    expect(page.locator("#done")).to_have_text("User Anna Berg-Schmidt saved.")
    anna = services.sites.user("anna")
    assert anna.group_ids == frozenset({"hq"})
    assert Category.FIRE not in anna.email_categories
    assert anna.email == "anna@example.com"  # untouched fields stay

    page.get_by_role("button", name="Disable Anna Berg-Schmidt").click()
    expect(page.locator("#done")).to_have_text("User Anna Berg-Schmidt disabled.")
    expect(page.locator('tr[data-user="anna"]')).to_have_class(re.compile(r"\brow-disabled\b"))
    assert not services.sites.user("anna").enabled
    page.get_by_role("button", name="Enable Anna Berg-Schmidt").click()
    expect(page.locator("#done")).to_have_text("User Anna Berg-Schmidt enabled.")
    assert services.sites.user("anna").enabled

    # Removing takes two clicks: open the block, then confirm (no script involved).
    confirm = page.locator('tr[data-user="anna"] .confirm-box button')
    expect(confirm).to_be_hidden()
    page.locator('tr[data-user="anna"] summary').click()
    expect(confirm).to_be_visible()
    expect(page.locator('tr[data-user="anna"] .confirm-box')).to_contain_text(
        "Remove Anna Berg-Schmidt for good?"
    )
    shoot(page, "user-remove-confirm-en")
    page.locator('tr[data-user="anna"]').get_by_role("button", name="Yes, remove").click()
    expect(page.locator("#done")).to_have_text("User Anna Berg-Schmidt removed.")
    expect(page.locator('tr[data-user="anna"]')).to_have_count(0)
    assert [u.id for u in services.sites.users()] == ["ops"]


def test_the_user_pages_in_german(
    signed_in: Page, server: LiveServer, services: Services, shoot: Callable[[Page, str], None]
) -> None:
    site(services)
    page = signed_in
    speak_german(page)
    page.goto(server.url + "/users")
    page.get_by_role("link", name="Benutzer anlegen").click()
    expect(page.locator("#f-categories-help")).to_contain_text("jede Kategorie aus: Kreuzen")
    page.get_by_label("ID", exact=True).fill("carla")
    page.get_by_label("Name", exact=True).fill("Carla")
    page.get_by_label("E-Mail-Adresse").fill("kaputt")
    page.get_by_label("Brand", exact=True).check()
    page.get_by_role("button", name="Benutzer anlegen").click()
    expect(page.locator("#error-summary")).to_contain_text("Nichts wurde gespeichert")
    expect(page.locator("#f-email-error")).to_contain_text(
        "Keine gültige E-Mail-Adresse: Das @-Zeichen fehlt (so: name@example.com)."
    )
    shoot(page, "user-errors-de")
    page.get_by_label("E-Mail-Adresse").fill("carla@firma.local")
    page.get_by_role("button", name="Benutzer anlegen").click()
    expect(page.locator("#done")).to_have_text("Benutzer Carla angelegt.")
    expect(page.locator("tr[data-user=carla] .user-advice")).to_have_text(
        "carla@firma.local liegt in einer internen Domain: richtig für einen Mailserver in "
        "diesem Netzwerk, E-Mail aus dem Internet erreicht sie nicht."
    )
    page.get_by_role("link", name="Anna Berg bearbeiten").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Benutzer Anna Berg bearbeiten")
    shoot(page, "user-edit-de")
    page.goto(server.url + "/users")
    page.get_by_role("button", name="Ops desk deaktivieren").click()
    expect(page.locator("#done")).to_have_text("Benutzer Ops desk deaktiviert.")
    shoot(page, "users-list-de")
