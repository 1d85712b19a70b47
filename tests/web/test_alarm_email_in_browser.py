"""The alarm email's HTML part in a real chromium: it fits a phone without sideways scrolling."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage

import pytest
from playwright.sync_api import Browser

from tocsin.alarm_email import EmailRenderer
from tocsin.model import AlarmGroup, Category, Event, Language, Severity, State, User, new_id
from tocsin.routing import build_tree

T0 = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
TREE = build_tree(
    [
        AlarmGroup(id="building-a", name="Building A"),
        AlarmGroup(id="server-room", name="Server room", parent_id="building-a"),
    ]
)
RENDERER = EmailRenderer(sender="alarms@example.org", public_url="https://tocsin.example.org/")


def alarm_html(language: Language) -> str:
    """The HTML part of a real alarm email, with every row and the link filled in."""
    user = User(
        id="anna",
        name="Anna",
        email="anna@example.com",
        group_ids=frozenset({"building-a"}),
        email_categories=frozenset(Category),
        language=language,
        time_zone="Europe/Berlin",
    )
    event = Event(
        id=new_id(T0),
        group_id="server-room",
        device="Rack 3",
        sensor="Temperature",
        category=Category.ALWAYS,
        severity=Severity.ALARM,
        state=State.RAISED,
        occurred_at=T0,
        value=31.5,
        threshold=30.0,
        unit="°C",
        text="Check the air conditioning.",
    )
    rendered = RENDERER.alarm(event, user, tree=TREE, date=T0)
    message = email.message_from_bytes(rendered.mail.content, policy=policy.default)
    assert isinstance(message, EmailMessage)
    _, html = message.iter_parts()
    assert html.get_content_type() == "text/html"
    content = html.get_content()
    assert isinstance(content, str)
    return content


@pytest.mark.parametrize("language", [Language.EN, Language.DE])
@pytest.mark.parametrize("width", [320, 375, 1280])
def test_the_alarm_email_fits_the_screen_without_sideways_scrolling(
    browser: Browser, language: Language, width: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": 800})
    try:
        page = context.new_page()
        page.set_content(alarm_html(language))
        fits = page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
        widths = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
        assert fits, f"scroll width, window width: {widths}"
    finally:
        context.close()


@pytest.mark.parametrize(
    ("language", "words"),
    [
        (Language.EN, ["Alarm: Always active", "Building A / Server room – Rack 3", "31.5 °C"]),
        (Language.DE, ["Meldung des Geräts", "Building A / Server room – Rack 3", "31.5 °C"]),
    ],
)
def test_the_7bit_html_part_shows_every_character_as_written(
    browser: Browser, language: Language, words: list[str]
) -> None:
    # The part travels as ASCII, characters outside it as references (&#8211; &#176;):
    # what the reader sees is the characters themselves.
    source = alarm_html(language)
    assert source.isascii()
    assert "&#8211;" in source
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.set_content(source)
        shown = page.inner_text("body")
        for word in words:
            assert word in shown
        assert "&#" not in shown
    finally:
        context.close()
