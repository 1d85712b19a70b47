"""REST: the webhook ways in (Alertmanager, Grafana) and their label mapping.

``POST /api/v1/intake/alertmanager`` and ``POST /api/v1/intake/grafana`` take the
sender's webhook payload with an API token of the ``events`` scope as Bearer (as
Alertmanager's ``http_config.authorization`` and Grafana's contact point send it).
They answer ``202`` with one result per alert only after the commit, in the
intake's refusal shape otherwise (400 malformed JSON, 401 no or a revoked token,
403 a token without the scope, 413 too large, 422 a bad field — nothing stored).
Alertmanager retries a 5xx, never a 4xx: a refused payload is in its log.

``GET|PATCH|PUT /api/v1/intake/mapping`` (admins) read and change the label mapping.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse

from tocsin.api.auth import Principal, require_admin, require_scope
from tocsin.api.events import read_body, refused_response
from tocsin.api.json_route import StrictJSONRoute
from tocsin.http import services_of
from tocsin.http.threads import run_intake
from tocsin.intake.alertmanager import parse_alertmanager
from tocsin.intake.alerts import MAX_ALERTS, ForeignAlert
from tocsin.intake.grafana import parse_grafana
from tocsin.services.inputs import InputRefused, decode_json
from tocsin.services.webhooks import mapping_answer

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/intake", tags=["intake"], route_class=StrictJSONRoute)
EventsCaller = Annotated[Principal, require_scope("events")]
Admin = Annotated[Principal, require_admin]

MAX_BODY = 10_000_000
"""Bytes: Alertmanager sends a whole alert group at once (a power cut: thousands)."""

_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"description": "accepted: every alert stored with its emails"},
    400: {"description": "malformed JSON"},
    401: {"description": "no API token, or an unknown or revoked one"},
    403: {"description": "the token lacks the 'events' scope"},
    413: {"description": f"body over {MAX_BODY} bytes, or over {MAX_ALERTS} alerts"},
    422: {"description": "refused: field-named errors; nothing stored"},
}


async def _take(
    request: Request,
    principal: Principal,
    parse: Callable[[object], Sequence[ForeignAlert]],
) -> JSONResponse:
    try:
        payload = decode_json(await read_body(request, MAX_BODY))
        webhooks = services_of(request).webhooks
        results = await run_intake(webhooks.accept, parse, payload)
    except InputRefused as exc:
        return refused_response(exc, principal.language, error="invalid_alerts")
    events = [r.as_dict() for r in results]
    return JSONResponse({"ids": [e["id"] for e in events], "events": events}, status_code=202)


@router.post("/alertmanager", status_code=202, responses=_RESPONSES)
async def post_alertmanager(request: Request, principal: EventsCaller) -> JSONResponse:
    """Alertmanager's webhook payload (version 4): each alert one event, all or none.

    A firing alert raises an event, a resolved one clears it (threaded with it); a
    repeated notification is answered with the stored events (``duplicate``).
    """
    return await _take(request, principal, parse_alertmanager)


@router.post("/grafana", status_code=202, responses=_RESPONSES)
async def post_grafana(request: Request, principal: EventsCaller) -> JSONResponse:
    """Grafana's webhook contact point payload: as Alertmanager's, plus the reading."""
    return await _take(request, principal, parse_grafana)


@router.get("/mapping")
def read_mapping(request: Request, principal: Admin) -> dict[str, Any]:
    """The label mapping: per event field the label / annotation names looked up."""
    return dict(mapping_answer(services_of(request).webhooks.mapping.load()))


@router.patch("/mapping", responses={422: {"description": "refused: field-named errors"}})
def change_mapping(
    request: Request,
    principal: Admin,
    changes: Annotated[dict[str, Any], Body(description="the fields to change")],
) -> JSONResponse:
    """Change the fields given; the others stay."""
    try:
        mapping = services_of(request).webhooks.mapping.update(changes)
    except InputRefused as exc:
        return refused_response(exc, principal.language, error="invalid_mapping")
    return JSONResponse(dict(mapping_answer(mapping)))


@router.put("/mapping", responses={422: {"description": "refused: field-named errors"}})
def replace_mapping(
    request: Request,
    principal: Admin,
    mapping: Annotated[dict[str, Any], Body(description="the whole mapping ({} = defaults)")],
) -> JSONResponse:
    """Replace the mapping: fields left out take their defaults."""
    service = services_of(request).webhooks.mapping
    try:
        checked = service.check(mapping, whole=True)
    except InputRefused as exc:
        return refused_response(exc, principal.language, error="invalid_mapping")
    service.save(checked)
    return JSONResponse(dict(mapping_answer(checked)))
