"""What the list and form pages share: the confirmations they show, the not-found page."""

from __future__ import annotations

from fastapi import Request, Response, status

from tocsin.model import Session
from tocsin.web.render import render
from tocsin.web.session import language_of

__all__ = ["DONE_KEYS", "not_found"]

DONE_KEYS = ("added", "saved", "removed", "enabled", "disabled")
"""The ``?done=`` values a list page confirms after a change (anything else is ignored)."""


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
