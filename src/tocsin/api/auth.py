"""Who is calling: a login session (cookie) or an API token (Bearer), and CSRF for cookies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, params, status

from tocsin.http import CSRF_HEADER, SESSION_COOKIE, csrf_matches, services_of
from tocsin.i18n import available_languages
from tocsin.model import Admin, ApiToken, Session
from tocsin.services.accounts import LoginThrottled

__all__ = [
    "Principal",
    "admit",
    "answer_language",
    "authenticate",
    "require_admin",
    "require_scope",
]

_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: an admin's session, or an API token."""

    session: Session | None = None
    token: ApiToken | None = None

    @property
    def admin(self) -> Admin | None:
        """The admin behind a session (None for a token)."""
        return self.session.admin if self.session else None

    def allows(self, scope: str) -> bool:
        """Sessions may do everything; tokens what their scopes say."""
        if self.session is not None:
            return True
        return self.token is not None and (
            "admin" in self.token.scopes or scope in self.token.scopes
        )

    @property
    def language(self) -> str:
        """The language to answer in."""
        return self.session.admin.language if self.session else "en"


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail=detail,
        headers={"WWW-Authenticate": 'Bearer realm="tocsin"'},
    )


def authenticate(request: Request) -> Principal:
    """The caller, or 401. A cookie-authenticated change must carry the CSRF token."""
    services = services_of(request)
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("use 'Authorization: Bearer <token>'")
        client = request.client.host if request.client else "unknown"
        try:
            record = services.accounts.authenticate_token(token.strip(), client=client)
        except LoginThrottled as exc:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                detail=f"too many failed token authentications; try again in "
                f"{int(exc.retry_after) + 1} s",
                headers={"Retry-After": str(int(exc.retry_after) + 1)},
            ) from None
        if record is None:
            raise _unauthorized("the API token is unknown or revoked")
        return Principal(token=record)
    cookie = request.cookies.get(SESSION_COOKIE)
    session = services.accounts.session(cookie) if cookie else None
    if session is None:
        raise _unauthorized("log in, or send an API token")
    if request.method in _UNSAFE:
        sent = request.headers.get(CSRF_HEADER, "")
        if not csrf_matches(sent, session.csrf_token):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, detail=f"missing or wrong {CSRF_HEADER} header"
            )
    return Principal(session=session)


def admit(principal: Principal, scope: str) -> Principal:
    """``principal`` if it is allowed ``scope``; else 403."""
    if not principal.allows(scope):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, detail=f"this token lacks the '{scope}' scope"
        )
    return principal


def require_scope(scope: str) -> params.Depends:
    """A dependency that admits callers allowed ``scope``."""

    # async: a pure check runs on the event loop; a sync one would cost a thread hop.
    async def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        return admit(principal, scope)

    dependency: params.Depends = Depends(check)
    return dependency


require_admin = require_scope("admin")


def answer_language(request: Request, principal: Principal) -> str:
    """The language of an answer's texts: ``?lang=`` when Tocsin has it, else the caller's."""
    wanted = request.query_params.get("lang") or ""
    return wanted if wanted in available_languages() else principal.language
