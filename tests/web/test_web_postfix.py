"""The test email from the page, through the real Postfix (STARTTLS + AUTH on submission)."""

from __future__ import annotations

import re
import secrets
from email.message import EmailMessage

import pytest
from playwright.sync_api import Page, expect
from web_helpers import next_page

from helpers import RealSMTP, wait_for_delivery
from tocsin.services.context import Services

pytestmark = pytest.mark.postfix


def test_a_test_email_from_the_page_reaches_the_real_postfix(
    signed_in: Page, real_smtp: RealSMTP
) -> None:
    page = signed_in
    page.get_by_label("Send email notifications").check()
    page.get_by_label("Sender address").fill("alarm@example.com")
    page.get_by_label("Server address").fill(real_smtp.tls_name)
    page.get_by_label("Port", exact=True).fill(str(real_smtp.submission_port))
    page.get_by_label("Username", exact=True).fill(real_smtp.user)
    page.get_by_label("Password", exact=True).fill(real_smtp.password)
    page.get_by_label("CA file").fill(str(real_smtp.ca_path))
    # The test-email script is deferred: the click below waits for it (see next_page).
    with next_page(page, re.compile(r"saved=1$")):
        page.get_by_role("button", name="Save settings").click()

    to = f"ops-{secrets.token_hex(4)}@example.net"
    page.get_by_label("Recipient").fill(to)
    page.get_by_role("button", name="Send test email").click()
    expect(page.locator("#test-result")).to_contain_text("accepted the test email", timeout=20_000)
    expect(page.locator('#test-steps li[data-step="starttls"][data-status="ok"]')).to_be_visible()
    expect(page.locator('#test-steps li[data-step="auth"][data-status="ok"]')).to_be_visible()

    def addressed_to_us(message: EmailMessage) -> bool:
        return to in str(message.get("To", ""))

    got = wait_for_delivery(real_smtp, addressed_to_us)
    assert str(got["Subject"]).startswith("Tocsin test email")
    assert real_smtp.password not in page.content()


def test_typed_host_and_password_reach_the_real_postfix_unsaved_then_saved(
    signed_in: Page, real_smtp: RealSMTP, services: Services
) -> None:
    """Saved: a wrong host and password. Typed on the page, unsaved: the right ones."""
    _, report, saved = services.settings.update(
        {
            "enabled": True,
            "sender_address": "alarm@example.com",
            "host": "127.0.0.1",
            "port": real_smtp.submission_port,
            "username": real_smtp.user,
            "password": "Wr0ng-But-Distinctive-Passw0rd",
            "ca_file": str(real_smtp.ca_path),
        }
    )
    assert saved, report
    stored = services.settings.fingerprint()
    page = signed_in
    page.reload()
    page.locator("#f-host").fill(real_smtp.tls_name)
    page.locator("#f-password").fill(real_smtp.password)
    to = f"ops-{secrets.token_hex(4)}@example.net"
    page.get_by_label("Recipient").fill(to)
    page.get_by_role("button", name="Send test email").click()
    expect(page.locator("#test-result")).to_contain_text("accepted the test email", timeout=20_000)

    def addressed_to_us(message: EmailMessage) -> bool:
        return to in str(message.get("To", ""))

    got = wait_for_delivery(real_smtp, addressed_to_us)  # in the Postfix Maildir
    assert str(got["Subject"]).startswith("Tocsin test email")
    assert services.settings.fingerprint() == stored  # nothing saved by the test
    assert real_smtp.password not in page.content()

    page.locator("#save-tested-button").click()
    expect(page).to_have_url(re.compile(r"saved=1$"))
    now = services.settings.load()
    assert now.host == real_smtp.tls_name
    assert now.password is not None
    assert now.password.reveal() == real_smtp.password
