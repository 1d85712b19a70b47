"""The relay's delivery worker: the outbox engine with the relay's outbound transport.

The outbox engine (claims with leases, retries with back-off, per-recipient statuses,
SQLite or PostgreSQL) does the queueing; this module only hands it settings that let
it run and a transport factory that builds :mod:`tocsin.relay.delivery`.  Any number
of workers may share one PostgreSQL database: claims use ``FOR UPDATE SKIP LOCKED``.

With a ``state_dir`` (the relay's data directory) a worker holds a lock file there, so
a worker restarted after a crash or SIGKILL takes back its dead predecessor's leases at
once instead of waiting for them to expire (:mod:`tocsin.outbox.incarnation`).
"""

from __future__ import annotations

import dataclasses
import logging
import ssl
from pathlib import Path

from tocsin.errors import ConfigurationProblem
from tocsin.outbox import DeliveryEngine, EngineOptions, RetryPolicy
from tocsin.outbox.store import OutboxStore
from tocsin.relay.config import RelayConfig
from tocsin.relay.delivery import build_delivery_transport
from tocsin.relay.mx import DNSResolver, Resolver, StaticResolver
from tocsin.settings import EmailSettings, TransportKind
from tocsin.store.sqlite import SQLiteStore
from tocsin.transports.base import Transport

__all__ = ["DEFAULT_RETRY", "default_state_dir", "relay_engine", "relay_resolver"]

log = logging.getLogger("tocsin.relay")

DEFAULT_RETRY = RetryPolicy(first=30.0, factor=2.0, cap=1800.0, max_age=2 * 86400.0)
"""Back-off of the relay: alarms older than two days are given up (status dead)."""


def relay_resolver(config: RelayConfig) -> Resolver:
    """The configured static routes in front of DNS (MX, then A/AAAA)."""
    options = config.delivery
    dns = DNSResolver(
        port=options.mx_port, nameservers=options.nameservers, dns_port=options.dns_port
    )
    return StaticResolver(options.routes, dns)


def default_state_dir(store: OutboxStore) -> Path | None:
    """The relay's data directory: the SQLite database's; None for PostgreSQL.

    A PostgreSQL relay has no directory of its own; give one per host (``state_dir``)
    to have its restarts take back leases at once.
    """
    if not isinstance(store, SQLiteStore) or str(store.path) == ":memory:":
        return None
    return store.path.parent


def relay_engine(
    store: OutboxStore,
    config: RelayConfig,
    *,
    resolver: Resolver | None = None,
    options: EngineOptions | None = None,
    tls_context: ssl.SSLContext | None = None,
    state_dir: Path | None = None,
) -> DeliveryEngine:
    """A delivery engine for the relay's queue.  Run it with ``await engine.run(stop)``.

    ``state_dir`` is where the engine keeps its lease lock, unless ``options`` name a
    directory or a fixed lease owner already.
    """
    chosen = resolver or relay_resolver(config)
    engine_options = options or EngineOptions(max_connections=16, retry=DEFAULT_RETRY)
    if state_dir is not None and engine_options.state_dir is None and not engine_options.owner:
        engine_options = dataclasses.replace(engine_options, state_dir=state_dir)
    smarthost = config.delivery.smarthost
    # The engine's gate wants SMTP settings with a host and a sender; the transport
    # below decides where each message really goes.
    settings = EmailSettings(
        enabled=True,
        transport=TransportKind.SMTP,
        host=smarthost.host if smarthost else "mx.relay.invalid",
        sender_address=config.bounce_address,
    )

    def factory(_: EmailSettings) -> Transport:
        return build_delivery_transport(
            config.delivery,
            resolver=chosen,
            ehlo_name=config.hostname,
            sender=config.bounce_address,
            tls_context=tls_context,
        )

    def paused(problem: ConfigurationProblem) -> None:
        log.error("relay delivery paused (smarthost): %s", problem)

    return DeliveryEngine(
        store,
        lambda: settings,
        options=engine_options,
        transport_factory=factory,
        on_pause=paused,
    )
