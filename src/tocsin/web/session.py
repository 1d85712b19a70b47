"""Who is looking at a page: session cookie, CSRF tokens, form bodies and the language.

Cookie-authenticated pages carry the session's CSRF token in a hidden field of every
form.  The login and first-run forms come before any session, so they use a
double-submit token: a random value both in an HttpOnly cookie and in the form.
A cross-site page can make the browser send the cookie but cannot read it, so it
cannot put the same value in the form.
"""

from __future__ import annotations

import secrets

from fastapi import Request, Response

from tocsin.http import SESSION_COOKIE, csrf_matches, services_of
from tocsin.model import Session
from tocsin.web.texts import LANGUAGES

__all__ = [
    "CSRF_FIELD",
    "LANG_COOKIE",
    "PRE_SESSION_COOKIE",
    "BadForm",
    "clear_session_cookie",
    "current_session",
    "form_csrf_ok",
    "keep_pre_session_token",
    "language_of",
    "pre_session_csrf_ok",
    "pre_session_token",
    "remember_language",
    "set_session_cookie",
]

CSRF_FIELD = "csrf_token"
PRE_SESSION_COOKIE = "tocsin_login_csrf"
LANG_COOKIE = "tocsin_lang"


class BadForm(ValueError):
    """The request body is not a form this site sends (type, size or encoding)."""


def current_session(request: Request) -> Session | None:
    """The live session of the cookie, or None."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie or len(cookie) > 200:
        return None
    return services_of(request).accounts.session(cookie)


def form_csrf_ok(form: dict[str, str], expected: str | None) -> bool:
    """True when the form's CSRF field equals ``expected`` (compared in constant time)."""
    return csrf_matches(form.get(CSRF_FIELD, ""), expected)


def _secure(request: Request) -> bool:
    # Kept simple on purpose: no X-Forwarded-Proto without a trusted-proxy setting.
    return request.url.scheme == "https"


def set_session_cookie(request: Request, response: Response, session_id: str, ttl: int) -> None:
    """Set the session cookie: HttpOnly, SameSite=Lax, Secure over HTTPS."""
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=max(ttl, 0),
        path="/",
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    """Remove the session cookie."""
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=_secure(request)
    )


def pre_session_token(request: Request) -> str:
    """The double-submit token for the login / first-run form: the cookie's, or a new one."""
    token = request.cookies.get(PRE_SESSION_COOKIE, "")
    return token if 20 <= len(token) <= 100 else secrets.token_urlsafe(32)


def keep_pre_session_token(request: Request, response: Response, token: str) -> None:
    """Set the pre-session cookie to ``token`` unless the browser has it already."""
    if request.cookies.get(PRE_SESSION_COOKIE) == token:
        return
    response.set_cookie(
        PRE_SESSION_COOKIE,
        token,
        max_age=3600,
        path="/",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


def pre_session_csrf_ok(request: Request, form: dict[str, str]) -> bool:
    """True when the form's token equals the pre-session cookie."""
    return form_csrf_ok(form, request.cookies.get(PRE_SESSION_COOKIE))


def language_of(request: Request, session: Session | None) -> str:
    """The page language: the admin's; before login ``?lang=``, the cookie, the browser's."""
    if session is not None and session.admin.language in LANGUAGES:
        return session.admin.language
    for wanted in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE)):
        if wanted in LANGUAGES:
            return wanted
    for part in request.headers.get("accept-language", "").split(","):
        primary = part.split(";")[0].strip().split("-")[0].lower()
        if primary in LANGUAGES:
            return primary
    return "en"


def remember_language(request: Request, response: Response) -> None:
    """Keep an explicit ``?lang=`` choice in a cookie (for pages before login)."""
    wanted = request.query_params.get("lang")
    if wanted in LANGUAGES:
        response.set_cookie(
            LANG_COOKIE,
            wanted,
            max_age=365 * 86400,
            path="/",
            httponly=True,
            samesite="lax",
            secure=_secure(request),
        )
