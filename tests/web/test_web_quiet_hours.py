"""Quiet hours on the user form and list, and "acknowledge warnings too" on the group form,
in Chromium (issue 13): set, shown again, removed, refused next to the section in the
admin's language; English and German at desktop and phone width (screenshots)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from web_data import site
from web_helpers import SCREENSHOTS, next_page, speak_german

from helpers import LiveServer
from tocsin.services.context import Services


def _save(page: Page) -> None:
    """Submit the user form; wait for the page it brings (saved or refused) to load."""
    with next_page(page):
        page.locator("#user-form button[type=submit]").click()


def _section_shots(page: Page, selector: str, name: str) -> None:
    """The section alone at 1280 and 375 px (the full pages are in ``shoot``'s pictures)."""
    size = page.viewport_size
    for width in (1280, 375):
        page.set_viewport_size({"width": width, "height": 900})
        page.locator(selector).screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"))
    if size is not None:
        page.set_viewport_size(size)


def _no_sideways_scroll(page: Page) -> None:
    wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 1, f"the page scrolls sideways by {wide} px"


def test_an_admin_sets_two_windows_sees_them_again_and_removes_one(
    signed_in: Page, server: LiveServer, services: Services
) -> None:
    site(services)
    page = signed_in
    page.goto(server.url + "/users/anna/edit")
    expect(page.locator(".quiet-row")).to_have_count(2)  # no windows yet: two blank rows
    for day in ("mon", "tue", "wed", "thu", "fri"):
        page.locator(f"#f-quiet-0-{day}").check()
    page.locator("#f-quiet-0-start").fill("22:00")
    page.locator("#f-quiet-0-end").fill("07:00")
    page.locator("#f-quiet-1-sat").check()
    page.locator("#f-quiet-1-sun").check()
    page.locator("#f-quiet-1-start").fill("00:00")
    page.locator("#f-quiet-1-end").fill("00:00")
    _save(page)
    texts = [w.text() for w in services.sites.user("anna").quiet_hours]
    assert texts == ["mon-fri 22:00-07:00", "sat,sun 00:00-00:00"]
    expect(page.locator("#users-table [data-user=anna] .quiet-hours")).to_contain_text(
        "Mon–Fri 22:00–07:00; Sat, Sun all day"
    )
    page.goto(server.url + "/users/anna/edit")
    expect(page.locator(".quiet-row")).to_have_count(4)  # two windows, two blank rows
    expect(page.locator("#f-quiet-0-start")).to_have_value("22:00")
    expect(page.locator("#f-quiet-0-wed")).to_be_checked()
    expect(page.locator("#f-quiet-0-sat")).not_to_be_checked()
    page.locator("#f-quiet-1-remove").check()
    _save(page)
    assert [w.text() for w in services.sites.user("anna").quiet_hours] == ["mon-fri 22:00-07:00"]


@pytest.mark.parametrize(
    ("language", "no_day", "no_time", "bad_hour"),
    [
        (
            "en",
            "Window 1: Tick at least one day",
            "Window 2: '' is not a time of day",
            "Window 2: '25:00' is not a time of day",
        ),
        (
            "de",
            "Fenster 1: Kreuzen Sie",
            "Fenster 2: '' ist keine Uhrzeit",
            "Fenster 2: '25:00' ist keine Uhrzeit",
        ),
    ],
)
def test_a_half_filled_row_is_refused_next_to_the_section_in_the_admins_language(
    signed_in: Page,
    server: LiveServer,
    services: Services,
    shoot: Callable[[Page, str], None],
    language: str,
    no_day: str,
    no_time: str,
    bad_hour: str,
) -> None:
    site(services)
    page = signed_in
    if language == "de":
        speak_german(page)
    page.goto(server.url + "/users/anna/edit")
    page.locator("#f-quiet-0-start").fill("22:00")  # times, but no day
    page.locator("#f-quiet-0-end").fill("07:00")
    page.locator("#f-quiet-1-sun").check()  # a day, but no end
    page.locator("#f-quiet-1-start").fill("01:00")
    _save(page)
    assert services.sites.user("anna").quiet_hours == ()
    expect(page.locator("#f-quiet-2-start")).to_have_count(1)  # the blank rows are back
    errors = page.locator("#quiet_hours-error, #f-quiet_hours .field-errors, #f-quiet_hours")
    expect(errors.first).to_contain_text(no_day)
    expect(page.locator("#f-quiet_hours")).to_contain_text(no_time)
    expect(page.locator("#f-quiet-0-start")).to_have_value("22:00")  # kept as typed
    expect(page.locator("#f-quiet-1-sun")).to_be_checked()
    page.locator("#f-quiet-0-mon").check()  # fix the first; an hour that does not exist
    page.locator("#f-quiet-1-start").fill("25:00")
    page.locator("#f-quiet-1-end").fill("07:00")
    _save(page)
    expect(page.locator("#f-quiet_hours")).to_contain_text(bad_hour)
    expect(page.locator("#f-quiet_hours")).not_to_contain_text(no_day)
    assert services.sites.user("anna").quiet_hours == ()
    shoot(page, f"quiet-refused-{language}")
    _section_shots(page, "#f-quiet_hours", f"quiet-refused-section-{language}")


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_form_and_the_list_at_desktop_and_phone_width(
    signed_in: Page,
    server: LiveServer,
    services: Services,
    shoot: Callable[[Page, str], None],
    language: str,
) -> None:
    site(services)
    services.sites.update_user(
        "anna", {"quiet_hours": ["mon-sun 00:00-00:00", "mon-fri 22:00-07:00"]}
    )
    page = signed_in
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    if language == "de":
        speak_german(page)
    page.goto(server.url + "/users")
    badge = page.locator("#users-table [data-user=anna] .quiet-until")
    # Every day all day leaves no hour free: the badge says so rather than "until" a week on.
    expect(badge).to_have_text("always quiet" if language == "en" else "immer Ruhezeit")
    windows = page.locator("#users-table [data-user=anna] .quiet-hours")
    expect(windows).to_contain_text(
        "Mon–Sun all day; Mon–Fri 22:00–07:00"
        if language == "en"
        else "Mo–So ganztägig; Mo–Fr 22:00–07:00"
    )
    shoot(page, f"quiet-users-{language}")
    _section_shots(page, "#users-table [data-user=anna]", f"quiet-users-row-{language}")
    page.goto(server.url + "/users/anna/edit")
    legend = "Quiet hours" if language == "en" else "Ruhezeiten"
    expect(page.locator("#f-quiet_hours legend").first).to_contain_text(legend)
    expect(page.locator("label[for=f-quiet-0-mon]")).to_have_text(
        "Mon" if language == "en" else "Mo"
    )
    page.set_viewport_size({"width": 375, "height": 800})
    _no_sideways_scroll(page)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.locator("#f-quiet_hours").scroll_into_view_if_needed()
    shoot(page, f"quiet-form-{language}")
    _section_shots(page, "#f-quiet_hours", f"quiet-form-section-{language}")
    assert errors == []


@pytest.mark.parametrize("language", ["en", "de"])
def test_a_group_asks_for_acknowledged_warnings_and_a_subgroup_inherits_it(
    signed_in: Page,
    server: LiveServer,
    services: Services,
    shoot: Callable[[Page, str], None],
    language: str,
) -> None:
    site(services)
    page = signed_in
    if language == "de":
        speak_german(page)
    page.goto(server.url + "/groups/hq/edit")
    expect(page.locator("#f-ack-inherit")).to_be_checked()
    page.locator("#f-ack-yes").check()
    with next_page(page):
        page.locator("#group-form button[type=submit]").click()
    assert services.sites.group("hq").ack_warnings is True
    page.goto(server.url + "/groups/b1/edit")
    expect(page.locator("#f-ack-inherit")).to_be_checked()
    expect(page.locator("label[for=f-ack-inherit]")).to_contain_text(
        "Inherit: yes" if language == "en" else "Erben: ja"
    )
    page.locator("#f-ack_warnings").scroll_into_view_if_needed()
    shoot(page, f"ack-warnings-{language}")
    _section_shots(page, "#f-ack_warnings", f"ack-warnings-section-{language}")
    page.locator("#f-ack-no").check()
    with next_page(page):
        page.locator("#group-form button[type=submit]").click()
    assert services.sites.group("b1").ack_warnings is False


@pytest.mark.parametrize(
    ("language", "why"),
    [
        ("en", "quiet hours: in the summary when they end"),
        ("de", "Ruhezeit: in der Zusammenfassung, wenn sie endet"),
    ],
)
def test_the_events_page_says_an_email_waits_for_the_end_of_quiet_hours(
    signed_in: Page, server: LiveServer, services: Services, language: str, why: str
) -> None:
    site(services)
    services.sites.update_user("anna", {"quiet_hours": ["mon-sun 00:00-00:00"]})
    alarm = {"group": "b1", "device": "Fridge", "sensor": "t", "category": "always"}
    (accepted,) = services.events.submit({**alarm, "severity": "alarm"})
    assert accepted.held == 1
    page = signed_in
    if language == "de":
        speak_german(page)
    page.goto(server.url + "/events")
    expect(page.locator("body")).to_contain_text(why)
