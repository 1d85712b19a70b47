"""The group form's escalation section in Chromium (issue 13): set, inherit, off, refusals,
in English and German at desktop and phone width."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from web_data import site
from web_helpers import next_page, speak_german

from helpers import LiveServer
from tocsin.ack import AckVia
from tocsin.services.context import Services

SHOTS = Path("/work/helper-notes/shots/wt13b")


def _user(services: Services) -> str:
    return services.sites.users()[0].id


def test_an_admin_sets_a_policy_the_subgroup_inherits_it_and_off_stops_it(
    signed_in: Page, server: LiveServer, services: Services
) -> None:
    site(services)
    user = _user(services)
    page = signed_in
    page.goto(server.url + "/groups/hq/edit")
    expect(page.locator("#f-esc-inherit")).to_be_checked()
    page.locator("#f-esc-own").check()
    page.locator("#f-esc-cat-fire").check()
    page.locator("#f-esc-cat-sabotage").check()
    page.locator("#f-esc-steps").fill(f"5: {user}")
    page.locator("#f-esc-every").fill("10")
    page.locator("#f-esc-max").fill("3")
    with next_page(page):
        page.get_by_role("button", name="Save group").click()
    expect(page.locator("body")).not_to_contain_text("escalation_")
    own = services.sites.group_dict(services.sites.group("hq"))["escalation"]
    assert own == {
        "categories": ["fire", "sabotage"],
        "steps": [{"after_minutes": 5, "users": [user]}],
        "remind_every": 10,
        "remind_max": 3,
    }
    page.goto(server.url + "/groups/sr/edit")
    expect(page.locator("#f-esc-inherit")).to_be_checked()
    expect(page.locator("#f-esc-from")).to_contain_text("Headquarters")
    page.locator("#f-esc-off").check()
    with next_page(page):
        page.get_by_role("button", name="Save group").click()
    found = services.sites.group_dict(services.sites.group("sr"))["effective_escalation"]
    assert found is not None
    assert (found["from"], found["categories"]) == ("sr", [])
    page.goto(server.url + "/groups/hq/edit")  # the saved policy shows as typed
    expect(page.locator("#f-esc-own")).to_be_checked()
    expect(page.locator("#f-esc-steps")).to_have_value(f"5: {user}")
    expect(page.locator("#f-esc-cat-fire")).to_be_checked()
    expect(page.locator("#f-esc-cat-always")).not_to_be_checked()


@pytest.mark.parametrize("language", ["en", "de"])
def test_a_bad_step_is_refused_next_to_the_section_in_the_admins_language(
    signed_in: Page, server: LiveServer, services: Services, language: str
) -> None:
    site(services)
    page = signed_in
    if language == "de":
        speak_german(page)
    page.goto(server.url + "/groups/hq/edit")
    page.locator("#f-esc-own").check()
    page.locator("#f-esc-cat-fire").check()
    page.locator("#f-esc-steps").fill("5: nobody")
    page.locator("button[type=submit]").last.click()
    errors = page.locator("#f-escalation")
    text = "den es nicht gibt" if language == "de" else "does not exist"
    expect(errors).to_contain_text(text)
    expect(page.locator("#f-esc-steps")).to_have_value("5: nobody")  # kept as typed
    assert services.sites.group_dict(services.sites.group("hq"))["escalation"] is None


@pytest.mark.parametrize(
    ("language", "width"), [("en", 1280), ("en", 375), ("de", 1280), ("de", 375)]
)
def test_the_section_fits_at_desktop_and_phone_width(
    signed_in: Page,
    server: LiveServer,
    services: Services,
    shoot: Callable[[Page, str], None],
    language: str,
    width: int,
) -> None:
    site(services)
    page = signed_in
    page.set_viewport_size({"width": width, "height": 900})
    if language == "de":
        speak_german(page)
    page.goto(server.url + "/groups/hq/edit")
    page.locator("#f-esc-own").check()
    section = page.locator("section[aria-labelledby=esc-heading]")
    expect(section.locator("h2")).to_have_text("Eskalation" if language == "de" else "Escalation")
    box = section.bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= width, box
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, scroll
    SHOTS.mkdir(parents=True, exist_ok=True)
    section.screenshot(path=str(SHOTS / f"escalation-{language}-{width}.png"))


def test_the_events_page_shows_the_escalation_state(
    signed_in: Page, server: LiveServer, services: Services
) -> None:
    site(services)
    services.settings.update({"sender_address": "alarm@example.com"})
    user = _user(services)
    policy = {"categories": ["fire"], "steps": [{"after_minutes": 5, "users": [user]}]}
    services.sites.update_group("hq", {"escalation": policy})
    (accepted,) = services.events.submit(
        {"group": "sr", "device": "Det", "sensor": "smoke", "category": "fire", "severity": "alarm"}
    )
    page = signed_in
    page.goto(server.url + "/events")
    expect(page.locator(".esc-state")).to_contain_text("Escalation steps done: 0/1 · next at")
    services.acks.acknowledge(accepted.id, by="Anna", via=AckVia.WEB)
    page.reload()
    expect(page.locator(".esc-state")).to_contain_text("0/1 · stopped")
    speak_german(page)
    expect(page.locator(".esc-state")).to_contain_text("Eskalationsstufen erledigt: 0/1 · beendet")
