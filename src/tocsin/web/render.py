"""Turning a template and its values into an HTML response, in the reader's language."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from tocsin import __version__
from tocsin.model import Session
from tocsin.web.texts import translator

__all__ = ["NAV", "STATIC_DIR", "redirect", "render"]

STATIC_DIR: Final = Path(__file__).resolve().parent.parent / "static"

NAV: Final = (
    ("email", "/settings/email", "nav_email"),
    ("users", "/users", "nav_users"),
    ("groups", "/groups", "nav_groups"),
    ("events", "/events", "nav_events"),
    ("deliveries", "/deliveries", "nav_deliveries"),
)
"""The menu: (id, path, text key), in the order shown."""

_ENV: Final = Environment(
    loader=PackageLoader("tocsin", "templates/web"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(
    request: Request,
    template: str,
    *,
    language: str,
    session: Session | None,
    http_status: int = 200,
    active: str = "",
    **values: Any,
) -> HTMLResponse:
    """Render ``template`` with the layout's values (texts, menu, CSRF token) and ``values``."""
    other = "de" if language == "en" else "en"
    query = {k: v for k, v in request.query_params.items() if k in ("next", "expired")}
    html = _ENV.get_template(template).render(
        t=translator(language),
        switch_href=f"{request.url.path}?{urlencode({**query, 'lang': other})}",
        lang=language,
        session=session,
        csrf_token=session.csrf_token if session else "",
        nav=NAV if session else (),
        active=active,
        path=request.url.path,
        version=__version__,
        **values,
    )
    return HTMLResponse(html, status_code=http_status)


def redirect(path: str) -> RedirectResponse:
    """A 303 See Other to a path of this site (after a POST: the browser GETs it)."""
    if not path.startswith("/") or path.startswith("//"):
        path = "/"
    return RedirectResponse(path, status_code=303)
