"""REST: the public address emails link to (``/api/v1/settings/public-url``, issue 13).

``GET`` answers ``{"public_url": "https://…" | null, "source": "saved" | "environment"
| "none"}``; ``PUT {"public_url": "https://…"}`` checks and saves it (``""`` or null
removes it) and answers the same plus ``warning`` (``public_url_plain_http`` or null);
a bad address is 422 ``{"error": "invalid_public_url", "code": …, "message": …}``.
Admin only.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from tocsin.ack.public_url import PublicUrlProblem
from tocsin.api.auth import Principal, require_admin
from tocsin.http import services_of
from tocsin.i18n import lookup
from tocsin.services.inputs import InputRefused, decode_json

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/settings/public-url", tags=["settings"])
Admin = Annotated[Principal, require_admin]
_MAX_BODY = 4096


def _state(request: Request, warning: str | None = None) -> dict[str, object]:
    service = services_of(request).public_url
    return {"public_url": service.get(), "source": service.source(), "warning": warning}


@router.get("")
def get_public_url(request: Request, principal: Admin) -> JSONResponse:
    """The public address and where it comes from."""
    return JSONResponse(_state(request))


@router.put("", responses={422: {"description": "not a usable address; nothing saved"}})
async def put_public_url(request: Request, principal: Admin) -> JSONResponse:
    """Check and save the public address (empty or null: remove it)."""
    raw = await request.body()
    invalid = {"error": "invalid_input", "message": 'the body is {"public_url": "<URL>"}'}
    if len(raw) > _MAX_BODY:
        return JSONResponse(invalid, status_code=413)
    try:
        body = decode_json(raw)
    except InputRefused as exc:
        return JSONResponse({"error": "malformed_json", "message": str(exc)}, status_code=400)
    value = body.get("public_url", "") if isinstance(body, dict) else None
    if (
        not isinstance(body, dict)
        or set(body) != {"public_url"}
        or not (value is None or isinstance(value, str))
    ):
        return JSONResponse(invalid, status_code=422)
    try:
        warning = await run_in_threadpool(services_of(request).public_url.save, value or "")
    except PublicUrlProblem as exc:
        message = lookup(exc.code, principal.language, "web", {})
        body = {"error": "invalid_public_url", "code": exc.code, "message": message}
        return JSONResponse(body, status_code=422)
    return JSONResponse(_state(request, warning))
