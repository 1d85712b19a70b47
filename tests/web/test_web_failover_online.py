"""Online-service backup links on the email settings page, in Chromium: added, tested
through the real relay (``tocsin.relay`` in process over HTTPS), refused by field in
English and German at phone and desktop width, and edited and removed without
JavaScript.  The device token is write-only throughout."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from relay_for_web import SENDER, WebRelay, running_relay
from web_helpers import SCREENSHOTS, next_page

from helpers import LiveServer, RealSMTP
from tocsin.http import SESSION_COOKIE
from tocsin.secret import Secret
from tocsin.security import hash_token, new_token
from tocsin.services.context import Services
from tocsin.settings import TransportKind

TOKEN = "tcd_page-typed-Token-0042"
CASES = [("en", 1280), ("en", 375), ("de", 1280), ("de", 375)]


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[WebRelay]:
    with running_relay(tmp_path) as running:
        yield running


@pytest.fixture
def delivering_relay(tmp_path: Path, real_smtp: RealSMTP) -> Iterator[WebRelay]:
    """The relay with a delivery worker: example.net goes on to the real Postfix."""
    with running_relay(tmp_path, deliver_to=real_smtp) as running:
        yield running


def _primary(services: Services) -> None:
    """A primary SMTP server whose sender the relay allows (@site.example.org)."""
    _, report, saved = services.settings.update(
        {"enabled": True, "host": "mail.example.com", "sender_address": SENDER}
    )
    assert saved, report.errors


def _open(
    browser: Browser, server: LiveServer, services: Services, admin: str, language: str,
    width: int, *, javascript: bool = True,
) -> tuple[BrowserContext, Page]:  # fmt: skip
    """A signed-in page on the email settings in ``language`` at ``width`` px."""
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
    page.goto(server.url + "/settings/email#failover")
    return context, page


def _no_sideways_scroll(page: Page) -> None:
    wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 1, f"the page scrolls sideways by {wide} px"


def test_an_online_link_is_added_and_its_test_email_reaches_the_relay(
    signed_in: Page, services: Services, delivering_relay: WebRelay
) -> None:
    page, relay = signed_in, delivering_relay
    _primary(services)
    submitted: list[int] = []
    relay.relay.service.on_enqueue = lambda: submitted.append(1)
    page.reload()
    section = page.locator("#failover")
    section.get_by_role("radio", name="The online service").check()
    # The chosen kind's boxes show; the SMTP server's are hidden (CSS, no script).
    expect(section.get_by_label("Backup server", exact=True)).to_be_hidden()
    section.get_by_label("Address of the online service").fill(relay.url)
    section.get_by_label("Device token of the online service").fill(TOKEN)
    section.get_by_label("Relay's CA for this link (PEM file, optional)").fill(
        str(relay.ca.ca_path)
    )
    section.get_by_label("Use the backup links when the primary fails").check()
    section.get_by_role("button", name="Apply failover settings").click()
    expect(page).to_have_url(re.compile(r"failover_saved=1"))
    (link,) = services.failover.load().links
    assert (link.transport, link.relay_url, link.device_credential, link.host) == (
        TransportKind.ONLINE,
        relay.url,
        Secret(TOKEN),
        "",
    )
    assert TOKEN not in page.content()
    expect(page.locator("#f-fo_link0_token-help")).to_have_text(
        "A device token is stored; leave this empty to keep it."
    )
    # The wrong token first: the relay refuses it and the report names the fix.
    page.wait_for_load_state()  # the test email's script is attached
    choice = page.get_by_label("Send through")
    expect(choice.locator("option")).to_have_text(
        ["The server above (primary)", "Backup link 1 (online service)"]
    )
    choice.select_option("1")
    page.get_by_label("Recipient").fill("ops@example.net")
    page.get_by_role("button", name="Send test email").click()
    expect(page.locator("#test-result")).to_contain_text("was not sent", timeout=15_000)
    assert submitted == []  # the token typed is not one the relay issued
    assert services.failover.update({"links": [{"device_credential": relay.credential}]})[2]
    page.reload()
    page.wait_for_load_state()
    page.get_by_label("Send through").select_option("1")
    page.get_by_label("Recipient").fill("ops@example.net")
    page.get_by_role("button", name="Send test email").click()
    # Accepted at once; the report then follows the relay's delivery to the real Postfix
    # (its own "queued as" answer).
    expect(page.locator("#test-result")).to_contain_text("accepted", timeout=40_000)
    assert submitted == [1]
    expect(page.locator("#test-steps")).to_contain_text(
        re.compile(r"ops@example\.net: delivered \(2\.0\.0 Ok: queued as [0-9A-F]+\)")
    )


@pytest.mark.parametrize(("language", "width"), CASES, ids=[f"{a}-{b}" for a, b in CASES])
def test_an_online_link_without_token_or_with_a_plain_http_address_is_refused_by_field(
    browser: Browser, server: LiveServer, services: Services, admin: str, language: str,
    width: int,
) -> None:  # fmt: skip
    _primary(services)
    context, page = _open(browser, server, services, admin, language, width)
    try:
        section = page.locator("#failover")
        section.locator("#f-fo_link0_kind-online").check()
        section.locator("#f-fo_link0_relay_url").fill("http://relay.example.com")
        section.locator("#failover-form button[type=submit]").click()
        expect(page.locator("#f-fo_link0_relay_url")).to_have_attribute("aria-invalid", "true")
        url_error = page.locator("#f-fo_link0_relay_url-error")
        token_error = page.locator("#f-fo_link0_token-error")
        if language == "en":
            expect(url_error).to_contain_text("as https://relay.example.com")
            expect(token_error).to_contain_text("Enter the online service's device token")
        else:
            expect(url_error).to_contain_text("als https://relay.example.com ein")
            expect(token_error).to_contain_text("Geben Sie das Geräte-Token")
        # The typed address comes back, the online kind stays chosen, nothing is saved.
        expect(section.locator("#f-fo_link0_relay_url")).to_have_value("http://relay.example.com")
        expect(section.locator("#f-fo_link0_kind-online")).to_be_checked()
        expect(section.locator("#f-fo_link0_host")).to_be_hidden()
        assert services.failover.load().links == ()
        _no_sideways_scroll(page)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = f"failover-online-refused-{language}-{width}.png"
        section.screenshot(path=str(SCREENSHOTS / name))
    finally:
        context.close()


def test_without_javascript_an_online_link_is_changed_kept_and_removed(
    browser: Browser, server: LiveServer, services: Services, admin: str
) -> None:  # fmt: skip
    _primary(services)
    online = {
        "transport": "online",
        "relay_url": "https://relay.example.com",
        "device_credential": TOKEN,
    }
    assert services.failover.update({"enabled": True, "links": [online, {"host": "b.example"}]})[2]
    context, page = _open(browser, server, services, admin, "de", 1280, javascript=False)
    try:
        section = page.locator("#failover")
        expect(section.locator("#f-fo_link0_kind-online")).to_be_checked()
        expect(section.locator("#f-fo_link0_host")).to_be_hidden()
        expect(section.locator("#f-fo_link1_relay_url")).to_be_hidden()
        kept = section.locator("#f-fo_link0_token-help")
        expect(kept).to_contain_text("Geräte-Token ist gespeichert")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for width in (1280, 375):
            page.set_viewport_size({"width": width, "height": 900})
            _no_sideways_scroll(page)
            section.screenshot(path=str(SCREENSHOTS / f"failover-online-nojs-de-{width}.png"))
        page.set_viewport_size({"width": 1280, "height": 900})
        section.locator("#f-fo_link0_relay_url").fill("https://relay2.example.com")
        with next_page(page, re.compile(r"failover_saved=1")):
            section.get_by_role("button", name="Ausweichweg übernehmen").click()
        first, second = services.failover.load().links
        assert (first.relay_url, first.device_credential) == (
            "https://relay2.example.com",
            Secret(TOKEN),  # the empty box kept it
        )
        assert second.host == "b.example"
        # Link 2 becomes the online service too (its own token), then link 1 goes.
        section.locator("#f-fo_link1_kind-online").check()
        section.locator("#f-fo_link1_relay_url").fill("https://relay3.example.com")
        section.locator("#f-fo_link1_token").fill("tcd_second")
        section.locator("#f-fo_link0_remove").check()
        with next_page(page, re.compile(r"failover_saved=1")):
            section.get_by_role("button", name="Ausweichweg übernehmen").click()
        (left,) = services.failover.load().links
        assert (left.transport, left.relay_url, left.device_credential) == (
            TransportKind.ONLINE,
            "https://relay3.example.com",
            Secret("tcd_second"),
        )
        assert TOKEN not in page.content()
    finally:
        context.close()
