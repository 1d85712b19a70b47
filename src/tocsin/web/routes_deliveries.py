"""The delivery log: the outbox, filtered by status, the online service's later word
or recipient; retry a dead, failed or bounced email."""

from __future__ import annotations

import re
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request, Response

from tocsin.http import services_of
from tocsin.outbox import DeliveryView, Status
from tocsin.outbox.tracking import RETRYABLE_REMOTE, RemoteState
from tocsin.services.outbox import EmailNotFound
from tocsin.store import TestEmailRun
from tocsin.web.form_pages import admin_form
from tocsin.web.render import redirect, render
from tocsin.web.routes_auth import to_login
from tocsin.web.session import current_session, language_of
from tocsin.web.texts import has_text
from tocsin.web.zones import page_zone, when

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
PATH = "/deliveries"
LIMIT: Final = 200
RETRYABLE: Final = frozenset({Status.DEAD, Status.FAILED})
_FILTERS: Final = ("status", "remote", "recipient")


# An alarm email's Message-ID is <event id>.<16 hex digits>@domain (tocsin.model.email_id).
_EVENT_MESSAGE_ID: Final = re.compile(r"<([A-Za-z0-9_-]{1,64})\.[0-9a-f]{16}@")


def _row(view: DeliveryView, zone: str) -> dict[str, Any]:
    remote = view.remote
    found = _EVENT_MESSAGE_ID.match(view.message_id)
    lost = remote is not None and remote.state in RETRYABLE_REMOTE
    return {
        "email_id": view.email_id,
        "event": found.group(1) if found else "",
        "recipient": view.recipient,
        "subject": view.subject,
        "status": view.status.value,
        "attempts": view.attempts,
        "reason": view.last_reason,
        "reason_key": f"reason_{view.last_reason}"
        if has_text(f"reason_{view.last_reason}")
        else "",
        "step": view.last_step,
        "server_reply": view.server_reply or view.last_error,
        "created": when(view.created_at, zone),
        "next": when(view.next_attempt_at, zone, short=True)
        if view.status is Status.QUEUED
        else "",
        "retryable": view.status in RETRYABLE or lost,
        "remote": remote.state.value if remote else "",
        "remote_said": remote.said if remote else "",
        "remote_checked": when(remote.checked_at, zone, short=True) if remote else "",
    }


def _filters(request: Request) -> tuple[Status | None, RemoteState | None, str]:
    raw = request.query_params.get("status", "")
    status = Status(raw) if raw in {s.value for s in Status} else None
    raw = request.query_params.get("remote", "")
    remote = RemoteState(raw) if raw in {s.value for s in RemoteState} else None
    recipient = request.query_params.get("recipient", "").strip()[:254]
    return status, remote, recipient


def _test_row(run: TestEmailRun, zone: str) -> dict[str, Any]:
    return {
        "sent": when(run.sent_at, zone),
        "recipient": run.recipient,
        "typed": run.typed,
        "ok": run.ok,
        "step": run.step,
        "step_key": f"step_{run.step}" if run.step and has_text(f"step_{run.step}") else "",
        "detail": run.detail,
    }


@router.get(PATH)
def deliveries(request: Request) -> Response:
    """The newest deliveries, with counts per status."""
    session = current_session(request)
    if session is None:
        return to_login(request)
    services = services_of(request)
    outbox = services.outbox
    status, remote, recipient = _filters(request)
    raw_email = request.query_params.get("email", "")
    email = int(raw_email) if raw_email.isdigit() and len(raw_email) < 19 else None
    views = outbox.list(
        statuses=(status,) if status else (),
        remote_states=(remote,) if remote else (),
        recipient=recipient,
        email_id=email,
        limit=LIMIT,
    )
    counts = outbox.counts()
    remote_counts = outbox.tracking_counts()
    retried = request.query_params.get("retried", "")
    zone = page_zone(request)
    return render(
        request,
        "deliveries.html",
        language=language_of(request, session),
        session=session,
        active="deliveries",
        rows=[_row(v, zone) for v in views],
        tests=[_test_row(r, zone) for r in services.store.list_test_emails()],
        zone=zone,
        limit=LIMIT,
        statuses=[s.value for s in Status],
        counts={s.value: counts.get(s, 0) for s in Status},
        status=status.value if status else "",
        # The online service's chips only once it took any mail (or one is chosen).
        remote_counts={s.value: n for s, n in remote_counts.items()}
        if any(remote_counts.values()) or remote
        else {},
        remote=remote.value if remote else "",
        recipient=recipient,
        email=email,
        query=urlencode(
            {
                k: v
                for k, v in (
                    ("status", status or ""),
                    ("remote", remote or ""),
                    ("recipient", recipient),
                )
                if v
            }
        ),
        retried=int(retried) if retried.isdigit() else None,
        gone=request.query_params.get("gone") == "1",
    )


@router.post(PATH + "/{email_id}/retry")
async def retry(request: Request, email_id: int) -> Response:
    """Queue a dead or failed email again, then back to the log as it was filtered."""
    checked = await admin_form(request)
    if isinstance(checked, Response):
        return checked
    _, form = checked
    # Back to the list as it was filtered: only the known filter names survive.
    kept = [(k, v) for k, v in parse_qsl(form.get("back", "")) if k in _FILTERS]
    try:
        count = services_of(request).outbox.retry(email_id)
    except EmailNotFound:
        return redirect(f"{PATH}?{urlencode([*kept, ('gone', '1')])}")
    return redirect(f"{PATH}?{urlencode([*kept, ('retried', str(count))])}")
