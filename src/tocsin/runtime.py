"""Running the service: the web/API server and the delivery engine in one process."""

from __future__ import annotations

import asyncio
import logging
import signal

import uvicorn

from tocsin.api import create_app
from tocsin.errors import ConfigurationProblem
from tocsin.outbox import DeliveryEngine, EngineOptions, OutboxMetrics
from tocsin.outbox.tracker import Tracker
from tocsin.services.context import Services
from tocsin.services.disk import DiskWatch
from tocsin.services.summaries import default_checks, outbox_pause_notifier, run_summaries

__all__ = ["serve_forever"]

log = logging.getLogger("tocsin")


async def serve_forever(services: Services, *, host: str, port: int) -> None:
    """Serve HTTP, deliver mail and run the minutely summaries until SIGTERM / SIGINT."""
    metrics = OutboxMetrics(services.store)

    notify = outbox_pause_notifier(services)

    def paused(problem: ConfigurationProblem) -> None:
        # The text names the step and the server's reply; it never holds a credential.
        log.warning("email delivery paused until the settings change: %s", problem)
        notify(problem)  # one 'system' event, through whatever still works

    engine = DeliveryEngine(
        services.store,
        services.settings.load,
        options=EngineOptions(state_dir=services.data),  # restarts take back dead leases
        metrics=metrics,
        on_pause=paused,
    )
    services.outbox.on_enqueue = engine.wake
    app = create_app(services, metrics=metrics)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,  # tocsin.deploy.logs set up the handlers: one line per event
        log_level="info",
    )
    server = uvicorn.Server(config)
    stop = asyncio.Event()
    worker = asyncio.create_task(engine.run(stop), name="delivery-engine")
    # The online service's later word (delivered, bounced) into the delivery log.
    tracker = Tracker(services.store, services.settings.load)
    tracking = asyncio.create_task(tracker.run(stop), name="tracking")
    minutely = asyncio.create_task(
        run_summaries(services, stop, checks=default_checks(services, engine=engine)),
        name="summaries",
    )
    # The data directory's space: the notice when it runs low, room given back.
    disk = asyncio.create_task(DiskWatch(services, services.disk).run(stop), name="disk-watch")
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    try:
        await server.serve()
    finally:
        stop.set()
        await worker  # sends in flight finish; unsent claims go back to the queue
        await minutely
        await tracking
        await disk
