"""The test email from the page: configured by following the page, steps shown as they happen."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page, expect
from web_helpers import next_page, speak_german

from helpers import LiveServer
from tocsin.services.context import Services
from tocsin.testing import ThreadedSMTPTestServer

USER, PASSWORD = "alarms@example.com", "app-specific-7Hq2"
TO = "ops@example.net"


@pytest.fixture
def smtp() -> Iterator[ThreadedSMTPTestServer]:
    """aiosmtpd on loopback: STARTTLS required, then AUTH with one account."""
    with ThreadedSMTPTestServer(tls="starttls", username=USER, password=PASSWORD) as srv:
        yield srv


def _configure(page: Page, srv: ThreadedSMTPTestServer, password: str) -> None:
    """Fill the settings the way a technician would, and save."""
    page.get_by_label("Send email notifications").check()
    page.get_by_label("Sender address").fill(USER)
    page.get_by_label("Server address").fill("localhost")
    page.get_by_label("Port", exact=True).fill(str(srv.port))
    page.locator("#settings-form").get_by_label("STARTTLS", exact=True).check()
    page.get_by_label("Username", exact=True).fill(USER)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("CA file").fill(str(srv.ca.ca_path))  # the test server's private CA
    page.get_by_label("EHLO name").fill("tocsin.test")
    with next_page(page, re.compile(r"saved=1$")):  # then the test email's script is there
        page.get_by_role("button", name="Save settings").click()


def _step(page: Page, step: str, status: str) -> object:
    return page.locator(
        f'#test-steps li[data-step="{step}"]:not([data-phase])[data-status="{status}"]'
    )


def test_a_test_email_arrives_and_its_steps_appear_as_they_happen(
    signed_in: Page,
    smtp: ThreadedSMTPTestServer,
    services: Services,
    shoot: Callable[[Page, str], None],
) -> None:
    page = signed_in
    _configure(page, smtp, PASSWORD)
    smtp.faults.delay("data_end", 1.5)  # the server takes its time to accept the message

    expect(page.locator("#test-steps")).to_have_attribute("aria-live", "polite")
    page.get_by_label("Recipient").fill(TO)
    page.get_by_role("button", name="Send test email").click()
    # Mid-way: the early steps are done while the message is still with the server.
    expect(_step(page, "auth", "ok")).to_be_visible()  # type: ignore[arg-type]
    expect(page.locator("#test-result")).to_have_text("Sending…")
    expect(page.get_by_role("button", name="Send test email")).to_be_disabled()
    # Then the rest, and the verdict.
    expect(page.locator("#test-result")).to_contain_text("accepted the test email", timeout=15_000)
    for step in ("connect", "starttls", "auth", "mail_from", "rcpt_to", "data"):
        item = _step(page, step, "ok")
        expect(item).to_be_visible()  # type: ignore[arg-type]
        expect(item.locator(".step-mark")).to_have_text("✓")  # type: ignore[attr-defined]
    expect(page.locator("#test-result")).to_contain_text("Server answer: 250")
    shoot(page, "settings-test-ok-en")

    assert len(smtp.messages) == 1
    assert smtp.messages[0].rcpt_tos == (TO,)
    assert PASSWORD not in page.content()


def test_a_wrong_password_shows_the_credentials_hint(
    signed_in: Page, smtp: ThreadedSMTPTestServer, shoot: Callable[[Page, str], None]
) -> None:
    page = signed_in
    _configure(page, smtp, "the-old-password")
    page.get_by_label("Recipient").fill(TO)
    page.get_by_role("button", name="Send test email").click()

    failed = page.locator('#test-steps li[data-step="auth"][data-status="fail"]')
    expect(failed).to_be_visible(timeout=15_000)
    expect(failed.locator(".step-mark")).to_have_text("✗")
    expect(failed.locator(".step-hint")).to_contain_text("refused the username or password")
    expect(failed.locator(".step-hint")).to_contain_text("app-specific password")
    expect(page.locator("#test-result")).to_contain_text("was not sent")
    shoot(page, "settings-test-auth-failed-en")
    assert smtp.messages == []


def test_incomplete_settings_are_explained_and_the_button_is_rate_limited(
    signed_in: Page,
) -> None:
    page = signed_in
    page.get_by_label("Recipient").fill(TO)
    button = page.get_by_role("button", name="Send test email")
    for _ in range(10):  # failed tests: ten in a short burst
        button.click()
        expect(page.locator("#test-result")).to_contain_text("not complete")
        expect(button).to_be_enabled()
    expect(page.locator("#test-result")).to_contain_text("Server address")
    button.click()
    expect(page.locator("#test-result")).to_have_text(
        "Too many test emails. Try again in 2 minutes."
    )


def test_an_invalid_recipient_is_marked_on_the_field(signed_in: Page) -> None:
    page = signed_in
    page.get_by_label("Recipient").fill("not an address")
    page.get_by_role("button", name="Send test email").click()
    expect(page.locator("#f-test-to-error")).to_have_text("Enter a valid recipient address.")
    expect(page.get_by_label("Recipient")).to_have_attribute("aria-invalid", "true")


def test_unsaved_changes_say_the_test_uses_the_form_as_typed(signed_in: Page) -> None:
    page = signed_in
    expect(page.locator("#test-unsaved")).to_be_hidden()
    page.get_by_label("Server address").fill("smtp.example.com")
    expect(page.locator("#test-unsaved")).to_be_visible()
    expect(page.locator("#test-unsaved")).to_contain_text("values in the form as typed")


def _test_rows(page: Page) -> object:
    return page.locator("#test-emails tbody tr")


def test_test_emails_are_listed_in_the_delivery_log_without_a_secret(
    signed_in: Page,
    smtp: ThreadedSMTPTestServer,
    services: Services,
    server: LiveServer,
    shoot: Callable[[Page, str], None],
) -> None:
    page = signed_in
    page.goto(server.url + "/deliveries")
    expect(page.locator("#test-emails")).to_contain_text("No test email has been sent yet.")
    page.goto(server.url + "/settings/email")
    # First with a saved wrong password: refused at the login step.
    _configure(page, smtp, "the-old-password")
    page.get_by_label("Recipient").fill(TO)
    page.get_by_role("button", name="Send test email").click()
    expect(page.locator("#test-result")).to_contain_text("was not sent", timeout=15_000)
    # Then the right password typed but not saved: the test uses the form as typed.
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Send test email").click()
    expect(page.locator("#test-result")).to_contain_text("accepted the test email", timeout=15_000)
    assert len(smtp.messages) == 1

    page.goto(server.url + "/deliveries")
    rows = _test_rows(page)
    expect(rows).to_have_count(2)  # type: ignore[attr-defined]
    newest, failed = rows.nth(0), rows.nth(1)  # type: ignore[attr-defined]
    expect(newest).to_have_attribute("data-ok", "true")
    expect(newest).to_contain_text(TO)
    expect(newest).to_contain_text("Accepted by the server")
    expect(newest).to_contain_text("Form as typed (not saved)")
    expect(newest).to_contain_text("250")  # the server's answer
    expect(failed).to_have_attribute("data-ok", "false")
    expect(failed).to_contain_text("Not sent")
    expect(failed).to_contain_text("Saved settings")
    expect(failed.locator(".test-step")).to_have_text("Log in")
    expect(failed).to_contain_text("535")  # the server's refusal, as it said it
    # Not in the outbox: its list stays empty.
    expect(page.locator(".empty-state").first).to_contain_text("No deliveries match.")
    shoot(page, "deliveries-test-emails-en")

    speak_german(page)
    page.goto(server.url + "/deliveries")
    expect(page.locator("#test-emails h2")).to_have_text("Test-E-Mails")
    expect(rows.nth(0)).to_contain_text("Vom Server angenommen")  # type: ignore[attr-defined]
    expect(rows.nth(0)).to_contain_text("Formular wie eingegeben")  # type: ignore[attr-defined]
    expect(rows.nth(1)).to_contain_text("Nicht gesendet")  # type: ignore[attr-defined]
    expect(rows.nth(1).locator(".test-step")).to_have_text("Anmelden")  # type: ignore[attr-defined]
    shoot(page, "deliveries-test-emails-de")

    # No secret in the table, nor anywhere in the database's files.
    runs = services.store.list_test_emails()
    assert [(r.ok, r.typed, r.step) for r in runs] == [(True, True, ""), (False, False, "auth")]
    files = sorted(services.data.glob("tocsin.db*"))
    assert files
    for path in files:
        content = path.read_bytes()
        for secret in (PASSWORD, "the-old-password"):
            assert secret.encode() not in content, (path, secret)
