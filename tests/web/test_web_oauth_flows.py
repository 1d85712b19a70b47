"""The settings page's OAuth2 block in Chromium, in English and German, at 1280 and
375 px: the client certificate and the service account key (write-only text areas, each
shown for its own flow, refused in one sentence), and the browser (loopback) sign-in
from the page against the local OAuth2 server, with the plain answer when the browser
is on another machine than Tocsin."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from joserfc.jwk import RSAKey
from playwright.sync_api import Browser, Page, expect, sync_playwright
from web_helpers import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, next_page

from helpers import LiveServer
from oauth_support import oauth_settings
from tocsin.http import SESSION_COOKIE
from tocsin.services.context import Services
from tocsin.settings import EmailSettings, Encryption, OAuthFlow
from tocsin.testing import OAuthTestServer, make_client_certificate

MAILBOX = "alarm@example.com"
PUBLIC = "desktop-app"
ELSEWHERE = "tocsin-box.test"  # resolved to 127.0.0.1 by this module's browser only
SHOTS = SCREENSHOTS
WIDTHS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 375, "height": 812}}

TEXTS = {
    "en": {
        "save": "Save settings",
        "sign_in": "Sign in",
        "mismatch": "The private key and the certificate do not match.",
        "cert_stored": "A client certificate is stored",
        "not_json": "The key is not JSON",
        "key_stored": "A service account key is stored",
        "signed_in": f"Signed in for {MAILBOX}",
        "elsewhere": "Tocsin runs on another machine than this browser",
    },
    "de": {
        "save": "Einstellungen speichern",
        "sign_in": "Anmelden",
        "mismatch": "Der private Schlüssel und das Zertifikat passen nicht zusammen.",
        "cert_stored": "Ein Clientzertifikat ist gespeichert",
        "not_json": "Der Schlüssel ist kein JSON",
        "key_stored": "Ein Dienstkontoschlüssel ist gespeichert",
        "signed_in": f"Angemeldet für {MAILBOX}",
        "elsewhere": "Tocsin läuft auf einem anderen Rechner als dieser Browser",
    },
}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """This module's chromium also knows a name for 127.0.0.1 that is not a loopback
    name, to play a browser that reaches Tocsin on another machine."""
    with sync_playwright() as pw:
        args = [*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {ELSEWHERE} 127.0.0.1"]
        launched = pw.chromium.launch(
            executable_path=CHROMIUM, args=args, headless=True, timeout=30_000
        )
        yield launched
        launched.close()


def speak(page: Page, services: Services, admin: str, language: str) -> None:
    found = services.store.admin_credentials(admin)
    assert found is not None
    services.store.set_admin_language(found[0].id, language)
    page.reload()
    expect(page.locator("html")).to_have_attribute("lang", language)


STICKY = "(v) => document.querySelectorAll('.sticky-actions').forEach(e => e.style.position = v)"


def shoot(page: Page, name: str) -> None:
    """Screenshots at 1280 and 375 px; at 375 nothing may stick out sideways."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate(STICKY, "static")
    for suffix, viewport in WIDTHS.items():
        page.set_viewport_size(viewport)
        page.locator("#oauth").scroll_into_view_if_needed()
        page.locator("#oauth").screenshot(path=str(SHOTS / f"{name}-{suffix}.png"))
        wide = page.evaluate("() => document.documentElement.scrollWidth")
        assert wide <= viewport["width"], (name, suffix, wide)
    page.evaluate(STICKY, "")
    page.set_viewport_size(WIDTHS["desktop"])


