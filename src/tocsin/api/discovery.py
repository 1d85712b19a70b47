"""REST: the provider presets, and settings found from a sender address (nothing saved)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field

from tocsin.address import InvalidAddress
from tocsin.api.auth import Principal, answer_language, require_admin
from tocsin.api.json_route import StrictJSONRoute
from tocsin.providers.discovery import Discovery
from tocsin.providers.presets import presets

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/settings", tags=["settings"], route_class=StrictJSONRoute)
Admin = Annotated[Principal, require_admin]


@router.get("/presets")
def list_presets(request: Request, principal: Admin) -> dict[str, Any]:
    """The provider presets, "other" last; ``needs`` says what else each one needs."""
    language = answer_language(request, principal)
    return {"presets": [item.as_dict(language) for item in presets()]}


class DiscoverRequest(BaseModel):
    """Whose settings to find."""

    model_config = ConfigDict(extra="forbid")

    address: str = Field(max_length=254, description="the sender address")


@router.post("/discover", responses={422: {"description": "not an email address"}})
async def discover_settings(
    request: Request, principal: Admin, body: DiscoverRequest
) -> dict[str, Any]:
    """Look up settings for the sender address: autoconfig, DNS SRV, MX, known domains.

    Answers within a few seconds with proposals (best first, each with its source) and
    what every source gave; ``found`` is false when there is nothing.  Saves nothing.
    At most 20 lookups a minute (429 with Retry-After beyond).
    """
    language = answer_language(request, principal)
    limiter = request.app.state.discover_limiter
    wait = limiter.retry_after("discover")
    if wait > 0:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"too many lookups; try again in {int(wait) + 1} s",
            headers={"Retry-After": str(int(wait) + 1)},
        )
    limiter.failed("discover")  # every lookup counts: each asks other people's servers
    discovery: Discovery = request.app.state.discovery
    try:
        found = await discovery.discover(body.address)
    except InvalidAddress as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=[{"field": "address", "message": exc.text(language)}],
        ) from None
    return found.as_dict(language)
