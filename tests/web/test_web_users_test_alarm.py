"""The users page's "Send test alarm" (issue 12): the real alarm email in the user's
language, queued through the real routing, listed in the delivery log; a refusal in
plain words of the page's language, and the browser back on the users list."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from web_data import site
from web_helpers import speak_german

from helpers import LiveServer
from tocsin.services.context import Services


def _email_set_up(services: Services) -> None:
    services.settings.update(
        {"enabled": True, "encryption": "none", "host": "127.0.0.1", "port": 2525,
         "sender_address": "alarm@example.com"}
    )  # fmt: skip


@pytest.mark.parametrize(
    ("language", "button", "queued", "follow"),
    [
        ("en", "Send a test alarm to Anna Berg", "A test alarm to Anna Berg is queued",
         "Follow it in the delivery log."),
        ("de", "Testalarm an Anna Berg senden", "Ein Testalarm an Anna Berg ist eingereiht",
         "Im Zustellprotokoll verfolgen."),
    ],
)  # fmt: skip
def test_a_test_alarm_from_the_users_page_is_queued_in_the_users_language(
    signed_in: Page,
    server: LiveServer,
    services: Services,
    language: str,
    button: str,
    queued: str,
    follow: str,
) -> None:
    site(services)
    _email_set_up(services)
    page = signed_in
    if language == "de":
        speak_german(page)
    page.goto(server.url + "/users")
    page.get_by_role("button", name=button).click()
    expect(page).to_have_url(re.compile(r"/users\?tested="))
    expect(page.locator("#test-alarm-queued")).to_contain_text(queued)

    rows = services.outbox.list(recipient="anna@example.com")
    assert len(rows) == 1
    assert "Testalarm" in rows[0].subject  # Anna reads German, whatever the admin reads

    page.get_by_role("link", name=follow).click()
    expect(page).to_have_url(re.compile(r"/deliveries$"))
    expect(page.locator("table.log")).to_contain_text("anna@example.com")
    expect(page.locator("table.log")).to_contain_text(rows[0].subject)


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("en", "No test alarm was sent. Lone Ranger is in no alarm group, so no alarm can "
               "reach them: assign a group first."),
        ("de", "Es wurde kein Testalarm gesendet. Lone Ranger ist in keiner Alarmgruppe, "
               "daher erreicht sie kein Alarm: Weisen Sie zuerst eine Gruppe zu."),
    ],
)  # fmt: skip
def test_a_test_alarm_routing_would_not_deliver_is_refused_in_plain_words(
    signed_in: Page, server: LiveServer, services: Services, language: str, text: str
) -> None:
    site(services)
    _email_set_up(services)
    services.sites.add_user(
        {"id": "lone", "name": "Lone Ranger", "email": "lone@example.net", "categories": ["fire"]}
    )
    page = signed_in
    if language == "de":
        speak_german(page)
    page.goto(server.url + "/users")
    page.locator('tr[data-user="lone"]').get_by_role("button", name=re.compile("alarm")).click()
    # Back on the list (not the POST address, which a reload would send again).
    expect(page).to_have_url(re.compile(r"/users\?refused=test_alarm_no_group"))
    expect(page.locator("#test-alarm-refused")).to_have_text(text)
    assert services.outbox.list(recipient="lone@example.net") == []
