"""The failover section of the email settings page, in Chromium at desktop and phone
width, in English and German: add a backup link, errors by field, the password kept."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Page, expect
from web_helpers import next_page

from helpers import LiveServer
from tocsin.message import compose
from tocsin.outbox import DeliveryUpdate, Status
from tocsin.secret import Secret
from tocsin.services.context import Services
from tocsin.testing import ThreadedSMTPTestServer

PASSWORD = "Backup-Page-Passw0rd"


def _primary(services: Services) -> None:
    _, report, saved = services.settings.update(
        {"enabled": True, "host": "mail.example.com", "sender_address": "alarm@example.com"}
    )
    assert saved, report.errors


def test_a_backup_link_is_added_refused_by_field_and_its_password_kept(
    signed_in: Page, services: Services, shoot: Callable[[Page, str], None]
) -> None:
    page = signed_in
    _primary(services)
    page.reload()
    section = page.locator("#failover")
    expect(section.get_by_role("heading", name="Failover")).to_be_visible()
    section.get_by_label("Backup server", exact=True).fill("backup.example.net")
    section.get_by_label("Backup port", exact=True).fill("70000")
    section.get_by_label("Use the backup links when the primary fails").check()
    section.get_by_role("button", name="Apply failover settings").click()
    expect(page.locator("#f-fo_link0_port-error")).to_contain_text("65535")
    expect(page.locator("#f-fo_link0_port")).to_have_attribute("aria-invalid", "true")
    assert services.failover.load().links == ()  # all or nothing
    section.get_by_label("Backup port", exact=True).fill("587")
    section.get_by_label("Backup account", exact=True).fill("alarms")
    section.get_by_label("Secret of the backup account", exact=True).fill(PASSWORD)
    with next_page(page, re.compile(r"failover_saved=1")):
        section.get_by_role("button", name="Apply failover settings").click()
    (link,) = services.failover.load().links
    assert (link.host, link.port, link.password) == ("backup.example.net", 587, Secret(PASSWORD))
    assert PASSWORD not in page.content()
    expect(page.locator("#f-fo_link0_password-help")).to_be_visible()  # stored, kept
    # Saved again with the password left empty: it stays.
    page.locator("#f-fo_after_seconds").fill("30")
    with next_page(page, re.compile(r"failover_saved=1")):  # the address was that already
        page.get_by_role("button", name="Apply failover settings").click()
    chain = services.failover.load()
    assert chain.policy.after_seconds == 30
    assert chain.links[0].password == Secret(PASSWORD)
    expect(page.get_by_label("Send through")).to_be_visible()  # the test email's link
    shoot(page, "failover-en")


def test_the_section_in_german_and_a_link_removed(
    signed_in: Page, services: Services, server: LiveServer, shoot: Callable[[Page, str], None]
) -> None:
    page = signed_in
    _primary(services)
    _, report, saved = services.failover.update(
        {"enabled": True, "links": [{"host": "b.example.net"}, {"host": "c.example.net"}]}
    )
    assert saved, report.errors
    found = services.store.admin_credentials("admin")
    assert found is not None
    services.store.set_admin_language(found[0].id, "de")
    page.goto(server.url + "/settings/email")
    section = page.locator("#failover")
    expect(section.get_by_role("heading", name="Ausweichweg", exact=True)).to_be_visible()
    expect(section.get_by_text("Warnungen folgen den Alarmen")).to_be_visible()
    shoot(page, "failover-de")
    page.locator("#f-fo_link0_remove").check()
    section.get_by_role("button", name="Ausweichweg übernehmen").click()
    expect(page).to_have_url(re.compile(r"failover_saved=1"))
    assert [link.host for link in services.failover.load().links] == ["c.example.net"]


def test_the_delivery_log_names_the_link(
    signed_in: Page, services: Services, server: LiveServer
) -> None:
    email_id = services.outbox.enqueue(
        compose(sender="alarm@example.com", to=["ops@example.net"], subject="Fire", text="x\n")
    )
    (claimed,) = services.store.claim(owner="w", now=4e9, limit=5, lease=60)
    (delivery,) = claimed.deliveries
    update = DeliveryUpdate(delivery.id, Status.SENT, step="data", link="backup-1")
    services.store.record([update], owner="w", now=4e9)
    page = signed_in
    page.goto(server.url + "/deliveries")
    expect(page.locator(".link-used")).to_have_text("via backup link 1")
    assert services.outbox.show(email_id).deliveries[0].link == "backup-1"


def test_the_test_email_goes_through_the_chosen_backup_link(
    signed_in: Page, services: Services
) -> None:
    with ThreadedSMTPTestServer() as primary, ThreadedSMTPTestServer() as backup:
        _, report, saved = services.settings.update(
            {
                "host": "127.0.0.1",
                "port": primary.port,
                "encryption": "none",
                "sender_address": "alarm@example.com",
            }
        )
        assert saved, report.errors
        link = {"host": "127.0.0.1", "port": backup.port, "encryption": "none"}
        assert services.failover.update({"links": [link]})[2]
        page = signed_in
        page.reload()
        page.get_by_label("Send through").select_option("1")
        page.get_by_label("Recipient").fill("ops@example.net")
        page.get_by_role("button", name="Send test email").click()
        expect(page.locator("#test-result")).to_contain_text(
            "accepted the test email", timeout=15_000
        )
        assert (len(primary.messages), len(backup.messages)) == (0, 1)
