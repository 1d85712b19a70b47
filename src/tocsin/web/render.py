"""Turning a template and its values into an HTML response, in the reader's language."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from tocsin import __version__
from tocsin.model import Session
from tocsin.web.texts import LANGUAGES, Translator, translator

__all__ = ["NAV", "STATIC_DIR", "redirect", "render"]

STATIC_DIR: Final = Path(__file__).resolve().parent.parent / "static"

NAV: Final = (
    ("email", "/settings/email", "nav_email"),
    ("users", "/users", "nav_users"),
    ("groups", "/groups", "nav_groups"),
    ("ways-in", "/ways-in", "nav_ways_in"),
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
    # Jinja's gettext functions, bound per page to its language (see render): ``_()``
    # and ``gettext()`` are ``t()``, ``ngettext(key, key, n)`` the plural of ``key``.
    extensions=["jinja2.ext.i18n"],
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
    t = translator(language)
    other = t("other_language")
    query = {k: v for k, v in request.query_params.items() if k in ("next", "expired")}
    html = _ENV.get_template(template).render(
        t=t,
        language_names=_language_names(),
        gettext=t,
        ngettext=_ngettext(t),
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


@functools.cache
def _language_names() -> dict[str, str]:
    """Each language's own name, in the catalogs' order (English first)."""
    return {code: translator(code)("name_of_this_language") for code in LANGUAGES}


def _ngettext(t: Translator) -> Callable[..., str]:
    def ngettext(singular: str, plural: str, n: int, /, **params: object) -> str:
        # The catalogs' msgids are codes, so both are the same key; t picks the form.
        return t(singular if n == 1 else plural, count=n, **params)

    return ngettext


def redirect(path: str) -> RedirectResponse:
    """A 303 See Other to a path of this site (after a POST: the browser GETs it)."""
    if not path.startswith("/") or path.startswith("//"):
        path = "/"
    return RedirectResponse(path, status_code=303)
