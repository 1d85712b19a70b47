"""Running the service: the web/API server and the delivery engine in one process.

Under systemd (``Type=notify``) it says ``READY=1`` once the port takes connections
and ``STOPPING=1`` as soon as SIGTERM arrives (see :mod:`tocsin.deploy.systemd`).
On SIGTERM / SIGINT: the port closes (requests in progress get
:data:`HTTP_GRACE` seconds), sends in flight finish (the engine's ``shutdown_grace``),
unsent mail goes back to the queue, and :func:`serve_forever` returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import socket
import time
from collections.abc import Callable
from types import FrameType

import uvicorn

from tocsin.app import create_app
from tocsin.deploy.systemd import notify, watchdog_interval
from tocsin.deploy.workers import DeliveryProcesses
from tocsin.errors import ConfigurationProblem
from tocsin.intake.mqtt.service import DEAD_LETTER_PROBLEM, MqttService
from tocsin.intake.mqtt.subscriber import MqttMetrics, Subscriber
from tocsin.outbox import DeliveryEngine, EngineOptions, OutboxMetrics, default_transport_factory
from tocsin.outbox.tracker import Tracker
from tocsin.services.context import Services
from tocsin.services.disk import DiskWatch
from tocsin.services.escalation import run_escalation
from tocsin.services.failover_notice import failover_notifier
from tocsin.services.startup import base_url, exposed_database, next_steps, permission_warning
from tocsin.services.summaries import (
    ProblemCheck,
    default_checks,
    outbox_pause_notifier,
    run_summaries,
)

__all__ = ["HTTP_GRACE", "serve_forever", "settle_startup_heap"]

log = logging.getLogger("tocsin")

HTTP_GRACE = 5.0
"""Seconds requests in progress get to finish once the service is told to stop."""


class _Server(uvicorn.Server):
    """uvicorn, telling systemd when it is ready and when it begins to stop."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:  # listening: connections are taken from now on
            self._on_ready()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.should_exit:
            notify("STOPPING=1")
            log.info("stopping (%s)", signal.Signals(sig).name)
        super().handle_exit(sig, frame)


async def _watchdog(stop: asyncio.Event) -> None:
    """``WATCHDOG=1`` while the event loop runs, if systemd asked for it."""
    interval = watchdog_interval()
    while interval is not None and not stop.is_set():
        notify("WATCHDOG=1")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


def _engine(services: Services, metrics: OutboxMetrics, *, claims: bool) -> DeliveryEngine:
    notify_pause = outbox_pause_notifier(services)

    def paused(problem: ConfigurationProblem) -> None:
        # The text names the step and the server's reply; it never holds a credential.
        log.warning("email delivery paused until the settings change: %s", problem)
        notify_pause(problem)  # one 'system' event, through whatever still works

    # Restarts take back dead leases; with delivery processes, the queue is theirs
    # while one of them runs.
    options = EngineOptions(state_dir=services.data, claims=claims)
    return DeliveryEngine(
        services.store,
        services.settings.load,
        settings_version=services.failover.fingerprint,  # the email settings and the chain
        failover_source=services.failover.load,
        on_failover=failover_notifier(services),
        options=options,
        # A refresh token the provider rotates is stored (encrypted) at once.
        transport_factory=default_transport_factory(
            options.max_connections, refresh_keeper=services.failover.refresh_token_keeper
        ),
        metrics=metrics,
        on_pause=paused,
    )


def settle_startup_heap() -> None:
    """Collect what start-up left behind, then set the rest (modules, templates, the
    site, the app) aside from the garbage collector (:func:`gc.freeze`).

    Those objects live as long as the process, yet every full collection walked them
    all: during a burst of alarms, one such walk every few hundred events.  Frozen,
    a full collection walks only what was made since.  Collected first, so no garbage
    of start-up is kept for ever.  (Alarm-path bench, three alternating pairs: a burst
    of 2,000 events 1,457/1,435/1,524 → 1,568/1,690/1,525 emails/s.)
    """
    gc.collect()
    gc.freeze()


