"""Enrolling with the online service from the settings page (issue 12, point 4), against
the real relay: the same checks as ``tocsin online enroll``, plain sentences instead of
internal codes, the choice explained before a save, the command readable on a phone."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from relay_for_web import DEVICE, WebRelay, running_relay
from web_helpers import speak_german

from tocsin.services.context import Services


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[WebRelay]:
    with running_relay(tmp_path) as running:
        yield running


def _enrol(page: Page, url: str, token: str, ca: str) -> None:
    page.locator("#transport-choice").get_by_role("radio", name=re.compile("Online")).check()
    box = page.locator("#online-enrol")
    box.locator("#f-enrol-url").fill(url)
    box.locator("#f-enrol-token").fill(token)
    box.locator("#f-enrol-ca").fill(ca)
    box.locator("button[type=submit]").click()


def test_a_device_is_enrolled_from_the_page(
    signed_in: Page, services: Services, relay: WebRelay
) -> None:
    page = signed_in
    # Before any save: the choice says the device must be enrolled first.
    expect(page.locator("#f-transport-online-help")).to_contain_text("not enrolled yet")
    _enrol(page, relay.url, relay.credential, str(relay.ca.ca_path))
    expect(page).to_have_url(re.compile(r"/settings/email\?enrolled=1$"))
    expect(page.locator("#enrolled")).to_contain_text(f"Enrolled as device {DEVICE}")
    expect(page.locator("#online-enrolled")).to_have_text("Enrolled")
    expect(page.locator("#online-reach")).to_contain_text(
        f"the relay knows this device as {DEVICE}"
    )
    saved = services.settings.load()
    assert (saved.transport.value, saved.relay_url, saved.device_id) == (
        "online",
        relay.url,
        DEVICE,
    )
    assert saved.device_credential is not None
    assert saved.device_credential.reveal() == relay.credential
    assert saved.sender_address == ""  # the relay allows a domain (@…): chosen by the admin
    assert relay.credential not in page.content()


@pytest.mark.parametrize(
    ("language", "bad_token", "bad_url"),
    [
        ("en", "The relay refused the enrolment token", "Enter the relay's address like"),
        ("de", "Das Relay hat das Registrierungs-Token abgelehnt", "Geben Sie die Adresse"),
    ],
)
def test_a_wrong_token_or_address_is_refused_in_plain_words_and_nothing_saved(
    signed_in: Page, services: Services, relay: WebRelay, language: str, bad_token: str,
    bad_url: str,
) -> None:  # fmt: skip
    page = signed_in
    if language == "de":
        speak_german(page)
    _enrol(page, relay.url, "tcd_wrong-token-123", str(relay.ca.ca_path))
    expect(page).to_have_url(re.compile(r"/settings/email\?enrol_failed="))
    refused = page.locator("#enrol-refused")
    expect(refused).to_contain_text(bad_token)
    expect(refused).not_to_contain_text("auth_failed")
    page.locator("#f-enrol-url").fill("ftp://relay.example.com")
    page.locator("#f-enrol-token").fill("whatever")
    page.locator("#online-enrol button[type=submit]").click()
    expect(page.locator("#enrol-refused")).to_contain_text(bad_url)
    expect(page.locator("#enrol-refused")).not_to_contain_text("relay_url")
    assert services.settings.load().relay_url == ""
    assert services.settings.load().device_credential is None


def test_the_check_speaks_plainly_and_the_command_fits_a_phone(
    signed_in: Page, services: Services
) -> None:
    services.settings.update({"transport": "online"})
    page = signed_in
    page.reload()
    page.set_viewport_size({"width": 375, "height": 800})
    command = page.locator("#online-how code.command")
    box = command.bounding_box()
    assert box is not None
    assert command.evaluate("el => el.scrollWidth <= el.clientWidth"), "the command is cut off"
    assert box["x"] + box["width"] <= 375
    # Not enrolled: no check to run, so no internal code can show.
    expect(page.locator("#online-check")).to_have_count(0)
    expect(page.locator("#online-settings")).not_to_contain_text("not_configured")
