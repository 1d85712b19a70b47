"""Helpers of the intake tests (fixtures are in conftest.py): a site, a clock, mail parsing."""

from __future__ import annotations

import email
import email.policy
import os
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from tocsin.outbox import ListFilter
from tocsin.services.accounts import AccountsService
from tocsin.services.acknowledge import AckService
from tocsin.services.context import Services
from tocsin.services.events import EventsService
from tocsin.services.outbox import OutboxService
from tocsin.services.settings import SettingsService
from tocsin.store.keyfile import SecretBox
from tocsin.store.postgres import PostgresStore

PG_URL = os.environ.get("TOCSIN_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
SENDER = "alarm@example.com"
T0 = 1_777_777_200.0  # 2026-05-03 03:00:00 UTC: the start of an hour

SITE: dict[str, Any] = {
    "groups": [
        {"id": "site", "name": "Site"},
        {
            "id": "building-a",
            "name": "Building A",
            "parent": "site",
            "policies": {"always": {"email_warnings": False, "max_per_hour": 3}},
        },
        {"id": "server-room", "name": "Server room", "parent": "building-a"},
        {"id": "office", "name": "Office", "parent": "site"},
    ],
    "users": [
        {
            "id": "alice",
            "name": "Alice",
            "email": "alice@example.com",
            "language": "de",
            "time_zone": "Europe/Berlin",
            "groups": ["site"],
            "categories": ["armed", "always", "fire", "sabotage", "system"],
        },
        {
            "id": "bob",
            "name": "Bob",
            "email": "bob@example.net",
            "groups": ["server-room"],
            "categories": ["fire", "always"],
        },
        {
            "id": "carol",
            "name": "Carol",
            "email": "carol@example.org",
            "groups": ["office"],
            "categories": ["fire"],
        },
        {
            "id": "dave",
            "name": "Dave",
            "email": "dave@example.com",
            "enabled": False,
            "groups": ["site"],
            "categories": ["fire"],
        },
    ],
}


def unique_schema() -> str:
    """A PostgreSQL schema name no other test run uses."""
    return f"tocsin_intake_{os.getpid()}_{uuid.uuid4().hex[:10]}"


class Clock:
    """A settable clock for the intake (``clock()`` is the time)."""

    def __init__(self, now: float = T0 + 60) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def use_clock(services: Services, clock: Clock) -> None:
    """Make the intake of ``services`` read ``clock`` (the API picks it up per request)."""
    services.events = EventsService(
        services.store,
        sites=services.sites,
        settings=services.settings,
        outbox=services.outbox,
        clock=clock,
        admission=services.disk.intake,
        ack_signer=services.acks.signer,
    )
    services.acks = AckService(
        services.store,
        sites=services.sites,
        events=services.events,
        outbox=services.outbox,
        signer=services.acks.signer,
        clock=clock,
    )


def pg_services(data: Path) -> Services:
    """Services on PostgreSQL in a schema of their own (drop it with ``store.drop_schema``)."""
    store = PostgresStore(PG_URL, schema=unique_schema())
    box = SecretBox(data / "secret.key")
    return Services(
        data=data,
        store=store,
        box=box,
        settings=SettingsService(store, box),
        accounts=AccountsService(store.accounts),
        outbox=OutboxService(store),
    )


def set_up_site(services: Services, *, sender: str | None = SENDER) -> None:
    """The standard site, and the sender settings (email itself stays disabled)."""
    if sender is not None:
        _, report, saved = services.settings.update(
            {"sender_address": sender, "sender_name": "Tocsin Test"}
        )
        assert saved, report
    report = services.sites.import_site(SITE)
    assert report.applied


def event(**overrides: Any) -> dict[str, Any]:
    """A fire alarm in the server room (the JSON a device posts)."""
    body: dict[str, Any] = {
        "group": "server-room",
        "device": "Smoke detector 2",
        "sensor": "smoke",
        "category": "fire",
        "severity": "alarm",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def queued(services: Services) -> list[tuple[str, EmailMessage]]:
    """Every queued email as (recipient, parsed message), oldest first."""
    found: list[tuple[str, EmailMessage]] = []
    for delivery in reversed(services.store.list_deliveries(ListFilter(limit=10_000))):
        view = services.store.get_email(delivery.email_id, content=True)
        assert view is not None
        assert view.content is not None
        message = email.message_from_bytes(view.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        found.append((delivery.recipient, message))
    return found


def stored_counts(services: Services) -> tuple[int, int, int]:
    """(events, notifications, outbox deliveries) in the store."""
    with services.store.site_reading() as sql:
        events = sql.runner.rows("SELECT COUNT(*) FROM event")[0][0]
        notes = sql.runner.rows("SELECT COUNT(*) FROM notification")[0][0]
        deliveries = sql.runner.rows("SELECT COUNT(*) FROM outbox_delivery")[0][0]
    return int(events), int(notes), int(deliveries)
