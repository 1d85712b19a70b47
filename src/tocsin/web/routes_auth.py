"""Pages before and around a session: start, first run, login, logout, language."""

from __future__ import annotations

import threading
import time
from typing import Final
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response, status
from starlette.concurrency import run_in_threadpool

from tocsin.http import SESSION_COOKIE, services_of
from tocsin.security import MIN_PASSWORD_LENGTH
from tocsin.services.accounts import LoginRefused, LoginThrottled
from tocsin.web.forms import checked_form, posted_form, refused
from tocsin.web.render import NAV, redirect, render
from tocsin.web.session import (
    PRE_SESSION_COOKIE,
    BadForm,
    clear_session_cookie,
    current_session,
    keep_pre_session_token,
    language_of,
    pre_session_csrf_ok,
    pre_session_token,
    remember_language,
    set_session_cookie,
)
from tocsin.web.texts import LANGUAGES, translator

__all__ = ["refused", "router", "to_login"]

router = APIRouter(include_in_schema=False)
# Forms posted before anyone is logged in (setup, login) are small: bound them tightly.
LOGIN_FIELDS: Final = 20
LOGIN_BYTES: Final = 16 * 1024

HOME = "/settings/email"
# The menu's pages and the pages below them that a language switch or login may return to.
_PAGES = frozenset({*(path for _, path, _ in NAV), "/ways-in/mqtt"})
# One first-run form at a time, so two racing submissions cannot both create "the first" admin.
_FIRST_RUN = threading.Lock()


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _next(value: str | None) -> str:
    """A page to go to after login: only our own menu pages (no open redirect)."""
    return value if value in _PAGES else HOME


def to_login(request: Request) -> Response:
    """Where an anonymous visitor of a page goes: first run, or the login page."""
    if services_of(request).accounts.first_run():
        return redirect("/setup")
    query = {"next": request.url.path} if request.url.path in _PAGES else {}
    if request.cookies.get(SESSION_COOKIE):  # a cookie, but no live session behind it
        query["expired"] = "1"
    return redirect(f"/login?{urlencode(query)}" if query else "/login")


@router.get("/")
def start(request: Request) -> Response:
    """First run, login, or the email settings."""
    if current_session(request) is not None:
        return redirect(HOME)
    return to_login(request)


# ---------------------------------------------------------------- first run


