"""Prometheus metrics of the outbox: queue depth, oldest waiting email, latency, failures.

Each :class:`OutboxMetrics` has a registry of its own (no global state, so tests and
several engines in one process do not collide).  Queue depth and age are read from the
store when scraped; latency and failures are counted by the engine as it sends.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from tocsin.outbox.model import DeliveryUpdate, Status
from tocsin.outbox.store import OutboxStore

__all__ = ["CONTENT_TYPE", "OutboxMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The exposition format's media type, for the ``/metrics`` response."""

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class _QueueCollector(Collector):
    """Reads the queue from the store at scrape time."""

    def __init__(self, store: OutboxStore, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily(
            "tocsin_outbox_deliveries", "Deliveries in the outbox by status", labels=["status"]
        )
        for status, count in self._store.counts().items():
            depth.add_metric([status.value], count)
        yield depth
        remote = GaugeMetricFamily(
            "tocsin_outbox_remote_deliveries",
            "Mail the online service took, by its later word (pending, delivered, bounced, ...)",
            labels=["state"],
        )
        for state, count in self._store.tracking_counts().items():
            remote.add_metric([state.value], count)
        yield remote
        oldest = self._store.oldest_queued_at()
        age = 0.0 if oldest is None else max(0.0, self._clock() - oldest)
        yield GaugeMetricFamily(
            "tocsin_outbox_oldest_queued_age_seconds",
            "Age of the oldest delivery still waiting (0 when none waits)",
            value=age,
        )


class OutboxMetrics:
    """The outbox's metrics; pass it to the engine, serve :meth:`exposition` at /metrics."""

    def __init__(self, store: OutboxStore | None = None, *, clock: Callable[[], float] = time.time):
        self.registry = CollectorRegistry(auto_describe=True)
        self.send_latency = Histogram(
            "tocsin_outbox_send_seconds",
            "Time from handing an email to the transport until its answer",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.sent = Counter(
            "tocsin_outbox_sent", "Deliveries the server accepted", registry=self.registry
        )
        self.failures = Counter(
            "tocsin_outbox_failures",
            "Delivery attempts that did not succeed, by outcome and reason",
            labelnames=["outcome", "reason"],
            registry=self.registry,
        )
        # Per link of the failover chain ("primary", "backup-1", ...).
        self.link_sent = Counter(
            "tocsin_outbox_link_sent",
            "Deliveries each link of the failover chain carried",
            labelnames=["link"],
            registry=self.registry,
        )
        self.link_failures = Counter(
            "tocsin_outbox_link_failures",
            "Delivery attempts through each link that did not succeed",
            labelnames=["link"],
            registry=self.registry,
        )
        self.link_up = Gauge(
            "tocsin_outbox_link_up",
            "1 while a link of the failover chain is up, 0 while it is down",
            labelnames=["link"],
            registry=self.registry,
        )
        if store is not None:
            self.registry.register(_QueueCollector(store, clock))
        self._carried: dict[str, Counter] = {}  # link → its child of link_sent

    def _sent_by(self, link: str) -> Counter:
        """``link_sent`` for ``link``, looked up once: every email that goes out counts."""
        child = self._carried.get(link)
        if child is None:
            child = self._carried[link] = self.link_sent.labels(link)
        return child

    def observe(self, updates: Sequence[DeliveryUpdate], elapsed: float) -> None:
        """Count one send's outcomes (overall and per failover link) and its time."""
        self.send_latency.observe(elapsed)
        for update in updates:
            if update.status is Status.SENT:
                self.sent.inc()
                self._sent_by(update.link).inc()
            else:
                outcome = update.status.value if update.spent else "paused"
                self.failures.labels(outcome, update.reason or "unknown").inc()
                self.link_failures.labels(update.link).inc()

    def exposition(self) -> bytes:
        """The current metrics in the Prometheus text format (see :data:`CONTENT_TYPE`)."""
        return generate_latest(self.registry)