async def serve_forever(
    services: Services, *, host: str, port: int, workers: DeliveryProcesses | None = None
) -> None:
    """Serve HTTP, deliver mail, run the minutely summaries and watch the disk until
    SIGTERM / SIGINT; with ``workers``, beside those delivery processes (serve's own
    engine then sends what the intake hands it, and claims from the queue only while
    none of them runs)."""
    warning = permission_warning(exposed_database(services))
    if warning:
        log.warning("%s", warning)
    metrics = OutboxMetrics(services.store)
    if workers is not None:  # their send counts in /metrics beside serve's own
        metrics.add_shared(workers.shared)
    engine = _engine(services, metrics, claims=workers is None)
    if workers is not None:  # serve claims while none of them runs (see deploy.workers)
        workers.stand_in = engine.stand_in
    services.outbox.on_enqueue = engine.wake
    services.outbox.handoff = engine.handoff  # the intake's emails skip the claim round
    app = create_app(services, metrics=metrics)
    # Before listening: the first alarm after a start renders as fast as the next.
    began = time.monotonic()
    if rendered := await asyncio.to_thread(services.events.warm_up):
        spent = (time.monotonic() - began) * 1000
        log.info("email templates ready (%d sample emails rendered in %.0f ms, none sent)",
                 rendered, spent)  # fmt: skip
    settle_startup_heap()
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,  # tocsin.deploy.logs set up the handlers: one line per event
        log_level="info",
        timeout_graceful_shutdown=int(HTTP_GRACE),
        # No X-Forwarded-For/-Proto: uvicorn would take them from any loopback client,
        # so a local process could name a new address with every guessed API token and
        # never be throttled.  Without a trusted-proxy setting, the peer is the client.
        proxy_headers=False,
    )

    def ready() -> None:
        log.info("listening on http://%s:%d (data: %s)", host, port, services.data)
        notify(f"READY=1\nSTATUS=Listening on http://{host}:{port}")
        for step in next_steps(services, base_url(host, port)):
            log.info("%s", step)

    server = _Server(config, ready)
    stop = asyncio.Event()
    mqtt = MqttService(services)
    # A burst of dead letters raises one notice; it is cleared once they stop.
    mqtt_check = ProblemCheck(frozenset({DEAD_LETTER_PROBLEM}), mqtt.dead_letter_problem)
    checks = [*default_checks(services, engine=engine), mqtt_check]
    tasks = [
        asyncio.create_task(engine.run(stop), name="delivery-engine"),
        # The online service's later word (delivered, bounced) into the delivery log.
        asyncio.create_task(
            Tracker(services.store, services.settings.load).run(stop), name="tracking"
        ),
        asyncio.create_task(
            run_summaries(services, stop, checks=checks),
            name="summaries",
        ),
        # Escalation steps and reminders of unacknowledged alarms (claimed rows: once each).
        asyncio.create_task(run_escalation(services.escalation, stop), name="escalation"),
        asyncio.create_task(DiskWatch(services, services.disk).run(stop), name="disk-watch"),
        # PostgreSQL: fresh statistics for tables a storm made outgrow them.
        asyncio.create_task(services.store.keep_statistics(stop), name="statistics"),
        asyncio.create_task(_watchdog(stop), name="watchdog"),
        # MQTT topics as a way in (off until enabled): commit, then acknowledge.
        asyncio.create_task(
            Subscriber(mqtt, MqttMetrics(metrics.registry)).run(stop), name="mqtt-intake"
        ),
    ]
    if workers is not None:  # stopped with the rest: they finish their sends in flight
        tasks.append(asyncio.create_task(workers.run(stop), name="delivery-processes"))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    try:
        await server.serve()
    finally:
        stop.set()
        # Sends in flight finish; unsent claims go back to the queue.
        results = await asyncio.gather(*tasks, return_exceptions=True)
        log.info("stopped")
    for result in results:
        if isinstance(result, BaseException):
            raise result
