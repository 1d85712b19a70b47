"""Constants and helpers the browser tests share (fixtures are in conftest.py)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Page, expect

from helpers import REPO

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # needed as root; Playwright adds it too
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Where the page tests leave their screenshots ($TOCSIN_SHOTS to look at them elsewhere).
SCREENSHOTS = Path(os.environ.get("TOCSIN_SHOTS") or REPO / "test-artifacts" / "screenshots")
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

ADMIN, ADMIN_PASSWORD = "admin", "a long admin passphrase"


@contextmanager
def next_page(
    page: Page, url: str | re.Pattern[str] | None = None, *, timeout: float | None = None
) -> Iterator[None]:
    """Wait, after the block, until the page its click or submit brought has loaded.

    Playwright's click returns before the navigation it starts, and ``to_have_url`` is met
    once the new document is committed: before its deferred scripts (test-email.js,
    settings.js, oauth-signin.js, group-checks.js …) have run, so a control they drive
    acts without them (a test email's form posted instead of sent by the script).  Where
    the address stays the same (a form posted back to its page, the language switch) it
    is met at once, on the old page.  So the wait is for the main frame's next ``load``
    event, which only the new document fires (deferred scripts run before it), and
    which needs no script in the page (pages opened without JavaScript too).  With
    ``url``, the page must also be at that address; ``timeout`` (ms) bounds the wait
    (the page's default otherwise).

    Raises:
        playwright.sync_api.TimeoutError: no new page loaded in time.
    """
    with page.expect_event("load", timeout=timeout):
        yield
    if url is not None:
        expect(page).to_have_url(url)


def speak_german(page: Page) -> None:
    """Switch a signed-in admin's pages to German with the top bar's button; wait until
    the page, in German, has loaded."""
    with next_page(page):
        page.get_by_role("button", name="Deutsch").click()
    expect(page.locator("html")).to_have_attribute("lang", "de")


def log_in(page: Page, base: str, username: str = ADMIN, password: str = ADMIN_PASSWORD) -> None:
    """Log in through the login form and land on the email settings."""
    page.goto(base + "/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    with next_page(page, re.compile(r"/settings/email$")):
        page.get_by_role("button", name="Log in").click()
