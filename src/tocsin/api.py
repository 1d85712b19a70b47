"""The REST API (a face). For now: health; later issues add settings, events, outbox."""

from __future__ import annotations

from fastapi import FastAPI

from tocsin import __version__
from tocsin.services.context import Services

__all__ = ["create_app"]


def create_app(services: Services) -> FastAPI:
    """The ASGI application over ``services``."""
    app = FastAPI(title="Tocsin", version=__version__, docs_url=None, redoc_url=None)

    @app.get("/healthz")
    def health() -> dict[str, object]:
        """Liveness: the service runs and its store answers (unauthenticated by design)."""
        settings = services.settings.load()
        return {"status": "ok", "version": __version__, "email_enabled": settings.enabled}

    return app