def choose(page: Page, provider: str, flow: str) -> None:
    page.locator("#f-auth_method-oauth2").check()
    page.locator("#f-sender_address").fill(MAILBOX)
    page.locator("#f-username").fill(MAILBOX)
    page.locator("#f-oauth_provider").select_option(provider)
    page.locator("#f-oauth_flow").select_option(flow)


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_client_certificate_from_the_page(
    signed_in: Page, services: Services, admin: str, language: str
) -> None:
    page, words = signed_in, TEXTS[language]
    speak(page, services, admin, language)
    pair, other = make_client_certificate(), make_client_certificate()
    secret_line = pair.pem.splitlines()[3]
    page.locator("#f-host").fill("smtp.office365.com")
    choose(page, "microsoft", "app_only")
    expect(page.locator("#f-oauth_client_certificate")).to_be_visible()
    expect(page.locator("#f-oauth_service_account_key")).to_be_hidden()
    expect(page.locator("#oauth-sign-in")).to_be_hidden()
    page.locator("#f-oauth_tenant").fill("contoso-tenant")
    page.locator("#f-oauth_client_id").fill("alarm-app")
    mixed = pair.pem.replace(pair.certificate_pem.decode(), other.certificate_pem.decode())
    page.locator("#f-oauth_client_certificate").fill(mixed)
    page.get_by_role("button", name=words["save"]).click()
    block = page.locator("#oauth-certificate")
    expect(block).to_contain_text(words["mismatch"])
    expect(page.locator("#f-oauth_client_certificate")).to_have_attribute("aria-invalid", "true")
    assert secret_line not in page.content()
    assert services.settings.load().oauth_client_certificate is None
    shoot(page, f"oauth-certificate-refused-{language}")
    page.locator("#f-oauth_client_certificate").fill(pair.pem)
    page.get_by_role("button", name=words["save"]).click()
    expect(page.locator("#f-oauth_client_certificate-help")).to_contain_text(words["cert_stored"])
    expect(page.locator("#f-oauth_client_certificate")).to_have_value("")
    stored = services.settings.load().oauth_client_certificate
    assert stored is not None
    assert stored.reveal() == pair.pem.strip()
    assert secret_line not in page.content()
    shoot(page, f"oauth-certificate-stored-{language}")
    page.locator("#f-oauth_client_certificate_clear").check()
    page.get_by_role("button", name=words["save"]).click()
    expect(page.locator("#f-oauth_client_certificate_clear")).to_have_count(0)
    assert services.settings.load().oauth_client_certificate is None


