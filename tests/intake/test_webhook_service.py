"""The webhook use case on each backend (SQLite, PostgreSQL): a notification is one
transaction, a repeat is a duplicate, a resolved alert clears and threads its raise."""

from __future__ import annotations

import pytest
from intake_support import stored_counts
from webhook_support import am_alert, am_payload

from tocsin.intake.alertmanager import parse_alertmanager
from tocsin.services.context import Services
from tocsin.services.inputs import InputRefused
from tocsin.services.webhooks import WebhookService


def _webhooks(services: Services) -> WebhookService:
    # The backend fixture swaps the intake for one on the test clock: use that one.
    return WebhookService(
        services.store,
        events=services.events,
        sites=services.sites,
        mapping=services.webhooks.mapping,
    )


def test_firing_repeat_and_resolved(backend: Services) -> None:
    hooks = _webhooks(backend)
    (raised,) = hooks.accept(parse_alertmanager, am_payload(am_alert()))
    assert raised.accepted.notified == 2
    (repeat,) = hooks.accept(parse_alertmanager, am_payload(am_alert()))
    assert repeat.accepted.duplicate
    assert repeat.accepted.id == raised.accepted.id
    resolved = am_alert(status="resolved", ends="2026-05-03T03:00:30Z")
    (cleared,) = hooks.accept(parse_alertmanager, am_payload(resolved))
    assert cleared.accepted.clears == raised.accepted.id
    stored = backend.events.get(raised.accepted.id)
    assert stored is not None
    assert not stored.stored.is_open


def test_a_notification_is_all_or_nothing(backend: Services) -> None:
    hooks = _webhooks(backend)
    backend.sites.add_group({"id": "second-site", "name": "Second site"})  # no default group
    good = am_alert(fingerprint="f1")
    bad = am_alert(fingerprint="f2", group="nowhere")
    with pytest.raises(InputRefused) as refused:
        hooks.accept(parse_alertmanager, am_payload(good, bad))
    assert refused.value.issues[0].field == "alerts[1].labels.group"
    assert stored_counts(backend) == (0, 0, 0)
    results = hooks.accept(parse_alertmanager, am_payload(good, am_alert(fingerprint="f3")))
    assert len({r.accepted.id for r in results}) == 2
