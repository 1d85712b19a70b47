"""The email settings page: port presets, warnings, errors next to fields, advice, secrets."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Page, expect
from web_helpers import log_in, next_page

from helpers import LiveServer
from tocsin.services.context import Services

SECRET = "Zq9-stored-secret-Pw"


def _encryption(page: Page, label: str) -> None:
    page.locator("#settings-form").get_by_label(label, exact=True).check()


def test_switching_encryption_presets_the_port_at_once(signed_in: Page) -> None:
    page = signed_in
    port = page.get_by_label("Port", exact=True)
    expect(port).to_have_value("587")  # STARTTLS is the default
    _encryption(page, "SSL")
    expect(port).to_have_value("465")
    expect(page.locator("#port-preset")).to_have_text("Port set to 465, the usual port for SSL.")
    _encryption(page, "None")
    expect(port).to_have_value("25")
    _encryption(page, "STARTTLS")
    expect(port).to_have_value("587")
    # A port the user chose is theirs: the preset only replaces a default.
    port.fill("2525")
    _encryption(page, "SSL")
    expect(port).to_have_value("2525")
    expect(page.locator("#port-preset")).to_have_text("")


def test_choosing_no_encryption_shows_the_warning_at_once(signed_in: Page) -> None:
    page = signed_in
    warning = page.locator("#encryption-none-warning")
    expect(warning).to_be_hidden()
    _encryption(page, "None")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("strongly recommended")
    expect(page.get_by_label("Allow sending the password without encryption")).to_be_visible()
    _encryption(page, "SSL")
    expect(warning).to_be_hidden()


def test_unchecking_certificate_verification_says_it_is_insecure(signed_in: Page) -> None:
    page = signed_in
    expect(page.locator("#tls-verify-off")).to_be_hidden()
    page.get_by_label("Verify the server's certificate").uncheck()
    expect(page.locator("#tls-verify-off")).to_be_visible()
    expect(page.locator("#tls-verify-off")).to_contain_text("Insecure")


def test_online_service_shows_its_advantages_and_status(
    signed_in: Page, shoot: Callable[[Page, str], None]
) -> None:
    page = signed_in
    online = page.locator("#online-settings")
    expect(online).to_be_hidden()
    page.locator("#transport-choice").get_by_role("radio", name="Online service").check()
    expect(online).to_be_visible()
    expect(page.locator("#smtp-settings")).to_be_hidden()
    for advantage in ("No SMTP settings", "STARTTLS", "Less to configure", "delivery rates"):
        expect(online.get_by_role("listitem").filter(has_text=advantage)).to_have_count(1)
    expect(online).to_contain_text("Not enrolled yet")
    shoot(page, "settings-online-en")
    # Enabling email through a service that is not set up is refused, next to the choice.
    page.get_by_label("Send email notifications").check()
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#f-transport-error")).to_contain_text("not set up")


def test_an_invalid_field_is_refused_next_to_it_and_nothing_is_saved(
    signed_in: Page, services: Services, shoot: Callable[[Page, str], None]
) -> None:
    page = signed_in
    page.get_by_label("Send email notifications").check()
    page.get_by_label("Sender address").fill("alarms at example dot com")
    page.get_by_label("Server address").fill("smtp.example.com")
    page.get_by_label("Port", exact=True).fill("70000")
    page.get_by_label("Password", exact=True).fill("typed but refused")
    page.get_by_role("button", name="Save settings").click()

    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("Nothing was saved")
    expect(page.locator("#f-sender_address-error")).to_contain_text(
        "Not a valid email address: it contains a space."
    )
    expect(page.locator("#f-port-error")).to_contain_text("Enter a number from 1 to 65535")
    expect(page.get_by_label("Sender address")).to_have_attribute("aria-invalid", "true")
    # What was typed stays for correcting, except the password, which is never sent back.
    expect(page.get_by_label("Server address")).to_have_value("smtp.example.com")
    expect(page.get_by_label("Password", exact=True)).to_have_value("")
    expect(summary).to_contain_text("Type it again")
    assert "typed but refused" not in page.content()
    shoot(page, "settings-errors-en")

    saved = services.settings.load()
    assert (saved.enabled, saved.host, saved.sender_address, saved.password) == (
        False,
        "",
        "",
        None,
    )

    # The summary links to the field.
    summary.get_by_role("link", name="Port").click()
    expect(page.get_by_label("Port", exact=True)).to_be_focused()


def test_valid_settings_are_saved_and_the_advice_shows(
    signed_in: Page, services: Services, shoot: Callable[[Page, str], None]
) -> None:
    page = signed_in
    page.get_by_label("Send email notifications").check()
    page.get_by_label("Sender address").fill("alarms@example.com")
    page.get_by_label("Sender name").fill("Server room")
    page.get_by_label("Server address").fill("mail.example.com")
    _encryption(page, "None")
    page.get_by_label("Username", exact=True).fill("alarms@example.com")
    expect(page.locator("#unsaved-note")).to_be_visible()
    page.get_by_role("button", name="Save settings").click()

    expect(page).to_have_url(re.compile(r"/settings/email\?saved=1$"))
    expect(page.get_by_role("status").filter(has_text="Settings saved.")).to_be_visible()
    advice = page.locator("#advice")
    expect(advice.locator('li[data-field="encryption"]')).to_contain_text("Encryption is off")
    expect(advice.locator('li[data-field="password"]').first).to_be_visible()
    expect(page.locator("#settings-form")).to_contain_text("app-specific password")
    shoot(page, "settings-saved-en")

    saved = services.settings.load()
    assert saved.enabled
    assert saved.host == "mail.example.com"
    assert saved.port == 25
    assert saved.sender_name == "Server room"
    assert saved.encryption.value == "none"
    # The page shows what was saved, the warning included (rendered, not only scripted).
    expect(page.locator("#encryption-none-warning")).to_be_visible()
    expect(page.get_by_label("Allow sending the password without encryption")).to_be_visible()
    # Advice in the page's words: no command-line instructions on a web page.
    expect(advice).to_contain_text("Enter the password of the mail account under Authentication")
    expect(advice).not_to_contain_text("tocsin settings")
    expect(page.get_by_label("Port", exact=True)).to_have_value("25")
    expect(page.get_by_label("Send email notifications")).to_be_checked()


def test_port_follows_encryption_without_javascript_too(
    signed_in: Page, services: Services
) -> None:
    """A form whose port was left alone lets the service preset it (same rule as the API)."""
    page = signed_in
    # Setting .checked fires no change event: the script does not see it, as if it were off.
    page.locator("#f-encryption-ssl").evaluate("node => { node.checked = true; }")
    expect(page.get_by_label("Port", exact=True)).to_have_value("587")
    page.get_by_role("button", name="Save settings").click()
    expect(page).to_have_url(re.compile(r"saved=1$"))
    assert services.settings.load().port == 465


def test_the_stored_password_is_nowhere_in_the_page(
    page: Page, server: LiveServer, services: Services, admin: str
) -> None:
    services.settings.update(
        {"host": "mail.example.com", "username": "alarms@example.com", "password": SECRET}
    )
    log_in(page, server.url)
    expect(page.get_by_label("Password", exact=True)).to_have_value("")
    expect(page.locator("#f-password-help")).to_contain_text("A password is set")
    for path in ("/settings/email", "/settings/email?saved=1", "/deliveries", "/users"):
        page.goto(server.url + path)
        assert SECRET not in page.content(), path

    # Saving other fields keeps it; the clear checkbox removes it.
    page.goto(server.url + "/settings/email")
    page.get_by_label("Sender name").fill("Ops")
    with next_page(page, re.compile(r"saved=1$")):  # settings.js drives the clear box
        page.get_by_role("button", name="Save settings").click()
    assert services.settings.load().password is not None
    assert services.settings.load().password.reveal() == SECRET  # type: ignore[union-attr]
    page.get_by_label("Remove the stored password").check()
    expect(page.get_by_label("Password", exact=True)).to_be_disabled()
    with next_page(page, re.compile(r"saved=1$")):  # the address was that already
        page.get_by_role("button", name="Save settings").click()
    assert services.settings.load().password is None
    expect(page.locator("#f-password-help")).to_have_text("No password is set.")
