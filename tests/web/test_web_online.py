"""The online service section of the email settings: enrolment facts and the live check,
against the real relay (``tocsin.relay`` over HTTPS, see relay_for_web.py).

The page asks GET /api/v1/settings/online-status, which asks the relay who this device
is (GET /v1/device with the device's credential).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect
from relay_for_web import DEVICE, WebRelay, running_relay
from web_helpers import speak_german

from helpers import LiveServer
from tocsin.services.context import Services
from tocsin.testing import TestCA


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[WebRelay]:
    """The real relay on 127.0.0.1, with the device site-7 (not yet enrolled here)."""
    with running_relay(tmp_path) as running:
        yield running


@pytest.fixture
def enrolled(signed_in: Page, services: Services, relay: WebRelay) -> Page:
    """The settings page of an installation enrolled at the relay, checked once on load."""
    relay.enrol(services)
    signed_in.reload()
    expect(signed_in.locator("#online-reach")).to_contain_text("reachable — the relay knows")
    return signed_in


def _refused(page: Page, reason: str) -> Locator:
    """Check that the line says the relay check failed for ``reason`` (in words, no code);
    what to change."""
    expect(page.locator("#online-reach")).to_have_text(f"not reachable ({reason})")
    hint = page.locator("#online-reach-hint")
    expect(hint).to_contain_text("What to change:")
    return hint


def test_an_enrolled_installation_shows_its_facts_and_reaches_the_relay(
    enrolled: Page, server: LiveServer, relay: WebRelay, shoot: Callable[[Page, str], None]
) -> None:
    page = enrolled
    expect(page.locator("#online-settings")).to_be_visible()
    expect(page.locator("#online-enrolled")).to_have_text("Enrolled")
    expect(page.locator("#online-relay-url")).to_have_text(relay.url)
    expect(page.locator("#online-device-id")).to_have_text(DEVICE)
    expect(page.locator("#online-credential")).to_have_text("set (not shown)")
    # Checked once on load; the device's name is the relay's answer.
    reach = page.locator("#online-reach")
    expect(reach).to_contain_text(f"reachable — the relay knows this device as {DEVICE} (")
    expect(reach).to_have_class("reach-ok")
    expect(page.locator("#online-reach-detail")).to_be_hidden()
    expect(page.locator("#online-reach-hint")).to_be_hidden()
    expect(page.locator("#online-how")).to_have_count(0)
    assert relay.credential not in page.content()
    shoot(page, "settings-online-enrolled-en")

    answer = page.request.get(server.url + "/api/v1/settings/online-status")
    assert answer.ok
    found = answer.json()
    assert (found["reachable"], found["device"], found["reason"]) == (True, DEVICE, "")
    assert relay.credential not in answer.text()


def test_a_revoked_credential_says_the_relay_refused_it_and_what_to_do(
    enrolled: Page, relay: WebRelay, shoot: Callable[[Page, str], None]
) -> None:
    page = enrolled
    relay.revoke()  # at the relay: the page's next check shows it
    page.get_by_role("button", name="Check connection").click()
    advice = _refused(page, "Login refused")
    expect(page.locator("#online-reach")).to_have_class("reach-fail")
    expect(page.locator("#online-reach-detail")).to_be_hidden()  # no internal wording
    expect(advice).to_be_visible()
    expect(advice).to_contain_text("refused this device's credential (wrong or revoked)")
    expect(advice).to_contain_text("tocsin online enroll URL")
    expect(advice).not_to_contain_text("cannot be reached")  # the advice for this failure only
    shoot(page, "settings-online-revoked-en")


def test_a_stopped_relay_is_unreachable_and_the_page_says_mail_waits(
    enrolled: Page, relay: WebRelay
) -> None:
    page = enrolled
    relay.stop()
    page.get_by_role("button", name="Check connection").click()
    advice = _refused(page, "Connection refused")
    expect(page.locator("#online-reach-detail")).to_be_hidden()
    expect(advice).to_contain_text("Alarm emails wait in the outbox meanwhile")
    expect(advice).to_contain_text("internet connection, its DNS server")
    expect(advice).to_contain_text("(port ")


def test_a_relay_certificate_the_appliance_does_not_trust_is_named(
    signed_in: Page, server: LiveServer, services: Services, relay: WebRelay
) -> None:
    with TestCA() as stranger:  # the appliance trusts another CA than the relay's
        relay.enrol(services, ca_file=stranger.ca_path)
        page = signed_in
        page.reload()
        advice = _refused(page, "Certificate not trusted")
    expect(advice).to_contain_text("unable to get local issuer certificate")
    expect(advice).to_contain_text("certificate was not accepted")
    expect(advice).to_contain_text("private CA")

    relay.enrol(services)  # trusting the relay's CA, the same relay answers
    page.get_by_role("button", name="Check connection").click()
    expect(page.locator("#online-reach")).to_contain_text(
        f"the relay knows this device as {DEVICE}"
    )


def test_an_installation_not_enrolled_explains_how(
    signed_in: Page, server: LiveServer, services: Services, shoot: Callable[[Page, str], None]
) -> None:
    services.settings.update({"transport": "online"})
    page = signed_in
    page.reload()
    expect(page.locator("#online-enrolled")).to_contain_text("Not enrolled yet")
    expect(page.locator("#online-relay-url")).to_have_text("not set")
    expect(page.locator("#online-credential")).to_have_text("not set")
    expect(page.locator("#online-how")).to_contain_text("tocsin online enroll URL")
    # Nothing to check before enrolling: the page offers the enrolment instead.
    expect(page.locator("#online-check")).to_have_count(0)
    expect(page.locator("#online-enrol")).to_contain_text("Enrolment token")
    shoot(page, "settings-online-not-enrolled-en")


def test_the_online_section_in_german(
    signed_in: Page,
    server: LiveServer,
    services: Services,
    relay: WebRelay,
    shoot: Callable[[Page, str], None],
) -> None:
    page = signed_in
    speak_german(page)  # the switch's page is done before the reload
    services.settings.update({"transport": "online"})
    page.reload()
    expect(page.locator("#online-how")).to_contain_text("Registrierungs-Token")
    expect(page.locator("#online-how")).to_contain_text("tocsin online enroll URL")
    shoot(page, "settings-online-not-enrolled-de")
    relay.enrol(services)
    page.reload()
    expect(page.locator("#online-enrolled")).to_have_text("Registriert")
    expect(page.locator("#online-reach")).to_contain_text(
        f"erreichbar — das Relay kennt dieses Gerät als {DEVICE}"
    )
    shoot(page, "settings-online-enrolled-de")
    relay.revoke()
    page.get_by_role("button", name="Verbindung prüfen").click()
    expect(page.locator("#online-reach-hint")).to_contain_text("Was zu ändern ist:")
    expect(page.locator("#online-reach-hint")).to_contain_text("Zugangsdaten dieses Geräts")
