"""REST: the event intake (``POST /api/v1/events``), the event log, and purging old events.

The intake answers ``202 Accepted`` with the event ids only after the events and
their emails are committed.  Every refusal is JSON of one shape::

    {"error": "invalid_events", "message": "events[2].device: ...",
     "issues": [{"field": "events[2].device", "code": "field_unsafe", "level": "error",
                 "message": "..."}]}

400 malformed JSON, 401 no or a revoked token, 403 a token without the ``events``
scope, 409 a client event id reused for a different event, 413 a body over 1 MB,
422 any other bad field (nothing of the request is stored).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from tocsin.ack.model import AckVia
from tocsin.api.auth import Principal, admit, authenticate, require_admin, require_scope
from tocsin.http import services_of
from tocsin.http.threads import run_intake
from tocsin.services import retention
from tocsin.services.acknowledge import AckRefused
from tocsin.services.event_input import MAX_BATCH
from tocsin.services.events import ack_to_dict, event_to_dict
from tocsin.services.inputs import InputRefused, decode_json, refuse
from tocsin.services.sites import NotFound

__all__ = ["MAX_BODY", "read_body", "refused_response", "router"]

router = APIRouter(prefix="/api/v1/events", tags=["events"])
EventsCaller = Annotated[Principal, require_scope("events")]
Admin = Annotated[Principal, require_admin]

MAX_BODY = 1_000_000
"""Bytes: room for a full batch of ordinary events, not for a 1 MB free text."""

_STATUS_BY_CODE = {
    "malformed_json": 400,
    "json_duplicate_key": 400,
    "json_number_too_long": 400,
    "body_too_large": 413,
}


def refused_response(
    exc: InputRefused, language: str = "en", *, error: str = "invalid_input"
) -> JSONResponse:
    """The JSON answer to refused input: 400 / 413 for a bad body, 409 for a conflict
    with what is stored, else 422 (named ``error``)."""
    special = next((i.code for i in exc.issues if i.code in _STATUS_BY_CODE), None)
    if special is not None:
        status, name = _STATUS_BY_CODE[special], special
    elif exc.conflict:
        status, name = 409, "conflict"
    else:
        status, name = 422, error
    body = {"error": name, "message": str(exc), "issues": exc.as_dicts(language)}
    return JSONResponse(body, status_code=status)


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The body, at most ``limit`` bytes; raises :class:`InputRefused` beyond."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise refuse("body", "body_too_large", limit=limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:  # a chunked body without a length: count as it comes
            raise refuse("body", "body_too_large", limit=limit)
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "",
    status_code=202,
    responses={
        202: {"description": "accepted: stored with its emails"},
        400: {"description": "malformed JSON"},
        409: {"description": "a client event id reused for a different event"},
        413: {"description": f"body over {MAX_BODY} bytes, or over {MAX_BATCH} events"},
        422: {"description": "refused: field-named errors; nothing stored"},
    },
)
async def post_events(request: Request) -> JSONResponse:
    """Accept one event object, or ``{"events": [...]}`` (all or nothing).

    Fields: ``group``, ``device``, ``sensor``, ``category`` (armed, always, fire,
    sabotage, system), ``severity`` (alarm, warning), ``state`` (raised, cleared;
    default raised), ``value``, ``unit``, ``threshold``, ``text``, ``occurred_at``
    (ISO 8601 with zone; default now), ``client_event_id`` (makes retries
    idempotent), ``clears`` (the id of the raise a cleared event ends; default the
    open raise of the same group, device, sensor and category).
    """
    # The body (at most MAX_BODY) is read first, so that the caller's token is checked
    # and the events accepted in one trip to a worker thread, not two (issue 11); the
    # answers are those of checking the token first: 401/403/429 before anything else.
    try:
        body = await read_body(request)
    except InputRefused as exc:
        principal = await run_intake(_events_caller, request)
        return refused_response(exc, principal.language, error="invalid_events")
    return await run_intake(_accept_events, request, body)


def _events_caller(request: Request) -> Principal:
    """The caller if it may post events (401, 403 or 429 otherwise)."""
    return admit(authenticate(request), "events")


def _accept_events(request: Request, body: bytes) -> JSONResponse:
    """Check the caller, then decode and accept ``body``: blocking, on a worker thread."""
    principal = _events_caller(request)
    try:
        accepted = services_of(request).events.submit(decode_json(body))
    except InputRefused as exc:
        return refused_response(exc, principal.language, error="invalid_events")
    answer = {"ids": [a.id for a in accepted], "events": [a.as_dict() for a in accepted]}
    return JSONResponse(answer, status_code=202)


@router.get("")
def list_events(
    request: Request,
    principal: Admin,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Annotated[float | None, Query(description="received before (epoch seconds)")] = None,
) -> dict[str, Any]:
    """The newest events with their notifications, newest first.

    ``next`` is the ``before`` of the following page (None on the last one).
    """
    records = services_of(request).events.recent(limit=limit, before=before)
    last = records[-1].stored.received_at if len(records) == limit else None
    return {"events": [event_to_dict(r) for r in records], "next": last}


@router.post(
    "/purge",
    responses={422: {"description": "older_than_days is not a whole number from 1 to 3650"}},
)
def purge_events(
    request: Request,
    principal: Admin,
    older_than_days: Annotated[
        str | None, Query(description="1 to 3650 (default: the retention period)")
    ] = None,
    dry_run: Annotated[bool, Query(description="only count what would go")] = False,
) -> JSONResponse:
    """Delete events received more than N days ago with their notifications, in batches.

    Active alarms, and events a pending email or summary still needs, stay.  Answers
    the counts: ``events``, ``notifications``, ``kept`` (old but still needed).
    """
    store = services_of(request).store
    try:
        report = retention.purge_events(store, older_than_days=older_than_days, dry_run=dry_run)
    except InputRefused as exc:
        return refused_response(exc, principal.language)
    return JSONResponse(report.as_dict())


@router.get("/{event_id}", responses={404: {"description": "no such event"}})
def get_event(request: Request, principal: Admin, event_id: str) -> JSONResponse:
    """One event with its notifications."""
    record = services_of(request).events.get(event_id)
    if record is None:
        return JSONResponse(
            {"error": "not_found", "message": f"there is no event with the id '{event_id}'"},
            status_code=404,
        )
    return JSONResponse(event_to_dict(record))


def _caller_name(principal: Principal) -> str:
    if principal.session is not None:
        return principal.session.admin.username
    return f"API: {principal.token.name}" if principal.token else "API"


@router.post(
    "/{event_id}/ack",
    responses={
        200: {"description": "acknowledged (or it was already: ``new`` false)"},
        404: {"description": "no such event"},
        409: {"description": "not an open alarm (a warning, a clear, or cleared since)"},
        422: {"description": "a bad ``by``"},
    },
)
async def ack_event(request: Request, principal: EventsCaller, event_id: str) -> JSONResponse:
    """Acknowledge an open alarm (issue 13).  Body (optional): ``{"by": "Anna"}``.

    Idempotent: a second acknowledgement answers the first one with ``new`` false and
    sends nothing.  The others who were emailed get one short threaded note.
    """
    by = _caller_name(principal)
    try:
        raw = await read_body(request)
        body = decode_json(raw) if raw.strip() else None
    except InputRefused as exc:
        return refused_response(exc, principal.language)
    if body is not None:
        given = body.get("by") if isinstance(body, dict) else None
        if (isinstance(body, dict) and set(body) - {"by"}) or (
            given is not None and (not isinstance(given, str) or not given.strip())
        ):
            return JSONResponse(
                {"error": "invalid_input", "message": 'the body may only be {"by": "<name>"}'},
                status_code=422,
            )
        by = given or by
    services = services_of(request)
    try:
        outcome = await run_in_threadpool(
            services.acks.acknowledge, event_id, by=by, via=AckVia.API
        )
    except NotFound:
        return JSONResponse(
            {"error": "not_found", "message": f"there is no event with the id '{event_id}'"},
            status_code=404,
        )
    except AckRefused as exc:
        message = {
            "not_alarm": "only a raised alarm can be acknowledged",
            "cleared": "this alarm was cleared already",
        }[exc.code]
        return JSONResponse({"error": exc.code, "message": message}, status_code=409)
    answer = ack_to_dict(outcome.ack) or {}
    return JSONResponse(
        answer | {"event": event_id, "new": outcome.new, "notices": outcome.notices}
    )
