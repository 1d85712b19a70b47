"""Against a server that accepts and never greets: the page says what the step waits for,
fails it on time, and its cancel button ends the conversation at once."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page, expect
from test_web_test_typed import PHONE_375, _open_as
from web_helpers import DESKTOP, SCREENSHOTS

from helpers import LiveServer
from tocsin.services.context import Services

GREETING = {"en": "the server's greeting", "de": "die Begrüßung des Servers"}
CANCELLED = {"en": "Test cancelled", "de": "Test abgebrochen"}


class NeverGreets:
    """A plain socket server: accepts, never writes; notes when each connection ends."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.closed: list[float] = []
        self.accepted: list[float] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted.append(time.monotonic())
            threading.Thread(target=self._hold, args=(conn,), daemon=True).start()

    def _hold(self, conn: socket.socket) -> None:
        with conn:
            while conn.recv(4096):
                pass
        self.closed.append(time.monotonic())

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def silent() -> Iterator[NeverGreets]:
    server = NeverGreets()
    yield server
    server.close()


def _save(services: Services, port: int) -> None:
    _, report, saved = services.settings.update(
        {
            "host": "127.0.0.1",
            "port": port,
            "encryption": "starttls",
            "sender_address": "alarm@example.com",
            "ehlo_name": "tocsin.test",
            "timeout": 6,
        }
    )
    assert saved, report


_STAMP_FAILURE = """() => {
    let started = null;
    document.getElementById('test-send').addEventListener('click', () => {
        started = performance.now();
    }, {capture: true, once: true});
    const failed = '#test-steps li[data-phase=greeting][data-status=fail]';
    const watch = new MutationObserver(() => {
        if (started !== null && document.querySelector(failed)) {
            window.failedAfterMs = performance.now() - started;
            watch.disconnect();
        }
    });
    const options = {subtree: true, childList: true, attributes: true};
    watch.observe(document.getElementById('test-steps'), options);
}"""
"""Notes in the page the time from the click on Send to the greeting step's failure."""


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_greeting_step_says_what_it_waits_for_and_fails_after_6_to_7_s(
    page: Page,
    server: LiveServer,
    services: Services,
    silent: NeverGreets,
    language: str,
    shoot: Callable[[Page, str], None],
) -> None:
    _save(services, silent.port)
    _open_as(page, server, services, language)
    greeting = page.locator('#test-steps li[data-phase="greeting"]')
    # The page itself times the click to the failure (a screenshot taken meanwhile must
    # not count: under load it took the test's own clock past 7 s).
    page.evaluate(_STAMP_FAILURE)
    page.locator("#test-send").click()
    expect(greeting.locator(".step-waiting")).to_contain_text(GREETING[language])
    page.locator("#test-email").screenshot(path=str(SCREENSHOTS / f"test-waiting-{language}.png"))
    failed_ms = page.wait_for_function("() => window.failedAfterMs", timeout=15_000).json_value()
    failed_after = float(failed_ms) / 1000
    assert 6.0 <= failed_after < 7.0, failed_after
    expect(greeting).to_contain_text(GREETING[language])  # what it waited for, in the failure
    expect(greeting).to_contain_text("6 s")
    expect(greeting.locator(".step-waiting")).to_have_count(0)
    shoot(page, f"settings-test-no-greeting-{language}")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE_375], ids=["1280", "375"])
@pytest.mark.parametrize("language", ["en", "de"])
def test_cancel_ends_the_conversation_at_once(
    page: Page,
    server: LiveServer,
    services: Services,
    silent: NeverGreets,
    viewport: dict[str, int],
    language: str,
) -> None:
    _save(services, silent.port)
    page.set_viewport_size(viewport)
    _open_as(page, server, services, language)
    cancel = page.locator("#test-cancel")
    expect(cancel).to_be_hidden()
    page.locator("#test-send").click()
    expect(page.locator('#test-steps li[data-phase="greeting"] .step-waiting')).to_be_visible()
    # The server thread notes the connection a moment after the client has it.
    for _ in range(100):
        if silent.accepted:
            break
        time.sleep(0.05)
    assert silent.accepted
    assert not silent.closed
    expect(cancel).to_be_visible()
    clicked = time.monotonic()
    cancel.click()
    expect(page.locator("#test-result")).to_contain_text(CANCELLED[language])
    for _ in range(100):
        if silent.closed:
            break
        time.sleep(0.01)
    assert silent.closed, "the SMTP connection was still open"
    assert silent.closed[0] - clicked < 1.0
    expect(cancel).to_be_hidden()
    expect(page.locator("#test-send")).to_be_enabled()
