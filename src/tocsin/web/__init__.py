"""The web face: server-rendered pages (Jinja2) with a little JavaScript from /static.

Pages parse the form, call a service, and present the answer; no business rule lives
here.  Mounted into the API's application by :func:`tocsin.app.create_app`::

    app.include_router(web.router)
    app.mount("/static", web.static_files(), name="static")
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.staticfiles import StaticFiles

from tocsin.web import (
    routes_ack,
    routes_auth,
    routes_deliveries,
    routes_delivery_detail,
    routes_events,
    routes_groups,
    routes_mqtt,
    routes_settings,
    routes_users,
    routes_ways_in,
)
from tocsin.web.render import STATIC_DIR

__all__ = ["router", "static_files"]

router = APIRouter(include_in_schema=False)
router.include_router(routes_auth.router)
router.include_router(routes_settings.router)
router.include_router(routes_users.router)
router.include_router(routes_groups.router)
router.include_router(routes_events.router)
router.include_router(routes_deliveries.router)
router.include_router(routes_ack.router)
router.include_router(routes_delivery_detail.router)
router.include_router(routes_ways_in.router)
router.include_router(routes_mqtt.router)


def static_files() -> StaticFiles:
    """The stylesheet and scripts the pages load (the CSP allows no inline ones)."""
    return StaticFiles(directory=STATIC_DIR)
