"""The ASGI application: REST API, health, security headers."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector
from starlette._utils import get_route_path  # the router's own reading of the path
from starlette.datastructures import MutableHeaders
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tocsin import __version__
from tocsin.api import discovery as discovery_routes
from tocsin.api import events as events_routes
from tocsin.api import intake as intake_routes
from tocsin.api import mqtt as mqtt_routes
from tocsin.api import outbox as outbox_routes
from tocsin.api import public_url as public_url_routes
from tocsin.api import settings as settings_routes
from tocsin.api import sites as sites_routes
from tocsin.api.auth import require_admin
from tocsin.errors import StorageFull
from tocsin.i18n import Language, translate
from tocsin.intake.mqtt.service import MqttService
from tocsin.outbox import CONTENT_TYPE, OutboxMetrics
from tocsin.outbox.handoff import landing_after_the_answer
from tocsin.providers.discovery import Discovery
from tocsin.security import LoginThrottle
from tocsin.services.context import Services
from tocsin.services.disk import DiskCollector
from tocsin.services.test_email_limit import TestEmailLimit

__all__ = ["create_app"]

log = logging.getLogger("tocsin.api")

_FULL_LOG_EVERY = 60.0  # seconds: one warning a minute while the disk stays full

SECURITY_HEADERS = {
    # No inline script anywhere: pages load their JavaScript from /static.
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every HTTP response that does not set them itself.

    Plain ASGI, not ``@app.middleware("http")``: Starlette's ``BaseHTTPMiddleware``
    runs each request in a task group with memory streams, which cost more CPU than
    the rest of the ASGI stack for a small request (issue 11).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class EventsLane:
    """``POST /api/v1/events`` straight to its endpoint, past the router (issue 11).

    For the one request an alarm makes, FastAPI's router (included routers matched
    twice over), its request handler and dependency solving, and the exit stack cost
    the event loop about 150 µs of CPU a request, nearly as much as everything else the
    loop does for it (``bench/intake_lane_bench.py``: 213 against 363 µs, load 2).  The
    endpoint takes only the request, so none of that is needed: this lane sits where
    the app's exception middleware starts and answers that path and method itself,
    with the app's own exception handlers (401, 403 and 429 raised by the token check,
    503 for a full disk; anything else goes on to the server-error middleware as
    before).  Every other request, the intake's other methods and paths included, goes
    on to the app unchanged; the route stays in the router, so the OpenAPI document is
    the same.  ``tests/intake/test_events_lane.py`` compares the answers both ways.
    """

    path = events_routes.router.prefix  # the route is "" under it

    def __init__(self, app: ASGIApp, *, fastapi: FastAPI) -> None:
        self.app = app
        # Built with the middleware stack (on the first request), as the app's own
        # exception middleware is, so it has the same handlers.
        handlers = {
            k: v for k, v in fastapi.exception_handlers.items() if k not in (500, Exception)
        }
        self._lane = ExceptionMiddleware(_post_events, handlers=handlers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and get_route_path(scope) == self.path
        ):
            await self._lane(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _post_events(scope: Scope, receive: Receive, send: Send) -> None:
    # The 202 first, then the engine takes the emails handed to it (tocsin.outbox.handoff).
    with landing_after_the_answer():
        response = await events_routes.post_events(Request(scope, receive, send))
        await response(scope, receive, send)


class _TokenAuthCollector(Collector):
    """Failed and throttled API-token authentications, read from the throttle."""

    def __init__(self, throttle: LoginThrottle) -> None:
        self._throttle = throttle

    def collect(self) -> Iterator[CounterMetricFamily]:
        failed = CounterMetricFamily(
            "tocsin_api_token_failures", "API-token authentications that failed"
        )
        failed.add_metric([], self._throttle.failed_total)
        throttled = CounterMetricFamily(
            "tocsin_api_throttled",
            "API requests refused with 429 after too many failed token authentications "
            "from their address",
        )
        throttled.add_metric([], self._throttle.throttled_total)
        yield failed
        yield throttled


def create_app(services: Services, *, metrics: OutboxMetrics | None = None) -> FastAPI:
    """The REST API over ``services`` (opened by the caller, closed by the caller).

    The pages join it in :func:`tocsin.app.create_app`.

    ``metrics`` is shared with the delivery engine when one runs in this process.
    """
    app = FastAPI(title="Tocsin", version=__version__, docs_url=None, redoc_url=None)
    app.state.services = services
    app.state.metrics = metrics or OutboxMetrics(services.store)
    # An earlier app over the same metrics may have registered them already.
    with contextlib.suppress(ValueError):
        app.state.metrics.registry.register(_TokenAuthCollector(services.accounts.token_throttle))
    app.state.metrics.registry.register(DiskCollector(services.disk))
    # Delivered tests are counted per recipient, failures only in a short burst: the
    # button must not become a spam cannon, nor block someone debugging a server.
    app.state.test_email_limiter = TestEmailLimit()
    # "Find settings": the system's DNS and trust store (tests put their own here).
    app.state.discovery = Discovery()
    app.state.discover_limiter = LoginThrottle(limit=20, window=60.0)

    app.add_middleware(EventsLane, fastapi=app)  # inside SecurityHeaders: added first
    app.add_middleware(SecurityHeaders)
    # The intake first: the router tries each route (and every route of each included
    # router) in order, ~7 µs for the first against ~60 µs behind the settings and
    # outbox routes (issue 11).  No route before it can match an /api/v1/events path,
    # nor can one of its routes match another path, so every answer stays the same.
    app.include_router(events_routes.router)

    last_logged = [-_FULL_LOG_EVERY]

    @app.exception_handler(StorageFull)
    async def storage_full(request: Request, exc: Exception) -> Response:
        """A full disk: 503 with Retry-After; nothing of the request was stored."""
        assert isinstance(exc, StorageFull)
        services.disk.note_full(exc)
        now = time.monotonic()
        if now - last_logged[0] >= _FULL_LOG_EVERY:  # the access log has every one
            last_logged[0] = now
            log.warning("refusing %s %s: %s (503)", request.method, request.url.path, exc)
        return _full_response(request, exc)

    @app.get("/healthz")
    def health() -> dict[str, object]:
        """Liveness: the service runs and its store answers (unauthenticated by design).

        ``status`` is ``degraded`` while ``problems`` lists something for an admin to
        fix (``disk_full``: new events are refused; ``disk_low``; ``mqtt_broker``: the MQTT
        broker cannot be used); ``disk`` has the data directory's numbers; ``mqtt`` the
        subscriber's state and error code (no address).  Always 200: restarting would not help.
        """
        settings = services.settings.load()
        disk = services.disk.state()
        mqtt = MqttService(services).status()
        problems: list[dict[str, str]] = disk.problems()
        if mqtt.state == "retrying":  # the one-sentence reason, in English (no address)
            problems.append(
                {"code": "mqtt_broker", "message": translate(f"mqtt_error_{mqtt.error}", "en")}
            )
        return {
            "status": "degraded" if problems else "ok",
            "version": __version__,
            "email_enabled": settings.enabled,
            "problems": problems,
            "disk": disk.as_dict(),
            "mqtt": {"state": mqtt.state, "error": mqtt.error},
        }

    @app.get("/metrics", dependencies=[require_admin])
    def prometheus_metrics() -> Response:
        """Prometheus metrics (queue depth, oldest queued age, latency, failures by reason)."""
        return Response(app.state.metrics.exposition(), media_type=CONTENT_TYPE)

    @app.get("/api/v1/settings/online-status", dependencies=[require_admin])
    async def online_status(lang: Language = Language.EN) -> dict[str, object]:
        """Whether the online service answers right now, and what to change if not
        (``hint``, in ``lang``: en or de)."""
        from tocsin.transports.online_diagnostics import check_relay

        return await check_relay(services.settings.load(), lang.value)

    app.include_router(public_url_routes.router)  # before /api/v1/settings (issue 13)
    app.include_router(settings_routes.router)
    app.include_router(discovery_routes.router)
    app.include_router(outbox_routes.router)
    app.include_router(sites_routes.router)
    app.include_router(intake_routes.router)
    app.include_router(mqtt_routes.router)
    return app


def _full_response(request: Request, exc: StorageFull) -> Response:
    headers = {"Retry-After": str(exc.retry_after)}
    message = f"{exc}; nothing was stored, try again later"
    if request.url.path.startswith("/api/"):
        body = {"error": "storage_full", "message": message, "retry_after": exc.retry_after}
        return JSONResponse(body, status_code=503, headers=headers)
    return PlainTextResponse(message[0].upper() + message[1:] + ".", 503, headers=headers)
