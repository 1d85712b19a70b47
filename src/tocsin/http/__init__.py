"""What both HTTP faces share: the session cookie, the services of a request, CSRF checks.

The REST API (:mod:`tocsin.api`) and the web pages (:mod:`tocsin.web`) run in one
application (composed by :mod:`tocsin.app`) over one login session; neither face
imports the other, both import this.
"""

from __future__ import annotations

from fastapi import Request

from tocsin.security import tokens_equal
from tocsin.services.context import Services

__all__ = ["CSRF_HEADER", "SESSION_COOKIE", "csrf_matches", "services_of"]

SESSION_COOKIE = "tocsin_session"
"""The login session's cookie, set by the login page and honoured by the API."""

CSRF_HEADER = "X-CSRF-Token"
"""The header a cookie-authenticated API change carries the session's CSRF token in."""


def services_of(request: Request) -> Services:
    """The services the app was created with."""
    services: Services = request.app.state.services
    return services


def csrf_matches(sent: str, expected: str | None) -> bool:
    """True when a CSRF token ``sent`` equals ``expected`` (compared in constant time)."""
    return bool(sent) and bool(expected) and tokens_equal(sent, expected or "")