def _setup_page(
    request: Request,
    *,
    username: str = "",
    language: str | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    lang = language or language_of(request, None)
    token = pre_session_token(request)
    response = render(
        request,
        "setup.html",
        language=lang,
        session=None,
        pre_session_token=token,
        username=username,
        chosen_language=lang,
        min_password=MIN_PASSWORD_LENGTH,
        errors=errors or {},
        http_status=status.HTTP_422_UNPROCESSABLE_CONTENT if errors else status.HTTP_200_OK,
    )
    remember_language(request, response)
    keep_pre_session_token(request, response, token)
    return response


@router.get("/setup")
def setup_form(request: Request) -> Response:
    """Create the first admin: only while none exists."""
    if not services_of(request).accounts.first_run():
        return redirect("/")
    return _setup_page(request)


def _setup_error(message: str) -> dict[str, str]:
    # The service words its refusals in English; the page names the field in either language.
    if message.startswith("the username"):
        return {"username": "setup_username_invalid"}
    if message.startswith("the password"):
        return {"password": "setup_password_short"}
    return {"language": "bad_form"}


@router.post("/setup")
async def setup_submit(request: Request) -> Response:
    """Create the first admin and log them in."""
    accounts = services_of(request).accounts
    try:
        form = await posted_form(request, max_fields=LOGIN_FIELDS, max_bytes=LOGIN_BYTES)
    except BadForm:
        return refused(request, None, bad_form=True)
    if not accounts.first_run():
        return redirect("/login")
    if not pre_session_csrf_ok(request, form):
        return refused(request, None)
    username, password = form.get("username", "").strip(), form.get("password", "")
    language = form.get("language", "en")
    language = language if language in LANGUAGES else "en"
    if password != form.get("password2", ""):
        # Name every problem the form can see at once, not one per round trip: a
        # too-short password typed differently twice needs both fixes.
        errors = {"password2": "setup_mismatch"}
        if len(password) < MIN_PASSWORD_LENGTH:
            errors |= {"password": "setup_password_short"}
        return _setup_page(request, username=username, language=language, errors=errors)

    def create() -> dict[str, str]:  # the errors: empty when the admin was created
        with _FIRST_RUN:
            if not accounts.first_run():
                return {"username": "setup_username_taken"}
            try:
                accounts.create_admin(username, password, language)
            except ValueError as exc:
                return _setup_error(str(exc))
        return {}

    errors = await run_in_threadpool(create)
    if errors:
        return _setup_page(request, username=username, language=language, errors=errors)
    return await _log_in(request, username, password, HOME)


# ---------------------------------------------------------------- login / logout


def _login_page(
    request: Request,
    *,
    username: str = "",
    error: str = "",
    notice: str = "",
    code: int = status.HTTP_200_OK,
) -> Response:
    token = pre_session_token(request)
    response = render(
        request,
        "login.html",
        language=language_of(request, None),
        session=None,
        pre_session_token=token,
        username=username,
        error=error,
        notice=notice,
        next=_next(request.query_params.get("next")),
        http_status=code,
    )
    remember_language(request, response)
    keep_pre_session_token(request, response, token)
    return response


@router.get("/login")
def login_form(request: Request) -> Response:
    """The login page (the first-run page while no admin exists)."""
    if services_of(request).accounts.first_run():
        return redirect("/setup")
    if current_session(request) is not None:
        return redirect(_next(request.query_params.get("next")))
    notice = "logged_out" if request.query_params.get("out") == "1" else ""
    if request.query_params.get("expired") == "1":
        notice = "session_expired"
    return _login_page(request, notice=notice)


async def _log_in(request: Request, username: str, password: str, target: str) -> Response:
    accounts = services_of(request).accounts
    t = translator(language_of(request, None))
    try:
        session_id, session = await run_in_threadpool(
            lambda: accounts.login(username, password, client=_client(request))
        )
    except LoginThrottled as exc:
        text = t("login_throttled", seconds=int(exc.retry_after) + 1)
        page = _login_page(
            request, username=username, error=text, code=status.HTTP_429_TOO_MANY_REQUESTS
        )
        page.headers["Retry-After"] = str(int(exc.retry_after) + 1)
        return page
    except LoginRefused:
        text = t("login_refused")
        return _login_page(request, username=username, error=text)
    response = redirect(target)
    set_session_cookie(request, response, session_id, int(session.expires_at - time.time()))
    response.delete_cookie(PRE_SESSION_COOKIE, path="/")
    return response


@router.post("/login")
async def login_submit(request: Request) -> Response:
    """Check the credentials; start a session."""
    try:
        form = await posted_form(request, max_fields=LOGIN_FIELDS, max_bytes=LOGIN_BYTES)
    except BadForm:
        return refused(request, None, bad_form=True)
    if services_of(request).accounts.first_run():
        return redirect("/setup")
    if not pre_session_csrf_ok(request, form):
        return refused(request, None)
    target = _next(form.get("next"))
    return await _log_in(
        request, form.get("username", "").strip(), form.get("password", ""), target
    )


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session (a POST with the CSRF token, so no other site can log you out)."""
    session = current_session(request)
    if session is None:
        return redirect("/login")
    form = await checked_form(request, session)
    if isinstance(form, Response):
        return form
    cookie = request.cookies.get(SESSION_COOKIE, "")
    services_of(request).accounts.logout(cookie)
    response = redirect("/login?out=1")
    clear_session_cookie(request, response)
    return response


@router.post("/language")
async def set_language(request: Request) -> Response:
    """Switch the signed-in admin's page language."""
    session = current_session(request)
    if session is None:
        return to_login(request)
    form = await checked_form(request, session)
    if isinstance(form, Response):
        return form
    language = form.get("lang", "")
    if language in LANGUAGES:
        # AccountsService has no language use case yet; the store method is the whole of it.
        services_of(request).store.set_admin_language(session.admin.id, language)
    return redirect(_next(form.get("next")))
