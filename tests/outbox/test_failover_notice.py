"""The failover notice: one system event when the chain falls back, however many
workers see it, and one "resolved" when the primary is back."""

from __future__ import annotations

from pathlib import Path

from tocsin.services.context import Services
from tocsin.services.failover_notice import DELIVERY_FAILOVER, failover_notifier


def test_one_notice_each_way_from_two_workers(tmp_path: Path) -> None:
    services = Services.open(tmp_path / "data")
    try:
        worker_a, worker_b = failover_notifier(services), failover_notifier(services)
        worker_a(True, "connect: 127.0.0.1 port 1: connection refused")
        worker_b(True, "connect: 127.0.0.1 port 1: connection refused")
        open_now = services.events.open_system_problems()
        assert list(open_now) == [DELIVERY_FAILOVER]
        events = [r.stored.event for r in services.events.recent(limit=10)]
        assert len(events) == 1
        assert "backup link" in events[0].text
        worker_a(False, "")
        worker_b(False, "")
        assert services.events.open_system_problems() == {}
        events = [r.stored.event for r in services.events.recent(limit=10)]
        assert [e.cleared for e in events] == [True, False]
    finally:
        services.close()
