"""The acknowledgement link's page: ``/ack/<token>``, reachable without signing in.

GET never acknowledges: mail security scanners (Defender Safe Links, Mimecast,
Proofpoint) open every link in a message, so opening the link only shows the alarm and
a confirm button.  The POST, with the double-submit CSRF token of the pages before
login, acknowledges.  The token reaches nothing else.  A forged, expired or used link
gets one clear page and a 4xx, never a detail; forged ones count towards a throttle
per client like failed logins.  The token is in the URL, so these pages are never
cached and send no Referer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Request, Response, status
from starlette.concurrency import run_in_threadpool

from tocsin.ack.model import AckVia
from tocsin.ack.public_url import PublicUrlProblem
from tocsin.http import services_of
from tocsin.security import LoginThrottle, client_key
from tocsin.services.acknowledge import AckOutcome, AckRefused, LinkRefused, LinkView
from tocsin.services.sites import NotFound
from tocsin.web.form_pages import admin_form
from tocsin.web.forms import posted_form
from tocsin.web.render import redirect, render
from tocsin.web.session import (
    BadForm,
    keep_pre_session_token,
    language_of,
    pre_session_csrf_ok,
    pre_session_token,
    remember_language,
)
from tocsin.web.texts import LANGUAGES

__all__ = ["THROTTLE", "router"]

router = APIRouter(include_in_schema=False)
PATH: Final = "/ack/{token}"
THROTTLE: Final = LoginThrottle(limit=20, window=300.0)
"""Forged links per client in five minutes before the page asks to wait."""
_REFUSED_STATUS: Final = {
    "invalid": status.HTTP_404_NOT_FOUND,
    "expired": status.HTTP_410_GONE,
    "used": status.HTTP_410_GONE,
    "csrf": status.HTTP_403_FORBIDDEN,
    "throttled": status.HTTP_429_TOO_MANY_REQUESTS,
    "not_alarm": status.HTTP_409_CONFLICT,
    "cleared": status.HTTP_409_CONFLICT,
}
_PRIVATE: Final = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
}


def _key(request: Request) -> str:
    return client_key(request.client.host if request.client else "")


def _language(request: Request, view: LinkView | None) -> str:
    """The recipient's language for a genuine link, unless the reader chose one."""
    if request.query_params.get("lang") in LANGUAGES or view is None or view.user is None:
        return language_of(request, None)
    chosen = str(view.user.language)
    return chosen if chosen in LANGUAGES else language_of(request, None)


def _private(response: Response) -> Response:
    response.headers.update(_PRIVATE)
    return response


def _refused(request: Request, kind: str, recipient_language: str | None = None) -> Response:
    """The refusal page: in the recipient's language for a genuine link, unless the
    reader chose one (``?lang=``); else the browser's."""
    language = language_of(request, None)
    if recipient_language in LANGUAGES and request.query_params.get("lang") not in LANGUAGES:
        language = str(recipient_language)
    response = render(
        request,
        "ack.html",
        language=language,
        session=None,
        refused=kind,
        view=None,
        outcome=None,
        item={},
        pre_session_token="",
        http_status=_REFUSED_STATUS[kind],
    )
    remember_language(request, response)
    return _private(response)


def _at(timestamp: float, zone_name: str) -> str:
    """A moment in the recipient's time zone, e.g. ``2026-12-06 03:12 CET``."""
    try:
        zone: ZoneInfo | None = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        zone = None
    moment = datetime.fromtimestamp(timestamp, zone or UTC)
    return moment.strftime("%Y-%m-%d %H:%M %Z")


def _item(view: LinkView, outcome: AckOutcome | None) -> dict[str, str]:
    event = view.event.event
    ack = outcome.ack if outcome else view.ack
    zone = view.user.time_zone if view.user else "UTC"

    def when(timestamp: float) -> str:
        return _at(timestamp, zone)

    return {
        "severity": event.severity.value,
        "category": event.category.value,
        "group": view.group_path,
        "device": event.device,
        "sensor": event.sensor,
        "text": event.text,
        "occurred": when(event.occurred_at.timestamp()),
        "open": "1" if view.event.is_open else "",
        "acked_by": ack.by if ack else "",
        "acked_at": when(ack.at) if ack else "",
    }


