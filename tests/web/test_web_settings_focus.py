"""The email settings page, read and typed by a person: focus never under the Save bar
(WCAG 2.4.11), each tip once, errors in plain words of one language, and a refused
field shown exactly as it was typed."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from web_helpers import next_page, speak_german

from tocsin.services.context import Services

_COVERED = """() => {
  const bar = document.querySelector('.sticky-actions').getBoundingClientRect();
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const box = el.getBoundingClientRect();
  const inBar = el.closest('.sticky-actions') !== null;
  return {id: el.id || el.name || el.tagName, inBar: inBar, top: box.top, bottom: box.bottom,
          barTop: bar.top, barBottom: bar.bottom, height: window.innerHeight,
          after: el.closest('#failover, #test-email') !== null};
}"""


@pytest.mark.parametrize("width", [1280, 375])
def test_tab_never_leaves_focus_under_the_save_bar(signed_in: Page, width: int) -> None:
    page = signed_in
    page.set_viewport_size({"width": width, "height": 700 if width > 400 else 667})
    # The bar at its tallest: the unsaved-changes note shows, as soon as anything is typed.
    page.get_by_label("Sender name").fill("Server room")
    page.locator("#f-encryption-none").check()  # shows the plain-text password checkbox too
    expect(page.locator("#unsaved-note")).to_be_visible()
    page.evaluate("() => { document.querySelector('a[href]').focus(); window.scrollTo(0, 0); }")
    seen: list[str] = []
    for _ in range(80):
        page.keyboard.press("Tab")
        found = page.evaluate(_COVERED)
        if found is None:
            continue
        if found["after"]:
            break
        seen.append(found["id"])
        if found["inBar"]:
            continue
        # Nothing of the focused control may be under the bar (which is at the bottom).
        if found["barTop"] < found["height"]:
            assert found["bottom"] <= found["barTop"] + 0.5, (width, found)
    for name in ("f-sender_name", "f-port", "f-username", "f-password", "f-ehlo_name",
                 "f-deadline"):  # fmt: skip
        assert name in seen, (name, seen)


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_save_bar_is_slim_on_a_phone(signed_in: Page, language: str) -> None:
    page = signed_in
    if language == "de":
        speak_german(page)
    page.set_viewport_size({"width": 375, "height": 667})
    page.locator("#f-sender_name").fill("Server room")
    expect(page.locator("#unsaved-note")).to_be_visible()
    box = page.locator(".sticky-actions").bounding_box()
    assert box is not None
    assert box["height"] <= 72, box
    note = page.locator("#unsaved-note").bounding_box()
    assert note is not None
    assert note["x"] + note["width"] <= 375 - 12, note  # within the page's margin
    assert page.evaluate("document.documentElement.scrollWidth") <= 375


def test_the_app_password_tip_shows_once(signed_in: Page) -> None:
    page = signed_in
    page.get_by_label("Username", exact=True).fill("alarms@example.com")
    page.get_by_role("button", name="Save settings").click()
    expect(page).to_have_url(re.compile(r"saved=1$"))
    expect(page.locator("#advice")).to_be_visible()
    expect(page.get_by_text(re.compile("app-specific password"))).to_have_count(1)


def _type_a_line_break(page: Page, field: str, text: str) -> None:
    """Send ``text`` (with a line break) for ``field``, as a client other than a text box
    can: a browser's <input> drops line breaks, so a textarea stands in for it."""
    page.evaluate(
        """([name, text]) => {
             const input = document.querySelector(`#settings-form [name="${name}"]`);
             const area = document.createElement('textarea');
             area.name = name; area.value = text; area.hidden = true;
             input.removeAttribute('name');
             input.form.appendChild(area);
           }""",
        [field, text],
    )


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "Line breaks are not allowed in this field."),
        ("de", "Zeilenumbrüche sind in diesem Feld nicht erlaubt."),
    ],
)
def test_a_line_break_is_refused_in_plain_words_and_kept_as_typed(
    signed_in: Page, services: Services, language: str, expected: str
) -> None:
    page = signed_in
    if language == "de":
        speak_german(page)
    save = page.locator("#settings-form .sticky-actions button[type=submit]")
    _type_a_line_break(page, "sender_name", "Server\r\nroom")
    save.click()
    error = page.locator("#f-sender_name-error")
    expect(error).to_contain_text(expected)
    expect(error).not_to_contain_text("U+")
    # The field holds what was sent, line break included, not a value the browser made.
    expect(page.locator("#f-sender_name")).to_have_value("Server\nroom")
    # Saving again unchanged is refused again; nothing was stored either time.
    with next_page(page):  # the same address and error: the field below is the new page's
        save.click()
    expect(page.locator("#f-sender_name-error")).to_contain_text(expected)
    assert services.settings.load().sender_name == ""
    # Once the break is gone, it saves.
    page.locator("#f-sender_name").fill("Server room")
    save.click()
    expect(page).to_have_url(re.compile(r"saved=1$"))
    assert services.settings.load().sender_name == "Server room"


def test_every_message_is_wholly_german(signed_in: Page) -> None:
    page = signed_in
    speak_german(page)
    page.locator("#f-sender_address").fill("alarm at example")
    page.locator("#f-sender_name").fill("Server\tRaum")
    page.locator("#f-host").fill("mail_server!")
    page.locator("#f-ehlo_name").fill("xn--.invalid")
    page.locator("#settings-form .sticky-actions button[type=submit]").click()
    expected = {
        "sender_address": "Keine gültige E-Mail-Adresse: Sie enthält ein Leerzeichen.",
        "sender_name": "Dieses Feld enthält ein unsichtbares Steuerzeichen",
        "host": "Erlaubt sind Buchstaben, Ziffern, Bindestriche und Punkte",
        "ehlo_name": "Kein gültiger Servername",
    }
    english = re.compile(r"\b(the|use|not|contains|only|letters|cannot|character|address)\b")
    for field, text in expected.items():
        error = page.locator(f"#f-{field}-error")
        expect(error).to_contain_text(text)
        shown = error.inner_text()
        assert not english.search(shown), (field, shown)
        assert "U+" not in shown, (field, shown)
    summary = page.locator("#error-summary").inner_text()
    assert not english.search(summary), summary
