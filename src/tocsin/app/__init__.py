"""The web application as served: the REST API and the web pages in one ASGI app.

A composition, above the faces: the only package that imports both :mod:`tocsin.api`
and :mod:`tocsin.web`, so that neither face needs the other.  They share one login
session through :mod:`tocsin.http`.
"""

from __future__ import annotations

from fastapi import FastAPI

from tocsin import api, web
from tocsin.outbox import OutboxMetrics
from tocsin.services.context import Services

__all__ = ["create_app"]


def create_app(services: Services, *, metrics: OutboxMetrics | None = None) -> FastAPI:
    """The API and the pages over ``services`` (opened by the caller, closed by the caller).

    ``metrics`` is shared with the delivery engine when one runs in this process.
    """
    app = api.create_app(services, metrics=metrics)
    app.include_router(web.router)
    app.mount("/static", web.static_files(), name="static")
    return app
