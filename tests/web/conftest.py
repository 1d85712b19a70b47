"""Browser tests: the real app under uvicorn, driven by Python Playwright and Debian's chromium.

No ``playwright install``: the browser is the system one (``CHROMIUM_PATH``, default
/usr/bin/chromium; ``scripts/browser-setup.sh`` installs it).  Every page a test opens
is watched for console errors, so a CSP violation (an inline script or style) fails
the test that caused it.
"""

from __future__ import annotations

import functools
import re
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from web_helpers import (
    ADMIN,
    ADMIN_PASSWORD,
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    PHONE,
    SCREENSHOTS,
)

from helpers import LiveServer
from tocsin.app import create_app
from tocsin.http import SESSION_COOKIE
from tocsin.security import hash_password, hash_token, new_token
from tocsin.services.context import Services


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless chromium per test module.

    Not per session: Playwright's sync API keeps an event loop running in this thread
    while it lives, and asyncio tests collected after the browser tests would find it.
    """
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no browser at {CHROMIUM}: run scripts/browser-setup.sh (as root)")
    with sync_playwright() as pw:
        launched = pw.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, timeout=30_000
        )
        yield launched
        launched.close()


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    """A fresh data directory: no admin, default settings, empty outbox."""
    opened = Services.open(tmp_path / "data")
    yield opened
    opened.close()


@pytest.fixture
def server(services: Services) -> Iterator[LiveServer]:
    """The whole app (REST API and pages) on 127.0.0.1:<free port>."""
    live = LiveServer(create_app(services))
    yield live
    live.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies) at desktop size."""
    ctx = browser.new_context(viewport=DESKTOP, locale="en-GB")
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext, server: LiveServer) -> Iterator[Page]:
    """A page with bounded waits; fails the test on any console error (CSP included)."""
    opened = context.new_page()
    opened.set_default_timeout(10_000)
    errors: list[str] = []
    opened.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    # Expected refusals (a form's 422, a group still in use's 409, a fetch()'s 429, a
    # forged / used acknowledgement link's 404 / 410) are reported by chromium as
    # console errors.
    expected = r"status of (401|403|404|409|410|422|429)"
    unexpected = [e for e in errors if not re.search(expected, e)]
    assert not unexpected, f"console errors: {unexpected}"


@functools.cache
def _admin_hash() -> str:
    return hash_password(ADMIN_PASSWORD)  # Argon2 takes ~0.3 s: once per run is enough


@pytest.fixture
def admin(services: Services) -> str:
    """An admin account (English); returns the username."""
    services.store.add_admin(ADMIN, _admin_hash(), "en", time.time())
    return ADMIN


@pytest.fixture
def signed_in(page: Page, server: LiveServer, services: Services, admin: str) -> Page:
    """A page with the admin's session, on the email settings.

    The session is opened in the store and handed to the browser as its cookie, which
    skips a password check per test; the login form has tests of its own.
    """
    found = services.store.admin_credentials(admin)
    assert found is not None
    session_id, now = new_token("tss"), time.time()
    services.store.add_session(
        hash_token(session_id), found[0].id, secrets.token_urlsafe(32), now, now + 3600
    )
    page.context.add_cookies(
        [{"name": SESSION_COOKIE, "value": session_id, "url": server.url, "httpOnly": True}]
    )
    page.goto(server.url + "/settings/email")
    return page


@pytest.fixture
def shoot() -> Callable[[Page, str], None]:
    """Save a full-page screenshot at desktop and at phone width (test artefacts)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    # A full-page capture paints a sticky bar where the first viewport ended; put it in
    # the flow of the page for the capture (through the CSSOM, which the CSP allows).
    flow = "(v) => document.querySelectorAll('.sticky-actions').forEach(e => e.style.position = v)"

    def take(page: Page, name: str) -> None:
        size = page.viewport_size or DESKTOP
        page.evaluate(flow, "static")
        for suffix, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(viewport)
            page.screenshot(path=str(SCREENSHOTS / f"{name}-{suffix}.png"), full_page=True)
        page.evaluate(flow, "")
        page.set_viewport_size(size)

    return take
