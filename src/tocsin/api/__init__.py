"""The HTTP face: REST API under /api/v1, health and metrics (web pages: tocsin.web)."""

from tocsin.api.app import create_app

__all__ = ["create_app"]
