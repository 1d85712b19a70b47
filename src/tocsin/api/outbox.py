"""REST: the outbox (delivery log) — list, show, retry a dead email, purge old sent mail."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status

from tocsin.api.auth import Principal, require_admin
from tocsin.http import services_of
from tocsin.outbox import Status
from tocsin.outbox.tracking import RemoteState
from tocsin.services.outbox import EmailNotFound

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/outbox", tags=["outbox"])
Admin = Annotated[Principal, require_admin]


def _plain(view: object) -> dict[str, Any]:
    data = dataclasses.asdict(view)  # type: ignore[call-overload]
    data.pop("content", None)
    data.pop("history", None)  # one email's detail (GET /outbox/<id>) lists the attempts
    return {k: (v.value if isinstance(v, Status) else v) for k, v in data.items()}


@router.get("")
def list_deliveries(
    request: Request,
    _: Admin,
    status_: Annotated[list[Status] | None, Query(alias="status")] = None,
    recipient: Annotated[str | None, Query(max_length=254)] = None,
    older_than: Annotated[float | None, Query(ge=0, description="age in seconds")] = None,
    newer_than: Annotated[float | None, Query(ge=0, description="age in seconds")] = None,
    remote: Annotated[
        list[RemoteState] | None,
        Query(description="the online service's later word: pending, delivered, bounced, ..."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Deliveries (one per email and recipient), newest first, with counts per status.

    A delivery the online service took carries ``remote``: what the service later said
    (``state``, ``detail``, ``code``, when it was asked and when it is asked next).
    """
    outbox = services_of(request).outbox
    rows = outbox.list(
        statuses=status_ or (),
        recipient=recipient,
        older_than=older_than,
        newer_than=newer_than,
        remote_states=remote or (),
        limit=limit,
    )
    counts = {s.value: n for s, n in outbox.counts().items()}
    remote_counts = {s.value: n for s, n in outbox.tracking_counts().items()}
    return {
        "counts": counts,
        "remote_counts": remote_counts,
        "deliveries": [_plain(r) for r in rows],
    }


@router.get("/{email_id}")
def show_email(request: Request, _: Admin, email_id: int) -> dict[str, Any]:
    """One email in full: each recipient's delivery (attempts, the last attempt's time,
    step and the server's answer, the next attempt, ``sent_at``), ``message_id``,
    ``headers`` (``[{"name", "value"}]``) and ``event_id`` (null for other mail)."""
    try:
        detail = services_of(request).outbox.detail(email_id)
    except EmailNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
    return detail.as_dict()


@router.post("/{email_id}/retry")
def retry_email(request: Request, _: Admin, email_id: int) -> dict[str, Any]:
    """Queue the email's dead and failed deliveries (and those the relay bounced) again."""
    try:
        count = services_of(request).outbox.retry(email_id)
    except EmailNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
    return {"queued": count}


@router.post("/purge")
def purge(
    request: Request,
    _: Admin,
    older_than_days: Annotated[float, Query(ge=0, le=3650)],
) -> dict[str, Any]:
    """Delete sent deliveries older than N days."""
    return {"purged": services_of(request).outbox.purge(older_than_days=older_than_days)}
