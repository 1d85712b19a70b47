"""Sample site data for the browser tests: a small group tree, users, events, a dead email."""

from __future__ import annotations

import time

from tocsin.message import compose
from tocsin.outbox import DeliveryUpdate, Status
from tocsin.services.context import Services

DEAD_REPLY = "535 5.7.8 Authentication credentials invalid"


def site(services: Services) -> None:
    """Site → building → server room, with different notification settings, and two users."""
    sites = services.sites
    sites.add_group({"id": "hq", "name": "Headquarters"})
    sites.add_group(
        {
            "id": "b1",
            "name": "Building 1",
            "parent": "hq",
            "policies": {"always": {"email_warnings": False, "max_per_hour": 10}},
        }
    )
    sites.add_group(
        {
            "id": "sr",
            "name": "Server room",
            "parent": "b1",
            "policies": {"fire": {"email_warnings": True, "max_per_hour": 3}},
        }
    )
    sites.add_user(
        {
            "id": "anna",
            "name": "Anna Berg",
            "email": "anna@example.com",
            "language": "de",
            "time_zone": "Europe/Berlin",
            "groups": ["b1"],
            "categories": ["fire", "always", "system"],
        }
    )
    sites.add_user(
        {
            "id": "ops",
            "name": "Ops desk",
            "email": "ops@example.net",
            "groups": ["hq"],
            "categories": ["armed", "fire", "sabotage"],
        }
    )


def dead_email(services: Services, to: str = "anna@example.com") -> int:
    """An email whose delivery gave up (the outbox's dead-letter list); returns its id."""
    mail = compose(sender="alarms@example.com", to=[to], subject="Fire alarm", text="Fire!")
    email_id = services.outbox.enqueue(mail)
    now = time.time()
    claimed = services.store.claim(owner="test", now=now, limit=10, lease=60)
    updates = [
        DeliveryUpdate(
            d.id,
            Status.DEAD,
            step="auth",
            reason="auth_failed",
            error="the server refused the login",
            code=535,
            server_reply=DEAD_REPLY,
        )
        for c in claimed
        for d in c.deliveries
    ]
    services.store.record(updates, owner="test", now=now)
    return email_id