def _key_json() -> tuple[str, str]:
    key = RSAKey.generate_key(2048)
    private = key.as_pem(private=True).decode()
    doc = {
        "type": "service_account",
        "client_email": "tocsin@project.iam.gserviceaccount.com",
        "private_key": private,
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    return json.dumps(doc, indent=2), private.splitlines()[3]


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_service_account_key_from_the_page(
    signed_in: Page, services: Services, admin: str, language: str
) -> None:
    page, words = signed_in, TEXTS[language]
    speak(page, services, admin, language)
    page.locator("#f-host").fill("smtp.gmail.com")
    choose(page, "google", "service_account")
    expect(page.locator("#f-oauth_service_account_key")).to_be_visible()
    expect(page.locator("#f-oauth_client_certificate")).to_be_hidden()
    page.locator("#f-oauth_service_account_key").fill("{not json")
    page.get_by_role("button", name=words["save"]).click()
    expect(page.locator("#oauth-key")).to_contain_text(words["not_json"])
    assert services.settings.load().oauth_service_account_key is None
    shoot(page, f"oauth-key-refused-{language}")
    text, secret_line = _key_json()  # a pretty-printed file, as Google hands it out
    page.locator("#f-oauth_service_account_key").fill(text)
    page.get_by_role("button", name=words["save"]).click()
    expect(page.locator("#f-oauth_service_account_key-help")).to_contain_text(words["key_stored"])
    expect(page.locator("#f-oauth_service_account_key")).to_have_value("")
    stored = services.settings.load().oauth_service_account_key
    assert stored is not None
    assert json.loads(stored.reveal())["client_email"].startswith("tocsin@")
    assert secret_line not in page.content()
    shoot(page, f"oauth-key-stored-{language}")
    page.locator("#f-oauth_service_account_key_clear").check()
    page.get_by_role("button", name=words["save"]).click()
    expect(page.locator("#f-oauth_service_account_key_clear")).to_have_count(0)
    assert services.settings.load().oauth_service_account_key is None


@pytest.fixture
def oauth() -> Iterator[OAuthTestServer]:
    with OAuthTestServer(interval=0.05) as server:
        server.add_client(PUBLIC)
        yield server


def loopback_settings(
    oauth: OAuthTestServer, flow: OAuthFlow = OAuthFlow.LOOPBACK
) -> EmailSettings:
    return oauth_settings(
        oauth, client_id=PUBLIC, mailbox=MAILBOX, host="smtp.office365.com", port=587,
        encryption=Encryption.STARTTLS, oauth_flow=flow,
        oauth_authorize_url=oauth.authorization_url,
    )  # fmt: skip


def _browse(oauth: OAuthTestServer, url: str) -> int:
    """The person's browser on Tocsin's machine: the provider's page, then the redirect
    back to Tocsin's loopback listener."""
    with httpx.Client(verify=oauth.ca.client_context(), timeout=10) as browser:
        page = browser.get(f"{url}&user={MAILBOX}&decision=approve")
        assert page.status_code == 302
        location = page.headers["location"]
        assert location.startswith("http://127.0.0.1:")
        return browser.get(location).status_code


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_browser_sign_in_runs_from_the_page(
    signed_in: Page, services: Services, admin: str, oauth: OAuthTestServer, language: str
) -> None:
    services.settings.save(loopback_settings(oauth))
    page, words = signed_in, TEXTS[language]
    speak(page, services, admin, language)
    expect(page.locator("#oauth-sign-in")).to_be_visible()
    page.get_by_role("button", name=words["sign_in"], exact=True).click()
    link = page.locator("#oauth-link-url")
    expect(link).to_be_visible()
    url = link.inner_text()
    assert url.startswith(oauth.authorization_url + "?")
    assert "code_challenge_method=S256" in url
    expect(page.locator("#oauth-code")).to_be_hidden()
    shoot(page, f"oauth-browser-link-{language}")
    assert services.settings.load().oauth_refresh_token is None
    assert _browse(oauth, url) == 200
    status = page.locator("#oauth-status")
    expect(status).to_have_attribute("data-state", "signed_in")
    expect(status).to_contain_text(words["signed_in"])
    expect(page.locator("#oauth-link")).to_be_hidden()
    stored = services.settings.load().oauth_refresh_token
    assert stored is not None
    assert stored.reveal() in oauth.issued_secrets
    html = page.content()
    assert not [s for s in oauth.issued_secrets if s in html]


@pytest.mark.parametrize("language", ["en", "de"])
def test_a_browser_on_another_machine_is_told_to_use_the_device_code(
    signed_in: Page,
    server: LiveServer,
    services: Services,
    admin: str,
    oauth: OAuthTestServer,
    language: str,
) -> None:
    services.settings.save(loopback_settings(oauth))
    page, words = signed_in, TEXTS[language]
    speak(page, services, admin, language)
    port = server.url.rsplit(":", 1)[1]
    remote = f"http://{ELSEWHERE}:{port}"
    cookie = next(c for c in page.context.cookies() if c["name"] == SESSION_COOKIE)
    page.context.add_cookies(
        [{"name": SESSION_COOKIE, "value": cookie["value"], "url": remote, "httpOnly": True}]
    )
    page.goto(remote + "/settings/email")
    page.get_by_role("button", name=words["sign_in"], exact=True).click()
    status = page.locator("#oauth-status")
    expect(status).to_have_attribute("data-state", "elsewhere")
    expect(status).to_contain_text(words["elsewhere"])
    expect(page.locator("#oauth-link")).to_be_hidden()
    assert oauth.token_requests == []
    shoot(page, f"oauth-browser-elsewhere-{language}")
    page.locator("#oauth-use-device").click()  # the page offers the device code instead
    expect(page.locator("#f-oauth_flow")).to_have_value("device_code")
    expect(status).to_have_attribute("data-state", "device_chosen")
    with next_page(page):  # saved; then oauth-signin.js runs the sign-in below
        page.get_by_role("button", name=words["save"]).click()
    assert services.settings.load().oauth_flow is OAuthFlow.DEVICE_CODE
    page.get_by_role("button", name=words["sign_in"], exact=True).click()
    code = page.locator("#oauth-code-value")
    expect(code).not_to_be_empty()
    oauth.approve(code.inner_text(), MAILBOX)
    expect(status).to_have_attribute("data-state", "signed_in")


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_device_code_block_in_each_language(
    signed_in: Page, services: Services, admin: str, oauth: OAuthTestServer, language: str
) -> None:
    services.settings.save(loopback_settings(oauth, OAuthFlow.DEVICE_CODE))
    page, words = signed_in, TEXTS[language]
    speak(page, services, admin, language)
    page.get_by_role("button", name=words["sign_in"], exact=True).click()
    code = page.locator("#oauth-code-value")
    expect(code).not_to_be_empty()
    shoot(page, f"oauth-device-code-{language}")
    oauth.approve(code.inner_text(), MAILBOX)
    status = page.locator("#oauth-status")
    expect(status).to_have_attribute("data-state", "signed_in")
    expect(status).to_contain_text(words["signed_in"])
    shoot(page, f"oauth-device-signed-in-{language}")


def test_the_outlook_com_preset_chooses_the_device_code_and_the_consumers_tenant(
    signed_in: Page,
) -> None:
    page = signed_in
    page.get_by_label("Provider").select_option(label="Outlook.com")
    expect(page.locator("#f-host")).to_have_value("smtp-mail.outlook.com")
    expect(page.locator("#f-auth_method-oauth2")).to_be_checked()
    expect(page.locator("#f-oauth_flow")).to_have_value("device_code")
    expect(page.locator("#f-oauth_tenant")).to_have_value("consumers")
    expect(page.locator("#oauth-sign-in")).to_be_visible()  # the flow's own parts show
    expect(page.locator("#f-oauth_client_certificate")).to_be_hidden()
