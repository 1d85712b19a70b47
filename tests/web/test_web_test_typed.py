"""Try before you save: the page tests the form as typed, saves nothing, then offers the save."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page, expect
from web_helpers import DESKTOP

from helpers import LiveServer
from tocsin.http import SESSION_COOKIE
from tocsin.security import hash_token, new_token
from tocsin.services.context import Services
from tocsin.testing import ThreadedSMTPTestServer

USER, PASSWORD, OLD = "alarms@example.com", "app-specific-7Hq2", "the-old-saved-pass"
ME = "ops@example.net"  # the admin's username is their address: the recipient is prefilled
PHONE_375 = {"width": 375, "height": 812}
TEXTS = {
    "en": {"ok": "accepted the test email", "offer": "Save exactly these settings"},
    "de": {"ok": "hat die Test-E-Mail angenommen", "offer": "Genau diese Einstellungen"},
}


@pytest.fixture
def smtp() -> Iterator[ThreadedSMTPTestServer]:
    with ThreadedSMTPTestServer(tls="starttls", username=USER, password=PASSWORD) as srv:
        yield srv


def _open_as(page: Page, server: LiveServer, services: Services, language: str) -> None:
    services.store.add_admin(ME, "$argon2id$not-used", language, time.time())
    found = services.store.admin_credentials(ME)
    assert found is not None
    session_id, now = new_token("tss"), time.time()
    services.store.add_session(
        hash_token(session_id), found[0].id, secrets.token_urlsafe(32), now, now + 3600
    )
    page.context.add_cookies(
        [{"name": SESSION_COOKIE, "value": session_id, "url": server.url, "httpOnly": True}]
    )
    page.goto(server.url + "/settings/email")


def _save_old(services: Services, srv: ThreadedSMTPTestServer) -> None:
    """Saved and live: a server where nothing listens (port 9) and an old password."""
    _, report, saved = services.settings.update(
        {
            "enabled": True,
            "host": "127.0.0.1",
            "port": 9,
            "encryption": "starttls",
            "sender_address": USER,
            "username": USER,
            "password": OLD,
            "ca_file": str(srv.ca.ca_path),
            "ehlo_name": "tocsin.test",
        }
    )
    assert saved, report


@pytest.mark.parametrize("language", ["en", "de"])
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE_375], ids=["1280", "375"])
def test_a_typed_host_and_password_are_tested_unsaved_then_saved_as_tested(
    page: Page,
    server: LiveServer,
    services: Services,
    smtp: ThreadedSMTPTestServer,
    language: str,
    viewport: dict[str, int],
    shoot: Callable[[Page, str], None],
) -> None:
    _save_old(services, smtp)
    stored = services.settings.fingerprint()
    page.set_viewport_size(viewport)
    _open_as(page, server, services, language)
    expect(page.locator("#f-test-to")).to_have_value(ME)

    page.locator("#f-host").fill("localhost")
    page.locator("#f-port").fill(str(smtp.port))
    page.locator("#f-password").fill(PASSWORD)
    page.locator("#test-send").click()

    result = page.locator("#test-result")
    expect(result).to_contain_text(TEXTS[language]["ok"], timeout=15_000)
    for step in ("connect", "starttls", "auth", "mail_from", "rcpt_to", "data"):
        row = f'#test-steps li[data-step="{step}"]:not([data-phase])[data-status="ok"]'
        expect(page.locator(row)).to_be_visible()
    expect(page.locator('#test-steps li[data-phase="greeting"]')).to_have_attribute(
        "data-status", "ok"
    )
    assert len(smtp.messages) == 1
    assert smtp.messages[0].rcpt_tos == (ME,)
    assert services.settings.fingerprint() == stored  # nothing saved by the test
    assert PASSWORD not in page.content()

    expect(page.locator("#save-tested")).to_contain_text(TEXTS[language]["offer"])
    if viewport == DESKTOP:
        shoot(page, f"settings-test-typed-ok-{language}")
    page.locator("#save-tested-button").click()
    expect(page).to_have_url(re.compile(r"saved=1$"))
    saved = services.settings.load()
    assert (saved.host, saved.port) == ("localhost", smtp.port)
    assert saved.password is not None
    assert saved.password.reveal() == PASSWORD
    assert (saved.ehlo_name, saved.username) == ("tocsin.test", USER)


def test_the_save_offer_is_withdrawn_when_the_form_changes(
    page: Page, server: LiveServer, services: Services, smtp: ThreadedSMTPTestServer
) -> None:
    _save_old(services, smtp)
    _open_as(page, server, services, "en")
    page.locator("#f-host").fill("localhost")
    page.locator("#f-port").fill(str(smtp.port))
    page.locator("#f-password").fill(PASSWORD)
    page.locator("#test-send").click()
    expect(page.locator("#save-tested-button")).to_be_visible(timeout=15_000)
    page.locator("#f-host").fill("smtp.elsewhere.example")
    expect(page.locator("#save-tested-button")).to_have_count(0)
    expect(page.locator("#save-tested")).to_contain_text("changed since the test")
    assert services.settings.load().host == "127.0.0.1"
