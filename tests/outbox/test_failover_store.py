"""The link of each delivery in the store (migration 0003, both backends), and the
chain's settings stored with every secret encrypted."""

from __future__ import annotations

from pathlib import Path

from outbox_support import enqueue

from tocsin.outbox import DeliveryUpdate, ListFilter, Status
from tocsin.services.context import Services
from tocsin.store import Store


def test_the_link_is_recorded_and_listed(store: Store) -> None:
    email_id = enqueue(store, "a@example.net", "b@example.net")
    (claimed,) = store.claim(owner="w", now=4e9, limit=10, lease=60)
    first, second = claimed.deliveries
    store.record(
        [
            DeliveryUpdate(first.id, Status.SENT, step="data", server_reply="250", link="backup-1"),
            DeliveryUpdate(second.id, Status.QUEUED, 5e9, step="connect", link="primary"),
        ],
        owner="w",
        now=4e9,
    )
    view = store.get_email(email_id)
    assert view is not None
    assert {d.recipient: d.link for d in view.deliveries} == {
        "a@example.net": "backup-1",
        "b@example.net": "primary",
    }
    assert {d.link for d in store.list_deliveries(ListFilter())} == {"backup-1", "primary"}


def test_the_links_secrets_are_stored_encrypted(tmp_path: Path) -> None:
    services = Services.open(tmp_path / "data")
    try:
        services.settings.update(
            {"enabled": True, "host": "mail.example.com", "sender_address": "a@example.com"}
        )
        before = services.failover.fingerprint()
        _chain, report, saved = services.failover.update(
            {
                "enabled": True,
                "links": [{"host": "b.example.net", "username": "u", "password": "Pl41n-S3cret"}],
            }
        )
        assert saved, report.errors
        raw = services.store.get_value("email_failover")
        assert raw is not None
        assert "Pl41n-S3cret" not in raw
        loaded = services.failover.load()
        assert loaded.links[0].password is not None
        assert loaded.links[0].password.reveal() == "Pl41n-S3cret"
        assert services.failover.fingerprint() != before
    finally:
        services.close()
