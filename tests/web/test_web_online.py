"""The online service section of the email settings: enrolment facts and the live relay check."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import Page, expect

from helpers import LiveServer
from tocsin.services.context import Services

CREDENTIAL = "tcr_web-test-credential-never-shown"


class _Relay(BaseHTTPRequestHandler):
    """Just enough of the relay's API for ``check_relay``: GET /v1/device."""

    def do_GET(self) -> None:
        if self.path != "/v1/device":
            self.send_error(404)
            return
        if self.headers.get("Authorization") != f"Bearer {CREDENTIAL}":
            body, code = {"error": "unauthorized", "message": "unknown credential"}, 401
        else:
            body, code = {"name": "site-7", "senders": ["alarms@example.com"]}, 200
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def relay_url() -> Iterator[str]:
    """A stand-in relay on 127.0.0.1 (plain HTTP is allowed to a loopback address)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Relay)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _enrol(services: Services, url: str, credential: str = CREDENTIAL) -> None:
    services.settings.update(
        {
            "transport": "online",
            "relay_url": url,
            "device_id": "site-7",
            "device_credential": credential,
        }
    )


def test_an_enrolled_installation_shows_its_facts_and_checks_the_relay(
    signed_in: Page,
    server: LiveServer,
    services: Services,
    relay_url: str,
    shoot: Callable[[Page, str], None],
) -> None:
    _enrol(services, relay_url)
    page = signed_in
    page.reload()
    online = page.locator("#online-settings")
    expect(online).to_be_visible()
    expect(page.locator("#online-enrolled")).to_have_text("Enrolled")
    expect(page.locator("#online-relay-url")).to_have_text(relay_url)
    expect(page.locator("#online-device-id")).to_have_text("site-7")
    expect(page.locator("#online-credential")).to_have_text("set (not shown)")
    # Checked once on load, through GET /api/v1/settings/online-status.
    expect(page.locator("#online-reach")).to_contain_text("reachable — the relay knows this")
    expect(page.locator("#online-reach")).to_contain_text("site-7")
    expect(page.locator("#online-how")).to_have_count(0)
    assert CREDENTIAL not in page.content()
    shoot(page, "settings-online-enrolled-en")

    # The credential gets revoked: the button shows it at once.
    services.settings.update({"device_credential": "tcr_revoked"})
    page.get_by_role("button", name="Check connection").click()
    expect(page.locator("#online-reach")).to_have_text("not reachable (auth_failed)")
    expect(page.locator("#online-reach-detail")).to_be_visible()


def test_an_installation_not_enrolled_explains_how(
    signed_in: Page, server: LiveServer, services: Services, shoot: Callable[[Page, str], None]
) -> None:
    services.settings.update({"transport": "online"})
    page = signed_in
    page.reload()
    expect(page.locator("#online-enrolled")).to_contain_text("Not enrolled yet")
    expect(page.locator("#online-relay-url")).to_have_text("not set")
    expect(page.locator("#online-credential")).to_have_text("not set")
    expect(page.locator("#online-reach")).to_have_text("not checked yet")  # no automatic check
    expect(page.locator("#online-how")).to_contain_text("tocsin online enroll URL TOKEN")
    page.get_by_role("button", name="Check connection").click()
    expect(page.locator("#online-reach")).to_have_text("not reachable (not_configured)")
    shoot(page, "settings-online-not-enrolled-en")


def test_the_online_section_in_german(
    signed_in: Page,
    server: LiveServer,
    services: Services,
    relay_url: str,
    shoot: Callable[[Page, str], None],
) -> None:
    page = signed_in
    page.get_by_role("button", name="Deutsch").click()
    services.settings.update({"transport": "online"})
    page.reload()
    expect(page.locator("#online-how")).to_contain_text("Registrierungs-Token")
    expect(page.locator("#online-how")).to_contain_text("tocsin online enroll URL TOKEN")
    shoot(page, "settings-online-not-enrolled-de")
    _enrol(services, relay_url)
    page.reload()
    expect(page.locator("#online-enrolled")).to_have_text("Registriert")
    expect(page.locator("#online-reach")).to_contain_text("erreichbar — das Relay kennt")
    shoot(page, "settings-online-enrolled-de")
