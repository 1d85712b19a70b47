"""serve's /metrics adds the send counts of its delivery processes
(:class:`tocsin.outbox.metrics.SharedCounts`): each worker's file, summed with serve's
own counts, read with Prometheus's own parser."""

from __future__ import annotations

import os
import time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tocsin.outbox import DeliveryUpdate, OutboxMetrics, Status
from tocsin.outbox.metrics import SHARE_INTERVAL, SharedCounts


def _update(status: Status, link: str = "primary", reason: str = "") -> DeliveryUpdate:
    return DeliveryUpdate(delivery_id=1, status=status, reason=reason, link=link)


def _samples(metrics: OutboxMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = metrics.exposition().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_serve_counts_its_workers_sends_with_its_own(tmp_path: Path) -> None:
    shared = SharedCounts(tmp_path / "metrics")
    shared.clear()
    serve, first, second = OutboxMetrics(), OutboxMetrics(), OutboxMetrics()
    serve.add_shared(shared)
    serve.observe([_update(Status.SENT)], 0.002)
    first.observe([_update(Status.SENT), _update(Status.SENT)], 0.02)
    first.observe([_update(Status.FAILED, reason="recipient_refused")], 0.3)
    second.observe([_update(Status.SENT, link="backup-1")], 4.0)
    second.observe([_update(Status.FAILED, reason="recipient_refused")], 0.3)
    first.watch_links(lambda: [("primary", True), ("backup-1", True)])
    second.watch_links(lambda: [("primary", False), ("backup-1", True)])
    SharedCounts.publish(first, shared.directory / "delivery-1-1.json")
    SharedCounts.publish(second, shared.directory / "delivery-1-2.json")
    got = _samples(serve)
    assert got[("tocsin_outbox_sent_total", frozenset())] == 4
    failed = frozenset({("outcome", "failed"), ("reason", "recipient_refused")})
    assert got[("tocsin_outbox_failures_total", failed)] == 2
    assert got[("tocsin_outbox_link_sent_total", frozenset({("link", "backup-1")}))] == 1
    assert got[("tocsin_outbox_send_seconds_count", frozenset())] == 5
    assert got[("tocsin_outbox_send_seconds_bucket", frozenset({("le", "0.005")}))] == 1
    assert got[("tocsin_outbox_send_seconds_bucket", frozenset({("le", "0.5")}))] == 4
    # Down in one process that delivers: down.
    assert got[("tocsin_outbox_link_up", frozenset({("link", "primary")}))] == 0
    assert got[("tocsin_outbox_link_up", frozenset({("link", "backup-1")}))] == 1


def test_a_stopped_workers_counts_stay_and_its_link_health_goes(tmp_path: Path) -> None:
    shared = SharedCounts(tmp_path / "metrics")
    shared.clear()
    serve, gone = OutboxMetrics(), OutboxMetrics()
    serve.add_shared(shared)
    gone.observe([_update(Status.SENT)], 0.01)
    gone.watch_links(lambda: [("primary", False)])
    path = shared.directory / "delivery-1-1.json"
    SharedCounts.publish(gone, path)
    old = time.time() - 4 * SHARE_INTERVAL
    os.utime(path, (old, old))
    got = _samples(serve)
    assert got[("tocsin_outbox_sent_total", frozenset())] == 1  # counters never go down
    assert ("tocsin_outbox_link_up", frozenset({("link", "primary")})) not in got


def test_a_new_run_of_serve_starts_from_zero_and_a_torn_file_is_skipped(tmp_path: Path) -> None:
    shared = SharedCounts(tmp_path / "metrics")
    shared.clear()
    earlier = OutboxMetrics()
    earlier.observe([_update(Status.SENT)], 0.01)
    SharedCounts.publish(earlier, shared.directory / "delivery-1-1.json")
    (shared.directory / "delivery-1-2.json").write_text('{"sent": 3, "fail')  # torn
    serve = OutboxMetrics()
    serve.add_shared(shared)
    assert _samples(serve)[("tocsin_outbox_sent_total", frozenset())] == 1
    shared.clear()
    assert _samples(serve)[("tocsin_outbox_sent_total", frozenset())] == 0
