"""The settings page's OAuth2 block in Chromium: shown for OAuth2 only, the client
secret write-only, and the device code sign-in from the page against the local OAuth2
server (the test plays the person who enters the code at the provider)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Locator, Page, expect
from web_helpers import next_page

from oauth_support import oauth_settings
from tocsin.secret import Secret
from tocsin.services.context import Services
from tocsin.settings import AuthMethod, EmailSettings, Encryption, OAuthFlow
from tocsin.testing import OAuthTestServer, ThreadedSMTPTestServer

PUBLIC = "public-app"
MAILBOX = "alarm@example.com"


@pytest.fixture
def oauth() -> Iterator[OAuthTestServer]:
    with OAuthTestServer(interval=0.05) as server:
        server.add_client(PUBLIC)
        yield server


def device_settings(oauth: OAuthTestServer) -> EmailSettings:
    return oauth_settings(
        oauth, client_id=PUBLIC, mailbox=MAILBOX, host="smtp.example.com", port=587,
        encryption=Encryption.STARTTLS, oauth_flow=OAuthFlow.DEVICE_CODE,
    )  # fmt: skip


def test_the_device_code_sign_in_runs_from_the_page(
    signed_in: Page,
    services: Services,
    oauth: OAuthTestServer,
    shoot: Callable[[Page, str], None],
) -> None:
    services.settings.save(device_settings(oauth))
    page = signed_in
    page.reload()
    expect(page.locator("#oauth-fields")).to_be_visible()
    expect(page.locator("#oauth-status")).to_have_text("Nobody has signed in yet.")
    page.get_by_role("button", name="Sign in", exact=True).click()
    code = page.locator("#oauth-code-value")
    expect(code).not_to_be_empty()
    expect(page.locator("#oauth-code-url")).to_have_text(oauth.verification_url)
    expect(page.locator("#oauth-status")).to_have_text("Waiting for the sign-in at the provider …")
    shoot(page, "settings-oauth-code")
    assert services.settings.load().oauth_refresh_token is None  # nothing before approval
    oauth.approve(code.inner_text(), MAILBOX)  # the person signs in at the provider
    status = page.locator("#oauth-status")
    expect(status).to_have_attribute("data-state", "signed_in")
    expect(status).to_contain_text(f"Signed in for {MAILBOX}")
    expect(page.locator("#oauth-code")).to_be_hidden()
    stored = services.settings.load().oauth_refresh_token
    assert stored is not None
    assert stored.reveal() in oauth.issued_secrets
    html = page.content()
    assert not [s for s in oauth.issued_secrets if s in html]


def test_a_refused_sign_in_says_why(
    signed_in: Page, services: Services, oauth: OAuthTestServer
) -> None:
    services.settings.save(device_settings(oauth))
    page = signed_in
    page.reload()
    page.get_by_role("button", name="Sign in", exact=True).click()
    code = page.locator("#oauth-code-value")
    expect(code).not_to_be_empty()
    oauth.deny(code.inner_text())
    status = page.locator("#oauth-status")
    expect(status).to_have_attribute("data-state", "failed")
    expect(status).not_to_be_empty()
    assert services.settings.load().oauth_refresh_token is None


def test_the_block_shows_for_oauth2_and_keeps_the_secret_write_only(
    signed_in: Page, services: Services
) -> None:
    page = signed_in
    fields = page.locator("#oauth-fields")
    expect(fields).to_be_hidden()  # the defaults sign in with a password
    page.locator("#f-auth_method-oauth2").check()
    expect(fields).to_be_visible()
    page.locator("#f-auth_method-password").check()
    expect(fields).to_be_hidden()
    page.locator("#f-auth_method-oauth2").check()
    page.locator("#f-sender_address").fill(MAILBOX)
    page.locator("#f-host").fill("smtp.office365.com")
    page.locator("#f-username").fill(MAILBOX)
    page.locator("#f-oauth_provider").select_option("microsoft")
    page.locator("#f-oauth_flow").select_option("app_only")
    page.locator("#f-oauth_tenant").fill("contoso-tenant")
    page.locator("#f-oauth_client_id").fill("alarm-app")
    page.locator("#f-oauth_client_secret").fill("client-secret-4711")
    with next_page(page):
        page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#f-oauth_client_secret-help")).to_contain_text("A client secret is stored")
    saved = services.settings.load()
    assert saved.auth_method is AuthMethod.OAUTH2
    assert (saved.oauth_tenant, saved.oauth_client_id) == ("contoso-tenant", "alarm-app")
    assert saved.oauth_client_secret == Secret("client-secret-4711")
    assert "client-secret-4711" not in page.content()
    expect(page.locator("#f-oauth_client_secret")).to_have_value("")
    with next_page(page):  # the help below reads the same before and after
        page.get_by_role("button", name="Save settings").click()  # an empty field keeps it
    expect(page.locator("#f-oauth_client_secret-help")).to_contain_text("A client secret is stored")
    assert services.settings.load().oauth_client_secret == Secret("client-secret-4711")


CLIENT, SECRET = "alarm-app", "app-secret-4711"


def _app_only(services: Services, oauth: OAuthTestServer, smtp: ThreadedSMTPTestServer) -> None:
    services.settings.save(
        oauth_settings(
            oauth, client_id=CLIENT, mailbox=MAILBOX, port=smtp.port, enabled=True,
            oauth_client_secret=Secret(SECRET),
        )
    )  # fmt: skip


def _step(page: Page, step: str, status: str) -> Locator:
    return page.locator(f'#test-steps li[data-step="{step}"][data-status="{status}"]')


@pytest.mark.parametrize("mailbox_allows_smtp", [True, False])
def test_the_test_email_shows_the_token_step_and_the_smtp_auth_hint(
    signed_in: Page,
    services: Services,
    oauth: OAuthTestServer,
    mailbox_allows_smtp: bool,
    shoot: Callable[[Page, str], None],
) -> None:
    oauth.add_client(CLIENT, SECRET)
    with ThreadedSMTPTestServer(
        ca=oauth.ca,
        tls="implicit",
        oauth=oauth,
        auth_mechanisms=("XOAUTH2",),
        smtp_client_auth_disabled=not mailbox_allows_smtp,
    ) as smtp:
        _app_only(services, oauth, smtp)
        page = signed_in
        page.reload()
        page.get_by_label("Recipient").fill("ops@example.net")
        page.get_by_role("button", name="Send test email").click()
        token = _step(page, "oauth", "ok")
        expect(token).to_be_visible(timeout=15_000)
        expect(token).to_contain_text("Get a sign-in token (OAuth2)")
        expect(token).to_contain_text(f"token obtained from localhost:{oauth.port}")
        expect(token).to_contain_text("expires in 60 min")
        if mailbox_allows_smtp:
            expect(_step(page, "auth", "ok")).to_contain_text("XOAUTH2")
            expect(page.locator("#test-result")).to_contain_text("accepted the test email")
            shoot(page, "settings-test-oauth-ok-en")
        else:
            failed = _step(page, "auth", "fail")
            expect(failed).to_be_visible()
            expect(failed.locator(".step-hint")).to_contain_text("Authenticated SMTP")
            expect(page.locator("#test-result")).to_contain_text("was not sent")
            shoot(page, "settings-test-oauth-smtp-auth-disabled-en")
        html = page.content()
        assert not [s for s in [*oauth.issued_secrets, SECRET] if s in html]
        assert len(smtp.messages) == (1 if mailbox_allows_smtp else 0)
