"""The durable outbox: every accepted email stays on disk until a server has taken it.

- :mod:`.model`: statuses, priorities, and the records the store hands out
- :mod:`.store`: the one interface both backends implement (SQLite, PostgreSQL)
- :mod:`.engine`: the delivery engine (claims, sends, records, renews leases)
- :mod:`.verdict`: what a transport's answer means for each delivery
- :mod:`.backoff`: when to try again
- :mod:`.gate`: pauses for settings problems
- :mod:`.metrics`: Prometheus metrics
"""

from tocsin.outbox.backoff import RetryPolicy
from tocsin.outbox.engine import DeliveryEngine, EngineOptions
from tocsin.outbox.gate import PauseState
from tocsin.outbox.lanes import TransportFactory, default_transport_factory
from tocsin.outbox.metrics import CONTENT_TYPE, OutboxMetrics
from tocsin.outbox.model import (
    ATTEMPTS_KEPT,
    ClaimedDelivery,
    ClaimedEmail,
    DeliveryAttempt,
    DeliveryUpdate,
    DeliveryView,
    EmailView,
    ListFilter,
    NewEmail,
    Priority,
    Release,
    Status,
    priority_for,
)
from tocsin.outbox.store import OutboxStore, OutboxTransaction

__all__ = [
    "ATTEMPTS_KEPT",
    "CONTENT_TYPE",
    "ClaimedDelivery",
    "ClaimedEmail",
    "DeliveryAttempt",
    "DeliveryEngine",
    "DeliveryUpdate",
    "DeliveryView",
    "EmailView",
    "EngineOptions",
    "ListFilter",
    "NewEmail",
    "OutboxMetrics",
    "OutboxStore",
    "OutboxTransaction",
    "PauseState",
    "Priority",
    "Release",
    "RetryPolicy",
    "Status",
    "TransportFactory",
    "default_transport_factory",
    "priority_for",
]
