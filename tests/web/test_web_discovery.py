"""The settings page's "Find settings" in Chromium: presets and lookups fill, never save.

The lookups go to dnsmasq and the local autoconfig HTTPS server (discovery_servers).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page, expect

from discovery_servers import discovery_ca, discovery_options, dns_server, https_server
from helpers import LiveServer
from tocsin.app import create_app
from tocsin.providers.discovery import Discovery, DiscoveryOptions
from tocsin.services.context import Services

__all__ = ["discovery_ca", "discovery_options", "dns_server", "https_server"]


@pytest.fixture
def server(services: Services, discovery_options: DiscoveryOptions) -> Iterator[LiveServer]:
    app = create_app(services)
    app.state.discovery = Discovery(discovery_options)
    live = LiveServer(app)
    yield live
    live.close()


def _stored(services: Services) -> str | None:
    return services.store.get_value("email_settings")


def test_a_preset_fills_host_port_and_encryption_and_says_what_else_is_needed(
    signed_in: Page, services: Services, shoot: Callable[[Page, str], None]
) -> None:
    page = signed_in
    before = _stored(services)
    page.get_by_label("Provider").select_option(label="iCloud Mail")
    expect(page.locator("#f-host")).to_have_value("smtp.mail.me.com")
    expect(page.locator("#f-port")).to_have_value("587")
    expect(page.locator("#f-encryption-starttls")).to_be_checked()
    result = page.locator("#preset-result")
    expect(result).to_contain_text("Filled in: smtp.mail.me.com, port 587.")
    expect(result).to_contain_text("An app password")
    expect(page.locator("#unsaved-note")).to_be_visible()
    page.get_by_label("Provider").select_option(label="Gmail / Google Workspace")
    expect(page.locator("#f-host")).to_have_value("smtp.gmail.com")
    expect(page.locator("#f-port")).to_have_value("465")
    expect(page.locator("#f-encryption-ssl")).to_be_checked()
    expect(result).to_contain_text("Sign in with Google")
    shoot(page, "settings-preset-chosen")
    assert _stored(services) == before  # nothing saved unasked


def test_find_settings_proposes_with_sources_and_fills_only_on_use(
    signed_in: Page, services: Services, shoot: Callable[[Page, str], None]
) -> None:
    page = signed_in
    page.locator("#f-sender_address").fill("alarms@m365.example.test")
    page.get_by_role("button", name="Find settings").click()
    proposal = page.locator(".discover-proposal").first
    expect(proposal).to_contain_text("smtp.office365.com · 587 · starttls")
    expect(proposal).to_contain_text("Microsoft 365")
    expect(proposal).to_contain_text("MX records (known providers): m365.example.test MX 0")
    expect(proposal).to_contain_text("Sign in with Microsoft")
    expect(page.locator(".discover-message")).to_contain_text("nothing has been saved yet")
    expect(page.locator('.discover-source[data-source="mx"]')).to_have_attribute(
        "data-status", "found"
    )
    expect(page.locator("#f-host")).to_have_value("")  # a proposal fills only when used
    shoot(page, "settings-discovered")
    proposal.get_by_role("button", name="Use these settings").click()
    expect(page.locator("#f-host")).to_have_value("smtp.office365.com")
    expect(page.locator("#f-port")).to_have_value("587")
    expect(page.get_by_label("Provider")).to_have_value("microsoft365")
    assert _stored(services) is None  # still nothing saved
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#saved")).to_be_visible()
    saved = services.settings.load()
    assert (saved.host, saved.port, saved.sender_address) == (
        "smtp.office365.com",
        587,
        "alarms@m365.example.test",
    )


def test_a_slow_source_does_not_hang_the_page_and_nothing_found_is_said(
    signed_in: Page,
) -> None:
    page = signed_in
    page.locator("#f-sender_address").fill("alarms@slow.example.test")
    started = time.monotonic()
    page.get_by_role("button", name="Find settings").click()
    expect(page.locator(".discover-proposal")).to_contain_text("smtp.slow.example.test · 587")
    assert time.monotonic() - started < 3.5  # the autoconfig source's 1.5 s, and the page
    page.locator(".discover-sources summary").click()
    slow = page.locator('.discover-source[data-source="autoconfig"]')
    expect(slow).to_have_attribute("data-status", "timeout")
    expect(slow).to_contain_text("No answer within 1.")
    page.locator("#f-sender_address").fill("alarms@garbage.example.test")
    page.get_by_role("button", name="Find settings").click()
    expect(page.locator(".discover-message")).to_have_text(
        "No settings found for garbage.example.test. Choose your provider from the list, "
        "or ask your mail administrator for the server, port and encryption."
    )
    expect(page.locator(".discover-proposal")).to_have_count(0)
    page.locator(".discover-sources summary").click()
    expect(page.locator('.discover-source[data-source="autoconfig"]')).to_contain_text(
        "Could not be read: https://autoconfig.garbage.example.test/"
    )


def test_an_empty_or_bad_address_is_said_next_to_the_button(signed_in: Page) -> None:
    page = signed_in
    page.get_by_role("button", name="Find settings").click()
    expect(page.locator("#discover-status")).to_have_text("Enter the sender address first.")
    expect(page.locator("#f-sender_address")).to_be_focused()
    page.locator("#f-sender_address").fill("alarms at example")
    page.get_by_role("button", name="Find settings").click()
    expect(page.locator("#discover-status")).to_have_text(
        "Not a valid email address: it contains a space."
    )


def test_the_part_speaks_german_for_a_german_admin(
    signed_in: Page, services: Services, admin: str
) -> None:
    found = services.store.admin_credentials(admin)
    assert found is not None
    services.store.set_admin_language(found[0].id, "de")
    page = signed_in
    page.reload()
    expect(page.locator("#discovery-heading")).to_have_text("Einstellungen finden")
    page.get_by_label("Anbieter", exact=True).select_option(label="Telekom T-Online")
    expect(page.locator("#f-host")).to_have_value("securesmtp.t-online.de")
    expect(page.locator("#f-port")).to_have_value("465")
    expect(page.locator("#preset-result")).to_contain_text(
        "Eingetragen: securesmtp.t-online.de, Port 465."
    )
    expect(page.locator("#preset-result")).to_contain_text("Telekom Kundencenter")
    page.locator("#f-sender_address").fill("alarme@gws.example.test")
    page.get_by_role("button", name="Einstellungen finden").click()
    expect(page.locator(".discover-message")).to_contain_text(
        "Einstellungen für gws.example.test gefunden."
    )
    expect(page.locator(".discover-proposal").first).to_contain_text(
        "Quelle: MX-Einträge (bekannte Anbieter): gws.example.test MX 1 aspmx.l.google.com."
    )
    expect(page.get_by_role("button", name="Diese Einstellungen übernehmen")).to_be_visible()
