"""``tocsin relay serve``: the API, the SMTP submission front and a delivery worker,
each optional, on one event loop.

One process with all three on SQLite is a complete relay.  For more, run several
processes with ``--no-worker`` (API and submission) and several with ``--no-api
--no-smtp`` (workers) on one PostgreSQL database.

Stopping is graceful for work in flight and quick otherwise: a request being uploaded
or answered gets its answer (up to ``shutdown_grace``), the worker finishes its sends,
but idle keep-alive connections are cut at once (see :func:`_stop_api`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import signal
import socket
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tocsin.outbox import EngineOptions
from tocsin.relay.api import create_relay_app
from tocsin.relay.mx import Resolver
from tocsin.relay.service import RelayService
from tocsin.relay.store import RelayStore
from tocsin.relay.submission import SubmissionServer, start_submission_server
from tocsin.relay.worker import default_state_dir, relay_engine

if TYPE_CHECKING:
    import uvicorn

__all__ = ["Listen", "ServeOptions", "serve_relay"]

log = logging.getLogger("tocsin.relay")


@dataclass(frozen=True, kw_only=True, slots=True)
class Listen:
    """Where a front listens; port 0 picks a free one (announced on stdout)."""

    host: str = "127.0.0.1"
    port: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class ServeOptions:
    """What this process runs."""

    api: Listen | None = None
    tls_certfile: str = ""  # the API serves HTTPS with these; empty: plain HTTP (behind a proxy)
    tls_keyfile: str = ""
    smtp: Listen | None = None  # needs the certificate too (STARTTLS)
    worker: bool = True
    engine: EngineOptions | None = None
    resolver: Resolver | None = None
    # On stop, requests in flight get this long to be answered; then they are cut.
    shutdown_grace: float = 10.0
    # The worker's lease lock (a restart takes back a killed worker's leases at once);
    # None: the SQLite database's directory, or no lock on PostgreSQL (leases expire).
    state_dir: Path | None = None


# uvicorn closes a connection it is done with (idle, or answered during the stop), but
# over TLS the close waits for the client's close_notify: asyncio gives it 30 s
# (ssl_shutdown_timeout, which uvicorn does not expose), and an idle keep-alive client
# (httpx's pool) never reads its socket, so never answers.  After this moment the
# goodbye is skipped (the answer itself has gone out already).
_CLOSE_LINGER = 0.2
_TICK = 0.05


def _bind(listen: Listen) -> socket.socket:
    family = socket.AF_INET6 if ":" in listen.host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says
    # TCP, and without it every response waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((listen.host, listen.port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


async def _stop_api(api: uvicorn.Server, serving: asyncio.Task[None], grace: float) -> None:
    """Stop uvicorn: requests in flight are answered, idle connections are cut at once.

    uvicorn stops listening, closes idle connections and marks busy ones to close after
    their answer, then waits until every connection is gone.  Connections it has closed
    are aborted after ``_CLOSE_LINGER`` (their TLS goodbye would otherwise take 30 s);
    after ``grace`` every connection is aborted, and uvicorn cancels what still runs.
    """
    loop = asyncio.get_running_loop()
    api.should_exit = True
    deadline = loop.time() + grace
    closing_since: dict[object, float] = {}
    while not serving.done() and loop.time() < deadline + 2 * _CLOSE_LINGER:
        now = loop.time()
        for connection in list(api.server_state.connections):
            transport = getattr(connection, "transport", None)
            if not isinstance(transport, asyncio.Transport):
                continue
            if transport.is_closing():
                closing_since.setdefault(connection, now)
            if now >= deadline or now - closing_since.get(connection, now) >= _CLOSE_LINGER:
                transport.abort()
        await asyncio.wait([serving], timeout=_TICK)


def _announce(**ports: int) -> None:
    print(json.dumps({"event": "ready", **ports}), flush=True)


async def serve_relay(
    service: RelayService,
    options: ServeOptions,
    *,
    worker_store: Callable[[], RelayStore] | None = None,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[dict[str, int]], None] | None = None,
) -> None:
    """Run until SIGTERM / SIGINT (or ``stop``); then finish deliveries in flight.

    ``worker_store`` opens a separate connection for the worker (so API requests and
    claims do not queue behind each other on one connection).  ``on_ready`` hears the
    bound ports (``api_port``, ``smtp_port``); without it they are printed as JSON.
    """
    import uvicorn

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    tasks: list[asyncio.Task[None]] = []
    ports: dict[str, int] = {}
    engine_store = worker_store() if (options.worker and worker_store) else service.store
    if options.worker:
        engine = relay_engine(
            engine_store,
            service.config,
            resolver=options.resolver,
            options=options.engine,
            state_dir=options.state_dir or default_state_dir(engine_store),
        )
        service.on_enqueue = engine.wake
        tasks.append(asyncio.create_task(engine.run(stop), name="relay-worker"))
    smtp_server: SubmissionServer | None = None
    if options.smtp is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(options.tls_certfile, options.tls_keyfile)
        smtp_server = await start_submission_server(
            service, context, host=options.smtp.host, port=options.smtp.port
        )
        ports["smtp_port"] = smtp_server.port
    api: uvicorn.Server | None = None
    serving: asyncio.Task[None] | None = None
    if options.api is not None:
        sock = _bind(options.api)
        ports["api_port"] = int(sock.getsockname()[1])
        config = uvicorn.Config(
            create_relay_app(service),
            log_level="warning",
            ssl_certfile=options.tls_certfile or None,
            ssl_keyfile=options.tls_keyfile or None,
            lifespan="off",
            # The peer is the client (no X-Forwarded-For from loopback clients, as
            # uvicorn would): the throttles count the address that connected.
            proxy_headers=False,
            # Longer than clients keep idle connections (the online transport: 2 s), so a
            # client never reuses a connection the server is closing at that moment.
            timeout_keep_alive=30,
            # Then tasks still running are cancelled (their connections are cut by then).
            timeout_graceful_shutdown=math.ceil(options.shutdown_grace),
        )
        api = uvicorn.Server(config)
        # Our own handlers set ``stop``; uvicorn's would only stop the API.
        api.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
        serving = asyncio.create_task(api.serve(sockets=[sock]), name="relay-api")
        tasks.append(serving)
        while not api.started and not serving.done():  # noqa: ASYNC110 (uvicorn has no event)
            await asyncio.sleep(0.01)
    (on_ready or (lambda p: _announce(**p)))(ports)
    await stop.wait()
    if api is not None and serving is not None:
        tasks.append(asyncio.create_task(_stop_api(api, serving, options.shutdown_grace)))
    if smtp_server is not None:
        tasks.append(asyncio.create_task(smtp_server.stop(grace=options.shutdown_grace)))
    await asyncio.gather(*tasks, return_exceptions=True)
    if engine_store is not service.store:
        engine_store.close()
    sys.stdout.flush()