def _page(request: Request, view: LinkView, outcome: AckOutcome | None = None) -> Response:
    token = pre_session_token(request)
    response = render(
        request,
        "ack.html",
        language=_language(request, view),
        session=None,
        refused="",
        view=view,
        outcome=outcome,
        item=_item(view, outcome),
        pre_session_token=token,
    )
    remember_language(request, response)
    keep_pre_session_token(request, response, token)
    return _private(response)


@router.get(PATH)
def ack_page(request: Request, token: str) -> Response:
    """Show the alarm and a confirm button; changes nothing."""
    if THROTTLE.retry_after(_key(request)) > 0:
        return _refused(request, "throttled")
    try:
        view = services_of(request).acks.open_link(token)
    except LinkRefused as exc:
        if exc.kind == "invalid":
            THROTTLE.failed(_key(request))
        return _refused(request, exc.kind, exc.language)
    return _page(request, view)


@router.post(PATH)
async def ack_confirm(request: Request, token: str) -> Response:
    """Acknowledge (the confirm button), once per link."""
    if THROTTLE.retry_after(_key(request)) > 0:
        return _refused(request, "throttled")
    try:
        form = await posted_form(request, max_fields=5, max_bytes=2048)
    except BadForm:
        return _refused(request, "csrf")
    if not pre_session_csrf_ok(request, form):
        return _refused(request, "csrf")
    acks = services_of(request).acks
    try:
        outcome = await run_in_threadpool(acks.confirm_link, token)
        view = await run_in_threadpool(acks.view_of, token)
    except LinkRefused as exc:
        if exc.kind == "invalid":
            THROTTLE.failed(_key(request))
        return _refused(request, exc.kind, exc.language)
    except AckRefused as exc:
        return _refused(request, exc.code)
    return _page(request, view, outcome)


# ---------------------------------------------------------------- the events page's button
@router.post("/events/{event_id}/ack")
async def ack_from_events_page(request: Request, event_id: str) -> Response:
    """An admin acknowledges an open alarm on the events page."""
    checked = await admin_form(request)
    if isinstance(checked, Response):
        return checked
    session, _ = checked
    acks = services_of(request).acks
    target = f"/events?{urlencode({'event': event_id[:64]})}#event-{quote(event_id[:64])}"
    try:
        await run_in_threadpool(
            acks.acknowledge, event_id, by=session.admin.username, via=AckVia.WEB
        )
    except NotFound:
        return redirect("/events")
    except AckRefused as exc:
        target = target.replace("#", f"&ack_refused={exc.code}#", 1)
    return redirect(target)


# ---------------------------------------------------------------- the public URL setting
@router.post("/settings/public-url")
async def save_public_url(request: Request) -> Response:
    """Save the public URL (its own small form on the email settings page)."""
    checked = await admin_form(request)
    if isinstance(checked, Response):
        return checked
    _, form = checked
    service = services_of(request).public_url
    try:
        warning = await run_in_threadpool(service.save, form.get("public_url", ""))
    except PublicUrlProblem as exc:
        query = {"public_url_error": exc.code, "public_url_typed": form.get("public_url", "")[:300]}
        return redirect(f"/settings/email?{urlencode(query)}#public-url")
    query = {"public_url_saved": "1"} | ({"public_url_warning": warning} if warning else {})
    return redirect(f"/settings/email?{urlencode(query)}#public-url")


_URL_CODES: Final = frozenset(
    {
        "public_url_not_url",
        "public_url_credentials",
        "public_url_query",
        "public_url_bad_character",
        "public_url_too_long",
        "public_url_plain_http",
    }
)


def public_url_view(request: Request) -> dict[str, str]:
    """What the settings page's public URL box shows (``_public_url.html``)."""
    service = services_of(request).public_url
    query = request.query_params
    error = query.get("public_url_error", "")
    warning = query.get("public_url_warning", "")
    current = service.get() or ""
    return {
        "value": query.get("public_url_typed", "")[:300] if error in _URL_CODES else current,
        "source": service.source(),
        "error": error if error in _URL_CODES else "",
        "warning": warning if warning in _URL_CODES else "",
        "saved": "1" if query.get("public_url_saved") == "1" else "",
    }
