"""Constants and helpers the browser tests share (fixtures are in conftest.py)."""

from __future__ import annotations

import os
import re
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


def log_in(page: Page, base: str, username: str = ADMIN, password: str = ADMIN_PASSWORD) -> None:
    """Log in through the login form and land on the email settings."""
    page.goto(base + "/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/settings/email$"))
