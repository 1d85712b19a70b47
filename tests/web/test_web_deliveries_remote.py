"""The delivery log shows what the online service later said about the mail it took."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from playwright.sync_api import Page, expect
from web_helpers import speak_german

from helpers import LiveServer
from tocsin.message import compose
from tocsin.outbox import DeliveryUpdate, Status
from tocsin.outbox.tracking import RemoteState, TrackingUpdate
from tocsin.services.context import Services

BOUNCE = "rcpt_to: 550 5.1.1 <gone@example.net>: no such user"


def _through_relay(
    services: Services, to: str, state: RemoteState, detail: str, code: int | None
) -> None:
    """An email handed to the relay (202), and the relay's later word on it."""
    mail = compose(sender="alarms@example.com", to=[to], subject="Fire alarm", text="Fire!")
    services.outbox.enqueue(mail)
    now = time.time()
    (claimed,) = services.store.claim(owner="test", now=now, limit=10, lease=60)
    (delivery,) = claimed.deliveries
    public_id = f"msg_{delivery.id}"
    services.store.record(
        [
            DeliveryUpdate(
                delivery.id,
                Status.SENT,
                step="data",
                code=202,
                server_reply=f"202 queued as {public_id}",
                tracking_id=public_id,
            )
        ],
        owner="test",
        now=now,
    )
    services.store.record_tracking(
        [TrackingUpdate(delivery.id, state, None, detail, code)], now=now + 5
    )


def test_the_log_shows_delivered_and_bounced_and_retries_a_bounce(
    signed_in: Page,
    server: LiveServer,
    services: Services,
    shoot: Callable[[Page, str], None],
) -> None:
    _through_relay(
        services, "ops@example.net", RemoteState.DELIVERED, "2.0.0 Ok: queued as 4F2A", 250
    )
    _through_relay(services, "gone@example.net", RemoteState.BOUNCED, BOUNCE, 550)
    page = signed_in
    page.goto(server.url + "/deliveries")

    rows = page.locator("table.log tbody tr")
    delivered = rows.filter(has_text="ops@example.net")
    expect(delivered).to_contain_text("Delivered by the online service")
    expect(delivered).to_contain_text("250 2.0.0 Ok: queued as 4F2A")
    expect(delivered.get_by_role("button")).to_have_count(0)  # nothing to retry
    bounced = rows.filter(has_text="gone@example.net")
    expect(bounced).to_contain_text("Bounced: the recipient's mail server refused it")
    expect(bounced).to_contain_text("Online service: " + BOUNCE)
    shoot(page, "deliveries-online-service")

    chips = page.get_by_role("navigation", name=re.compile("Mail the online service took"))
    expect(chips.get_by_role("link", name=re.compile(r"^Delivered\s+1$"))).to_be_visible()
    chips.get_by_role("link", name=re.compile(r"^Bounced\s+1$")).click()
    expect(page).to_have_url(re.compile(r"remote=bounced"))
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("gone@example.net")

    page.get_by_role("button", name="Retry the email to gone@example.net").click()
    expect(page.locator("#retried")).to_contain_text("Queued again: 1")
    expect(page).to_have_url(re.compile(r"remote=bounced"))  # back to the same filter
    expect(page.locator("table.log")).to_have_count(0)  # no longer bounced
    (again,) = services.outbox.list(statuses=[Status.QUEUED])
    assert again.recipient == "gone@example.net"
    assert again.remote is None


def test_the_online_service_filter_appears_only_once_it_took_mail(
    signed_in: Page, server: LiveServer, services: Services
) -> None:
    page = signed_in
    page.goto(server.url + "/deliveries")
    expect(page.get_by_label("Online service", exact=True)).to_have_count(0)

    _through_relay(services, "ops@example.net", RemoteState.PENDING, "", None)
    speak_german(page)
    page.goto(server.url + "/deliveries")
    row = page.locator("table.log tbody tr").first
    expect(row).to_contain_text("Beim Online-Dienst, noch nicht zugestellt")
    page.get_by_label("Online-Dienst", exact=True).select_option("pending")
    page.get_by_role("button", name="Anzeigen").click()
    expect(page).to_have_url(re.compile(r"remote=pending"))
    expect(page.locator("table.log tbody tr")).to_have_count(1)
