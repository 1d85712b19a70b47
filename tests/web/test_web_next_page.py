"""The shared wait for the page a click brings (web_helpers.next_page): it ends on a new,
loaded document, also where the address stays the same, and never on the old one."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from web_helpers import next_page

SAVED = re.compile(r"/settings/email\?saved=1$")


def test_a_form_posted_back_to_the_same_address_is_waited_for(signed_in: Page) -> None:
    page = signed_in
    with next_page(page, SAVED):
        page.get_by_role("button", name="Save settings").click()
    page.get_by_label("Sender name").fill("Server room")
    page.evaluate("() => { window.oldDocument = true; }")
    with next_page(page, SAVED):  # the address was that already
        page.get_by_role("button", name="Save settings").click()
    # The new document (no mark), loaded (its deferred scripts ran before): the saved
    # name shows.
    assert page.evaluate("() => [window.oldDocument, document.readyState]") == [
        None,
        "complete",
    ]
    expect(page.get_by_label("Sender name")).to_have_value("Server room")


def test_no_navigation_is_no_new_page(signed_in: Page) -> None:
    page = signed_in
    with pytest.raises(PlaywrightTimeout), next_page(page, timeout=500):
        page.get_by_label("Sender name").fill("typed, not sent")
