"""The outbox's send metrics: counted in plain numbers, written out exactly as
prometheus_client's own Counter and Histogram would write the same sends."""

from __future__ import annotations

import re
import sys
import threading

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from tocsin.outbox.metrics import _LATENCY_BUCKETS, OutboxMetrics
from tocsin.outbox.model import DeliveryUpdate, Status

_CREATED = re.compile(r"^(\S*_created(?:\{[^}]*\})?) \S+$", re.MULTILINE)

updates = st.builds(
    DeliveryUpdate,
    delivery_id=st.integers(1, 10**6),
    status=st.sampled_from(list(Status)),
    spent=st.booleans(),
    reason=st.sampled_from(["", "timeout", "recipient_rejected", "auth_failed"]),
    link=st.sampled_from(["primary", "backup-1", "backup-2"]),
)
# Times on and around the bucket bounds, where "less than or equal" matters.
elapsed = st.one_of(
    st.sampled_from([*_LATENCY_BUCKETS, 0.0, 31.0]),
    st.floats(0, 60, allow_nan=False),
)
sends = st.lists(st.tuples(st.lists(updates, min_size=1, max_size=4), elapsed), max_size=30)


def _reference(observed: list[tuple[list[DeliveryUpdate], float]]) -> str:
    """The same sends counted by prometheus_client's own metric classes."""
    registry = CollectorRegistry(auto_describe=True)
    latency = Histogram(
        "tocsin_outbox_send_seconds",
        "Time from handing an email to the transport until its answer",
        buckets=_LATENCY_BUCKETS,
        registry=registry,
    )
    sent = Counter("tocsin_outbox_sent", "Deliveries the server accepted", registry=registry)
    failures = Counter(
        "tocsin_outbox_failures",
        "Delivery attempts that did not succeed, by outcome and reason",
        labelnames=["outcome", "reason"],
        registry=registry,
    )
    link_sent = Counter(
        "tocsin_outbox_link_sent",
        "Deliveries each link of the failover chain carried",
        labelnames=["link"],
        registry=registry,
    )
    link_failures = Counter(
        "tocsin_outbox_link_failures",
        "Delivery attempts through each link that did not succeed",
        labelnames=["link"],
        registry=registry,
    )
    for batch, seconds in observed:
        latency.observe(seconds)
        for update in batch:
            if update.status is Status.SENT:
                sent.inc()
                link_sent.labels(update.link).inc()
            else:
                outcome = update.status.value if update.spent else "paused"
                failures.labels(outcome, update.reason or "unknown").inc()
                link_failures.labels(update.link).inc()
    return generate_latest(registry).decode()


def _sends_only(text: str) -> str:
    """The exposition without the link gauge, creation times blanked."""
    kept = [line for line in text.splitlines() if "tocsin_outbox_link_up" not in line]
    return _CREATED.sub(r"\1 T", "\n".join(kept))


@settings(max_examples=300, deadline=None)
@given(sends)
def test_the_send_metrics_read_as_prometheus_clients_own_would(
    observed: list[tuple[list[DeliveryUpdate], float]],
) -> None:
    metrics = OutboxMetrics()
    for batch, seconds in observed:
        metrics.observe(batch, seconds)
    assert _sends_only(metrics.exposition().decode()) == _sends_only(_reference(observed))


def test_a_scrape_while_the_engine_counts_sees_whole_numbers() -> None:
    metrics = OutboxMetrics()
    links = [f"link-{i}" for i in range(200)]  # new labels: the dicts grow during scrapes
    done = threading.Event()

    def count() -> None:
        for i in range(20_000):
            link = links[i % len(links)]
            metrics.observe([DeliveryUpdate(i, Status.SENT, link=link)], 0.001)
            metrics.observe([DeliveryUpdate(i, Status.QUEUED, reason=link, link=link)], 0.002)
        done.set()

    worker = threading.Thread(target=count)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # the threads take turns as often as they can
    try:
        worker.start()
        scrapes = 0
        while not done.is_set() or scrapes == 0:
            text = metrics.exposition().decode()  # must never raise mid-count
            sent = float(re.search(r"^tocsin_outbox_sent_total (\S+)$", text, re.M)[1])  # type: ignore[index]
            assert sent == int(sent)
            scrapes += 1
        worker.join()
    finally:
        sys.setswitchinterval(interval)
    final = metrics.exposition().decode()
    assert "tocsin_outbox_sent_total 20000.0" in final
    assert "tocsin_outbox_send_seconds_count 40000.0" in final
    assert len(re.findall(r"^tocsin_outbox_link_failures_total\{", final, re.M)) == len(links)
