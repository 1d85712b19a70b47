"""The delivery log's detail view of one email: ``/deliveries/<id>``.

Each recipient's delivery (state, attempts, the last attempt's time, step and the
server's answer, the next attempt, when it was sent, the online service's later
word), each attempt in a list (time, verdict, step, answer, link: the newest 20), the
Message-ID and headers, and a link to the event the email is about.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from tocsin.http import services_of
from tocsin.outbox import ATTEMPTS_KEPT, DeliveryAttempt, DeliveryView, Status
from tocsin.services.email_detail import EmailDetail, sent_at
from tocsin.services.outbox import EmailNotFound
from tocsin.web.guard import not_found
from tocsin.web.render import render
from tocsin.web.routes_auth import to_login
from tocsin.web.session import current_session, language_of
from tocsin.web.texts import has_text
from tocsin.web.zones import page_zone, when

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
RETRYABLE = frozenset({Status.DEAD, Status.FAILED})


def _attempt(attempt: DeliveryAttempt, zone: str) -> dict[str, Any]:
    reason_key = f"reason_{attempt.reason}"
    return {
        "number": attempt.attempt,
        "at": when(attempt.at, zone),
        "status": attempt.status.value,
        "step": attempt.step,
        "reason": attempt.reason,
        "reason_key": reason_key if attempt.reason and has_text(reason_key) else "",
        "answer": attempt.answer,
        # The failover chain's link: "primary", or the backup link's number.
        "link": attempt.link.removeprefix("backup-"),
    }


def _delivery(view: DeliveryView, zone: str) -> dict[str, Any]:
    remote = view.remote
    reason_key = f"reason_{view.last_reason}"
    return {
        "recipient": view.recipient,
        "status": view.status.value,
        "attempts": view.attempts,
        "queued": when(view.queued_at, zone),
        "last_attempt": when(view.updated_at, zone) if view.attempts else "",
        "sent": when(sent_at(view), zone),
        "next": when(view.next_attempt_at, zone)
        if view.status in (Status.QUEUED, Status.SENDING)
        else "",
        "step": view.last_step,
        "reason": view.last_reason,
        "reason_key": reason_key if view.last_reason and has_text(reason_key) else "",
        "error": view.last_error,
        "code": view.last_code,
        "server_reply": view.server_reply,
        "remote": remote.state.value if remote else "",
        "remote_said": remote.said if remote else "",
        "remote_checked": when(remote.checked_at, zone) if remote else "",
        "retryable": view.status in RETRYABLE,
        "history": [_attempt(a, zone) for a in reversed(view.history)],
    }


def _email(detail: EmailDetail, zone: str) -> dict[str, Any]:
    view = detail.email
    return {
        "id": view.id,
        "message_id": view.message_id,
        "subject": view.subject,
        "sender": view.sender,
        "size": view.size,
        "created": when(view.created_at, zone),
        "event": detail.event_id,
        "headers": detail.headers,
        "deliveries": [_delivery(d, zone) for d in view.deliveries],
    }


@router.get("/deliveries/{email_id}")
def delivery_detail(request: Request, email_id: int) -> Response:
    """One email of the delivery log in full."""
    session = current_session(request)
    if session is None:
        return to_login(request)
    try:
        detail = services_of(request).outbox.detail(email_id)
    except EmailNotFound:
        return not_found(request, session)
    zone = page_zone(request)
    return render(
        request,
        "delivery.html",
        language=language_of(request, session),
        session=session,
        active="deliveries",
        email=_email(detail, zone),
        zone=zone,
        keep=ATTEMPTS_KEPT,
    )
