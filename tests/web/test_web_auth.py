"""First run, login, throttling, logout and CSRF refusals, in a real browser."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from web_helpers import ADMIN, ADMIN_PASSWORD, log_in

from helpers import LiveServer
from tocsin.services.context import Services


def test_first_run_creates_the_admin_and_then_disappears(
    page: Page, server: LiveServer, services: Services, shoot: Callable[[Page, str], None]
) -> None:
    page.goto(server.url + "/")
    expect(page).to_have_url(re.compile(r"/setup$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome to Tocsin")
    shoot(page, "first-run-en")
    page.get_by_role("link", name="Deutsch").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Willkommen bei Tocsin")
    expect(page.get_by_label("Sprache")).to_have_value("de")  # preset from the page language
    shoot(page, "first-run-de")
    page.get_by_role("link", name="English").click()

    page.get_by_label("Username").fill("chief")
    page.get_by_label("Password", exact=True).fill("correct horse battery")
    page.get_by_label("Password again").fill("correct horse battery!")
    page.get_by_role("button", name="Create administrator").click()
    expect(page.locator("#f-password2-error")).to_contain_text("The two passwords differ")
    expect(page.get_by_label("Username")).to_have_value("chief")
    assert services.accounts.first_run()

    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_label("Password again").fill("short")
    page.get_by_role("button", name="Create administrator").click()
    expect(page.locator("#f-password-error")).to_contain_text("at least 10 characters")

    page.get_by_label("Password", exact=True).fill("correct horse battery")
    page.get_by_label("Password again").fill("correct horse battery")
    page.get_by_label("Language").select_option("de")
    page.get_by_role("button", name="Create administrator").click()
    # Created, logged in, and the pages speak the chosen language.
    expect(page).to_have_url(re.compile(r"/settings/email$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("E-Mail-Einstellungen")
    assert not services.accounts.first_run()

    page.goto(server.url + "/setup")  # only while no admin exists
    expect(page).to_have_url(re.compile(r"/settings/email$"))


@pytest.mark.parametrize(
    ("language", "password", "again", "create", "too_short", "differ"),
    [
        ("en", "Password", "Password again", "Create administrator",
         "at least 10 characters", "The two passwords differ"),
        ("de", "Passwort", "Passwort wiederholen", "Administrator anlegen",
         "mindestens 10 Zeichen", "Die beiden Passwörter unterscheiden sich"),
    ],
)  # fmt: skip
def test_first_run_names_a_short_password_and_a_mismatch_together(
    page: Page,
    server: LiveServer,
    services: Services,
    language: str,
    password: str,
    again: str,
    create: str,
    too_short: str,
    differ: str,
) -> None:
    page.goto(server.url + "/setup")
    if language == "de":
        page.get_by_role("link", name="Deutsch").click()
    page.get_by_label(password, exact=True).fill("short")
    page.get_by_label(again).fill("shorter")
    page.get_by_role("button", name=create).click()
    expect(page.locator("#f-password-error")).to_contain_text(too_short)
    expect(page.locator("#f-password2-error")).to_contain_text(differ)
    assert services.accounts.first_run()


def test_first_run_page_is_gone_once_an_admin_exists(
    page: Page, server: LiveServer, admin: str
) -> None:
    page.goto(server.url + "/setup")
    expect(page).to_have_url(re.compile(r"/login$"))


def test_login_wrong_password_then_right_then_logout(
    page: Page, server: LiveServer, admin: str, shoot: Callable[[Page, str], None]
) -> None:
    page.goto(server.url + "/settings/email")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fsettings%2Femail$"))
    shoot(page, "login-en")

    page.get_by_label("Username").fill(ADMIN)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    expect(page.get_by_label("Username")).to_have_value(ADMIN)
    expect(page.get_by_label("Password")).to_have_value("")

    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/settings/email$"))
    cookie = next(c for c in page.context.cookies() if c["name"] == "tocsin_session")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["secure"] is False  # plain http on loopback; Secure over https

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login\?out=1$"))
    expect(page.get_by_role("status")).to_have_text("You have logged out.")
    page.goto(server.url + "/settings/email")
    expect(page).to_have_url(re.compile(r"/login"))


def test_login_is_throttled_after_repeated_failures(
    page: Page, server: LiveServer, admin: str
) -> None:
    page.goto(server.url + "/login")
    for _ in range(5):
        page.get_by_label("Username").fill(ADMIN)
        page.get_by_label("Password").fill("wrong guess")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    # Even the right password waits now: the message says how long.
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text(
        re.compile(r"Too many failed attempts\. Wait \d+ s, then try again\.")
    )
    expect(page).to_have_url(re.compile(r"/login$"))


def test_forms_without_csrf_token_are_refused(
    page: Page,
    server: LiveServer,
    services: Services,
    admin: str,
    shoot: Callable[[Page, str], None],
) -> None:
    # The login form: drop the double-submit token before posting.
    page.goto(server.url + "/login")
    page.locator('input[name="csrf_token"]').evaluate("node => node.remove()")
    page.get_by_label("Username").fill(ADMIN)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("This form was refused")
    assert not any(c["name"] == "tocsin_session" for c in page.context.cookies())

    # The settings form of a logged-in admin: a token-less save changes nothing.
    log_in(page, server.url)
    page.get_by_label("Server address").fill("smtp.attacker.example")
    page.locator('#settings-form input[name="csrf_token"]').evaluate("node => node.remove()")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("alert")).to_contain_text("This form was refused")
    assert services.settings.load().host == ""
    shoot(page, "refused-en")

    # A forged token is no better than none.
    page.go_back()
    page.reload()
    page.locator('#settings-form input[name="csrf_token"]').evaluate(
        "node => node.value = 'x' + node.value"
    )
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("alert")).to_contain_text("This form was refused")
    assert services.settings.load().host == ""


def test_an_ended_session_leads_to_the_login_page_with_a_word_why(
    page: Page, server: LiveServer, admin: str, shoot: Callable[[Page, str], None]
) -> None:
    page.context.add_cookies(
        [{"name": "tocsin_session", "value": "tss_long-gone", "url": server.url}]
    )
    page.goto(server.url + "/deliveries")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fdeliveries&expired=1$"))
    expect(page.get_by_role("status")).to_have_text("Your session has ended. Log in again.")
    page.get_by_role("link", name="Deutsch").click()  # the switch keeps where to go next
    expect(page.get_by_role("status")).to_have_text(
        "Ihre Sitzung ist abgelaufen. Melden Sie sich erneut an."
    )
    shoot(page, "login-de")
    page.get_by_role("link", name="English").click()
    page.get_by_label("Username").fill(ADMIN)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/deliveries$"))  # back where the visit began
