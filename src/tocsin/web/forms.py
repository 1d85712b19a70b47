"""Reading what a page posts: the url-encoded form, bounded, and its CSRF check.

A name may come more than once (one ``groups`` field per ticked group), so the form
keeps every value; as a dict it gives each name's first value.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final
from urllib.parse import parse_qsl

from fastapi import Request, Response, status

from tocsin.model import Session
from tocsin.web.render import render
from tocsin.web.session import BadForm, form_csrf_ok, language_of

__all__ = ["MAX_BYTES", "MAX_FIELDS", "Form", "checked_form", "posted_form", "refused"]

MAX_FIELDS: Final = 1100
"""Fields in one form: a user may be in up to 1,000 groups (a field each, the sites
service's limit) besides the form's own fields."""
MAX_BYTES: Final = 512 * 1024
"""The body's size: 1,000 group ids of the longest kind, percent-encoded, still fit."""
_FORM_TYPE: Final = "application/x-www-form-urlencoded"


class Form(dict[str, str]):
    """A posted form: each name's first value, and :meth:`every` value of a name."""

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__()
        self._pairs = tuple(pairs)
        for name, value in self._pairs:
            self.setdefault(name, value)

    def every(self, name: str) -> list[str]:
        """All the values sent for ``name``, in order (ticked boxes of one list)."""
        return [value for key, value in self._pairs if key == name]


async def posted_form(
    request: Request, *, max_fields: int = MAX_FIELDS, max_bytes: int = MAX_BYTES
) -> Form:
    """The url-encoded body, refused beyond ``max_fields`` fields or ``max_bytes`` bytes.

    Parsed here rather than with ``request.form()`` to need no multipart parser and to
    bound the size: a form past a bound is refused whole, never cut.  Raises
    :class:`~tocsin.web.session.BadForm`.
    """
    media_type = request.headers.get("content-type", "").partition(";")[0]
    if media_type.strip().lower() != _FORM_TYPE:
        raise BadForm("not a url-encoded form")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise BadForm(f"form larger than {max_bytes} bytes")
    try:
        text = body.decode("utf-8")
        return Form(parse_qsl(text, keep_blank_values=True, max_num_fields=max_fields))
    except (UnicodeDecodeError, ValueError) as exc:  # ValueError: too many fields
        raise BadForm("form not readable") from exc


async def checked_form(request: Request, session: Session) -> Form | Response:
    """The form a signed-in admin posted, or the page refusing it (unreadable, no CSRF token)."""
    try:
        form = await posted_form(request)
    except BadForm:
        return refused(request, session, bad_form=True)
    return form if form_csrf_ok(form, session.csrf_token) else refused(request, session)


def refused(request: Request, session: Session | None, *, bad_form: bool = False) -> Response:
    """The page for a form without a valid CSRF token (or one that cannot be read)."""
    return render(
        request,
        "error.html",
        language=language_of(request, session),
        session=session,
        message_key="bad_form" if bad_form else "csrf_refused",
        http_status=status.HTTP_400_BAD_REQUEST if bad_form else status.HTTP_403_FORBIDDEN,
    )
