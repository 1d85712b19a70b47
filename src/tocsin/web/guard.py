"""What every page that changes something checks first: a session, a readable form, CSRF."""

from __future__ import annotations

from fastapi import Request, Response, status

from tocsin.store.accounts_sql import Session
from tocsin.web.render import render
from tocsin.web.routes_auth import refused, to_login
from tocsin.web.session import BadForm, current_session, form_csrf_ok, language_of, read_form

__all__ = ["DONE_KEYS", "admin_form", "not_found"]

DONE_KEYS = ("added", "saved", "removed", "enabled", "disabled")
"""The ``?done=`` values a list page confirms after a change (anything else is ignored)."""


async def admin_form(request: Request) -> tuple[Session, dict[str, str]] | Response:
    """The admin's session and the posted form, or the response that refuses the request."""
    session = current_session(request)
    if session is None:
        return to_login(request)
    try:
        form = await read_form(request)
    except BadForm:
        return refused(request, session, bad_form=True)
    if not form_csrf_ok(form, session.csrf_token):
        return refused(request, session)
    return session, form


def not_found(request: Request, session: Session) -> Response:
    """The page for an id that does not exist (any more)."""
    return render(
        request,
        "error.html",
        language=language_of(request, session),
        session=session,
        message_key="not_found",
        http_status=status.HTTP_404_NOT_FOUND,
    )
