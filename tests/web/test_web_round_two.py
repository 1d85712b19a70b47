"""Issue 20's second round of the pages, in Chromium, in English and German at 375 and
1280 px: covered subgroups on the user form, new users in the site's zone, the events
page's times in the admin's zone, the labelled device text of the alarm email, and the
delivery log's detail view.  Screenshots go to $TOCSIN_SHOTS (test-artifacts by default).
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from test_alarm_email_in_browser import alarm_html
from web_data import dead_email, site
from web_helpers import SCREENSHOTS

from delivery_story import BUSY_REPLY, LATER_REPLY, SENT_REPLY, alarm_emails, ops_tries_again
from helpers import LiveServer
from tocsin.http import SESSION_COOKIE
from tocsin.model import Language
from tocsin.routing import covered_groups, route
from tocsin.security import hash_token, new_token
from tocsin.services.context import Services

SITE_ZONE = "Europe/Vienna"  # the server's zone in these tests ($TZ)
SHOTS = Path(os.environ.get("TOCSIN_SHOTS", str(SCREENSHOTS)))
WIDTHS = (375, 1280)
CASES = [(lang, width) for lang in ("en", "de") for width in WIDTHS]
IDS = [f"{lang}-{width}" for lang, width in CASES]
WORDS = {
    "en": {"through": "included through {}", "save": "Save user", "unit": "Unit (optional)",
           "zone_pick": "Show times in", "details": "Details", "label": "Message from the device",
           "event": "Show the event", "with_sub": "with its 1 subgroup",
           "attempts": "Each attempt", "attempt": "Attempt {}", "accepted": "accepted",
           "again": "failed for now, tried again", "via": "via backup link 1",
           "note": "keeps the newest 20 attempts"},
    "de": {"through": "enthalten über {}", "save": "Benutzer speichern",
           "unit": "Einheit (optional)", "zone_pick": "Zeiten anzeigen in", "details": "Details",
           "label": "Meldung des Geräts",
           "event": "Ereignis zeigen", "with_sub": "mit 1 Untergruppe",
           "attempts": "Die Versuche einzeln", "attempt": "Versuch {}", "accepted": "angenommen",
           "again": "vorerst gescheitert, neuer Versuch folgt", "via": "über Ausweichweg 1",
           "note": "die 20 neuesten Versuche"},
}  # fmt: skip


@pytest.fixture
def services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    """A data directory opened on a server whose local zone ($TZ) is Vienna."""
    monkeypatch.setenv("TZ", SITE_ZONE)
    opened = Services.open(tmp_path / "data")
    monkeypatch.delenv("TZ")
    yield opened
    opened.close()


def _open(
    browser: Browser, server: LiveServer, services: Services, admin: str, language: str,
    width: int, *, javascript: bool = True,
) -> tuple[BrowserContext, Page]:  # fmt: skip
    """A signed-in page in ``language`` at ``width`` px (with or without JavaScript)."""
    found = services.store.admin_credentials(admin)
    assert found is not None
    services.store.set_admin_language(found[0].id, language)
    context = browser.new_context(
        viewport={"width": width, "height": 900}, java_script_enabled=javascript
    )
    session_id, now = new_token("tss"), time.time()
    services.store.add_session(
        hash_token(session_id), found[0].id, secrets.token_urlsafe(32), now, now + 3600
    )
    context.add_cookies(
        [{"name": SESSION_COOKIE, "value": session_id, "url": server.url, "httpOnly": True}]
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.errors = errors  # type: ignore[attr-defined]
    return context, page


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _no_sideways_scroll(page: Page) -> None:
    wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 1, f"the page scrolls sideways by {wide} px"


def _box(page: Page, name: str):
    return page.locator(f'#group-checks li[data-name="{name}"] input[type=checkbox]')


def _note(page: Page, name: str):
    return page.locator(f'#group-checks li[data-name="{name}"] .through')


# ---------------------------------------------------------------- 1. covered subgroups
@pytest.mark.parametrize(("language", "width"), CASES, ids=IDS)
def test_a_ticked_group_covers_its_subgroups_in_form_storage_and_routing(
    browser: Browser, server: LiveServer, services: Services, admin: str, language: str,
    width: int,
) -> None:  # fmt: skip
    site(services)  # Anna: Building 1 (so the Server room is covered); Ops desk: Headquarters
    words = WORDS[language]
    context, page = _open(browser, server, services, admin, language, width)
    try:
        page.goto(server.url + "/users/anna/edit")
        # Server-rendered and live alike: Building 1 ticked, the Server room covered.
        expect(_box(page, "Building 1")).to_be_checked()
        expect(_box(page, "Building 1")).to_be_enabled()
        expect(_box(page, "Server room")).to_be_checked()
        expect(_box(page, "Server room")).to_be_disabled()
        expect(_note(page, "Server room")).to_have_text(words["through"].format("Building 1"))
        expect(_note(page, "Building 1")).to_be_hidden()

        _box(page, "Headquarters").check()  # live: everything below is covered now
        for name in ("Building 1", "Server room"):
            expect(_box(page, name)).to_be_checked()
            expect(_box(page, name)).to_be_disabled()
            expect(_note(page, name)).to_have_text(words["through"].format("Headquarters"))
        _shot(page, f"users-covered-{language}-{width}")
        _no_sideways_scroll(page)

        _box(page, "Headquarters").uncheck()  # Building 1 gets its own tick back
        expect(_box(page, "Building 1")).to_be_checked()
        expect(_box(page, "Building 1")).to_be_enabled()
        expect(_note(page, "Server room")).to_have_text(words["through"].format("Building 1"))

        _box(page, "Headquarters").check()
        page.get_by_role("button", name=words["save"], exact=True).click()
        expect(page).to_have_url(re.compile(r"/users\?done=saved"))
        row = page.locator('tr[data-user="anna"]')
        expect(row).to_contain_text("Headquarters")
        expect(row.locator(".with-subgroups")).to_have_text(
            "with its 2 subgroups" if language == "en" else "mit 2 Untergruppen"
        )
        _shot(page, f"users-list-covered-{language}-{width}")
        assert not page.errors  # type: ignore[attr-defined]
    finally:
        context.close()

    # Stored: only the covering group (a locked box is not sent); routing agrees.
    anna = services.sites.user("anna")
    assert anna.group_ids == frozenset({"hq"})
    view = services.sites.view()
    assert set(covered_groups(view.tree, anna.group_ids)) == {"b1", "sr"}
    for group in ("hq", "b1", "sr"):
        (accepted,) = services.events.submit(
            {"group": group, "category": "fire", "severity": "alarm", "state": "raised",
             "device": "Rack 4", "sensor": "Smoke"}
        )  # fmt: skip
        event = services.events.get(accepted.id)
        assert event is not None
        decision = route(event.stored.event, tree=view.tree, users=view.users)
        assert "anna" in {u.id for u in decision.send}, group


def test_without_javascript_the_server_renders_the_covered_state_and_saves_it(
    browser: Browser, server: LiveServer, services: Services, admin: str
) -> None:
    site(services)
    context, page = _open(browser, server, services, admin, "en", 1280, javascript=False)
    try:
        page.goto(server.url + "/users/ops/edit")  # Ops desk: Headquarters
        for name in ("Building 1", "Server room"):
            expect(_box(page, name)).to_be_checked()
            expect(_box(page, name)).to_be_disabled()
            expect(_note(page, name)).to_have_text("included through Headquarters")
        _box(page, "Headquarters").uncheck()  # no script: nothing changes until saved
        expect(_box(page, "Server room")).to_be_disabled()
        page.get_by_role("button", name="Save user", exact=True).click()
        expect(page).to_have_url(re.compile(r"/users\?done=saved"))
        assert services.sites.user("ops").group_ids == frozenset()
        page.goto(server.url + "/users/ops/edit")
        expect(_box(page, "Server room")).to_be_enabled()
        expect(_box(page, "Server room")).not_to_be_checked()
        expect(_note(page, "Server room")).to_be_hidden()
    finally:
        context.close()


# ---------------------------------------------------------------- 2. the site's zone
@pytest.mark.parametrize(("language", "width"), CASES, ids=IDS)
def test_a_new_user_starts_in_the_sites_zone(
    browser: Browser, server: LiveServer, services: Services, admin: str, language: str,
    width: int,
) -> None:  # fmt: skip
    site(services)
    assert services.sites.site_zone == SITE_ZONE
    context, page = _open(browser, server, services, admin, language, width)
    try:
        page.goto(server.url + "/users/new")
        expect(page.locator("#f-time_zone")).to_have_value(SITE_ZONE)
        expect(page.locator("#f-time_zone-help")).to_contain_text(SITE_ZONE)
        expect(page.locator("#f-time_zone-help")).to_contain_text(
            "site's time zone" if language == "en" else "Zeitzone des Standorts"
        )
        page.locator("#f-id").fill("bert")
        page.locator("#f-name").fill("Bert")
        page.locator("#f-email").fill("bert@example.org")
        _shot(page, f"user-new-zone-{language}-{width}")
        _no_sideways_scroll(page)
        page.locator("form button[type=submit].primary").click()
        expect(page).to_have_url(re.compile(r"/users\?done=added"))
        expect(page.locator('tr[data-user="bert"]')).to_contain_text(SITE_ZONE)
    finally:
        context.close()
    assert services.sites.user("bert").time_zone == SITE_ZONE


# ---------------------------------------------------------------- 3. events: the admin's zone
def _in(zone: str, timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S")


@pytest.mark.parametrize(("language", "width"), CASES, ids=IDS)
def test_events_show_times_in_the_zone_the_admin_picks(
    browser: Browser, server: LiveServer, services: Services, admin: str, language: str,
    width: int,
) -> None:  # fmt: skip
    site(services)
    (accepted,) = services.events.submit(
        {"group": "sr", "category": "fire", "severity": "alarm", "state": "raised",
         "device": "Rack 4", "sensor": "Smoke", "text": "Smoke detected"}
    )  # fmt: skip
    dead_email(services)  # a row in the delivery log, to see its times too
    record = services.events.get(accepted.id)
    assert record is not None
    received = record.stored.received_at
    words = WORDS[language]
    context, page = _open(browser, server, services, admin, language, width)
    try:
        page.goto(server.url + "/events")
        expect(page.locator("label[for=f-unit]")).to_have_text(words["unit"])
        if language == "de":  # the wording of issue 20 (point 6)
            expect(page.locator("label[for=f-severity]")).to_have_text("Schweregrad")
            assert not re.search(r"gemailt|\bSchwere\b", page.locator("body").inner_text())
        cell = page.locator(f'tr[data-event="{accepted.id}"] td').first
        expect(page.locator("#events-table thead")).to_contain_text(f"({SITE_ZONE})")
        expect(cell).to_have_text(_in(SITE_ZONE, received))
        expect(cell).to_have_attribute("data-label", re.compile(re.escape(f"({SITE_ZONE})")))
        expect(page.get_by_label(words["zone_pick"])).to_have_value(SITE_ZONE)

        page.get_by_label(words["zone_pick"]).select_option("Asia/Tokyo")  # applies at once
        expect(page.locator("#events-table thead")).to_contain_text("(Asia/Tokyo)")
        expect(cell).to_have_text(_in("Asia/Tokyo", received))
        _shot(page, f"events-zone-{language}-{width}")
        _no_sideways_scroll(page)
        page.goto(server.url + "/deliveries")  # the choice holds on the other pages
        expect(page.locator("table.log thead").first).to_contain_text("(Asia/Tokyo)")
        assert not page.errors  # type: ignore[attr-defined]
    finally:
        context.close()


def test_the_zone_picker_works_without_javascript_and_refuses_an_unknown_zone(
    browser: Browser, server: LiveServer, services: Services, admin: str
) -> None:
    site(services)
    services.events.submit(
        {"group": "sr", "category": "fire", "severity": "alarm", "state": "raised",
         "device": "Rack 4", "sensor": "Smoke"}
    )  # fmt: skip
    context, page = _open(browser, server, services, admin, "en", 375, javascript=False)
    try:
        page.goto(server.url + "/events")
        page.get_by_label("Show times in").select_option("America/New_York")
        page.get_by_role("button", name="Show", exact=True).click()
        expect(page.locator("#events-table thead")).to_contain_text("(America/New_York)")
        # A forged zone: refused in words, the page keeps the last good one.
        page.locator("#f-zone").evaluate("s => { s.options[0].value = 'Mars/Olympus'; }")
        page.get_by_label("Show times in").select_option(index=0)
        page.get_by_role("button", name="Show", exact=True).click()
        expect(page.locator("#f-zone-error")).to_have_text(
            "Unknown time zone: choose one from the list."
        )
        expect(page.locator("#events-table thead")).to_contain_text("(America/New_York)")
    finally:
        context.close()


# ---------------------------------------------------------------- 4. the alarm email's text
@pytest.mark.parametrize(("language", "width"), CASES, ids=IDS)
def test_the_alarm_email_labels_the_devices_text(
    browser: Browser, language: str, width: int
) -> None:
    page = browser.new_page(viewport={"width": width, "height": 900})
    try:
        page.set_content(alarm_html(Language(language)))
        label = page.get_by_text(WORDS[language]["label"], exact=True)
        expect(label).to_be_visible()
        cell = label.locator("xpath=..")  # the label heads the cell of the event's text
        expect(cell).to_contain_text("Check the air conditioning.")
        label_box, cell_box = label.bounding_box(), cell.bounding_box()
        assert label_box is not None
        assert cell_box is not None
        assert label_box["y"] + label_box["height"] + 10 < cell_box["y"] + cell_box["height"]
        first = cell.evaluate("td => td.firstElementChild.textContent")
        assert first == WORDS[language]["label"]
        _shot(page, f"alarm-email-label-{language}-{width}")
    finally:
        page.close()


# ---------------------------------------------------------------- 5. one email in full
@pytest.mark.parametrize(("language", "width"), CASES, ids=IDS)
def test_the_delivery_detail_tells_one_emails_story(
    browser: Browser, server: LiveServer, services: Services, admin: str, language: str,
    width: int,
) -> None:  # fmt: skip
    site(services)
    event_id, ids = alarm_emails(services)
    services.settings.update({"username": "alarm@example.com", "password": "Pw-never-on-a-page"})
    words = WORDS[language]
    context, page = _open(browser, server, services, admin, language, width)
    try:
        page.goto(server.url + "/deliveries")
        page.locator(f'a.detail-link[href="/deliveries/{ids["anna"]}"]').click()
        expect(page).to_have_url(re.compile(rf"/deliveries/{ids['anna']}$"))
        expect(page.locator("#message-id")).to_have_text(re.compile(rf"^<{event_id}\."))
        delivery = page.locator('section.delivery[data-recipient="anna@example.com"]')
        expect(delivery.locator(".attempts")).to_have_text("1")
        expect(delivery.locator(".sent-at")).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d "))
        expect(delivery.locator(".server-answer")).to_have_text(SENT_REPLY)
        expect(page.locator("#headers")).to_contain_text("Message-ID")
        expect(page.locator("#headers")).to_contain_text("anna@example.com")
        expect(page.locator("body")).to_contain_text(SITE_ZONE)
        assert "Pw-never-on-a-page" not in page.content()
        _shot(page, f"delivery-detail-sent-{language}-{width}")
        _no_sideways_scroll(page)

        page.goto(server.url + f"/deliveries/{ids['ops']}")
        delivery = page.locator('section.delivery[data-recipient="ops@example.net"]')
        expect(delivery.locator(".server-answer")).to_have_text(LATER_REPLY)
        expect(delivery.locator(".sent-at")).to_have_count(0)
        expect(delivery.locator(".attempt")).to_have_count(1)
        expect(delivery.locator(".attempt .attempt-answer")).to_have_text(LATER_REPLY)
        expect(delivery.locator(".attempt .badge")).to_have_text(words["again"])
        _shot(page, f"delivery-detail-later-{language}-{width}")

        ops_tries_again(services, ids["ops"])  # busy through backup link 1, then accepted
        page.reload()
        expect(delivery.get_by_role("heading", name=words["attempts"])).to_be_visible()
        items = delivery.get_by_role("list", name=words["attempts"]).locator("li.attempt")
        expect(items).to_have_count(3)
        expect(items.locator(".attempt-head strong")).to_have_text(
            [words["attempt"].format(n) for n in (3, 2, 1)]  # newest first
        )
        expect(items.locator(".attempt-answer")).to_have_text([SENT_REPLY, BUSY_REPLY, LATER_REPLY])
        expect(items.nth(0).locator(".badge")).to_have_text(words["accepted"])
        expect(items.nth(0).locator(".link-used")).to_have_text(words["via"])
        expect(items.nth(2).locator(".link-used")).to_have_count(0)
        expect(items.nth(0).locator(".attempt-at")).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d "))
        expect(page.locator("#attempts-note")).to_contain_text(words["note"])
        _no_sideways_scroll(page)
        _shot(page, f"delivery-detail-attempts-{language}-{width}")

        page.get_by_role("link", name=words["event"]).click()
        expect(page).to_have_url(re.compile(rf"/events\?event={event_id}"))
        expect(page.locator(f"#event-{event_id}")).to_have_class(re.compile(r"row-chosen"))

        missing = page.goto(server.url + "/deliveries/999999")
        assert missing is not None
        assert missing.status == 404
        assert not [e for e in page.errors if "404" not in e]  # type: ignore[attr-defined]
    finally:
        context.close()
