"""One fire alarm's emails with a story to tell, for the delivery log's detail view
(page, API and CLI tests): one sent at the first attempt, one put off by greylisting."""

from __future__ import annotations

import time

from tocsin.outbox import DeliveryUpdate, Status
from tocsin.services.context import Services

SENT_REPLY = "250 2.0.0 Ok: queued as 4XyZ"
LATER_REPLY = "451 4.7.1 Greylisted, please try again later"


def story_site(services: Services) -> None:
    """Headquarters → Building 1 → Server room; Anna (German) and the Ops desk."""
    sites = services.sites
    sites.add_group({"id": "hq", "name": "Headquarters"})
    sites.add_group({"id": "b1", "name": "Building 1", "parent": "hq"})
    sites.add_group({"id": "sr", "name": "Server room", "parent": "b1"})
    sites.add_user({"id": "anna", "name": "Anna Berg", "email": "anna@example.com",
                    "language": "de", "groups": ["b1"], "categories": ["fire"]})  # fmt: skip
    sites.add_user({"id": "ops", "name": "Ops desk", "email": "ops@example.net",
                    "groups": ["hq"], "categories": ["fire"]})  # fmt: skip


SENT_REPLY = "250 2.0.0 Ok: queued as 4XyZ"
LATER_REPLY = "451 4.7.1 Greylisted, please try again later"


def alarm_emails(services: Services) -> tuple[str, dict[str, int]]:
    """A fire alarm through the real intake (routing, rendering, outbox): Anna's email
    sent at the first attempt, the Ops desk's put off by a greylisting server.

    Returns the event id and each user's email id.  The site must be set up
    (:func:`story_site`, or the browser tests' ``web_data.site``).
    """
    services.settings.update(
        {"enabled": True, "encryption": "none", "host": "127.0.0.1", "port": 2525,
         "sender_address": "alarm@example.com"}
    )  # fmt: skip
    (accepted,) = services.events.submit(
        {"group": "sr", "category": "fire", "severity": "alarm", "state": "raised",
         "device": "Smoke detector 2", "sensor": "smoke", "text": "Smoke in rack 4."}
    )  # fmt: skip
    now = time.time()
    ids: dict[str, int] = {}
    updates = []
    for claimed in services.store.claim(owner="test", now=now, limit=10, lease=60):
        (delivery,) = claimed.deliveries
        user = "anna" if delivery.recipient == "anna@example.com" else "ops"
        ids[user] = claimed.email_id
        if user == "anna":
            updates.append(DeliveryUpdate(delivery.id, Status.SENT, step="data", code=250,
                                          server_reply=SENT_REPLY))  # fmt: skip
        else:
            updates.append(DeliveryUpdate(
                delivery.id, Status.QUEUED, next_attempt_at=now + 300, step="rcpt_to",
                reason="greylisted", error=LATER_REPLY, code=451,
            ))  # fmt: skip
    services.store.record(updates, owner="test", now=now)
    return accepted.id, ids


BUSY_REPLY = "421 4.3.2 Service busy, closing transmission channel"


def ops_tries_again(services: Services, ops_email: int) -> None:
    """The Ops desk's email, after its greylisting: a second attempt through backup link 1
    (the server busy), a third there accepted.  Each is one attempt in the log."""
    start = time.time() + 301  # past the first attempt's next_attempt_at
    for n in range(2):
        now = start + n * 400
        (claimed,) = services.store.claim(owner="test", now=now, limit=10, lease=60)
        assert claimed.email_id == ops_email
        (delivery,) = claimed.deliveries
        if n == 0:
            update = DeliveryUpdate(
                delivery.id, Status.QUEUED, next_attempt_at=now + 300, step="connect",
                reason="server_busy", code=421, server_reply=BUSY_REPLY, link="backup-1",
            )  # fmt: skip
        else:
            update = DeliveryUpdate(delivery.id, Status.SENT, step="data", code=250,
                                    server_reply=SENT_REPLY, link="backup-1")  # fmt: skip
        services.store.record([update], owner="test", now=now)
