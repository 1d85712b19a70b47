"""The relay's HTTP API: devices submit messages and read their delivery status.

::

    GET  /healthz                  liveness (no authentication)
    GET  /v1/device                who am I: the device's name and policy
    POST /v1/messages              submit: application/json (structured) or
                                   message/rfc822 (raw; ?mail_from=&rcpt_to=&rcpt_to=)
                                   → 202 {"id", "message_id", "status_url"}
    GET  /v1/messages/{id}         each recipient's status: queued, sending, sent,
                                   failed (permanent, with the reason), dead

Every request but /healthz carries ``Authorization: Bearer <device credential>``.
Refusals: 401 (unknown or revoked credential), 403 (sender not allowed), 413 (too
large), 422 (not a message), 429 with ``Retry-After`` (quota).  An ``Idempotency-Key``
header makes a retried submission return the first one instead of a second email.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from tocsin import __version__
from tocsin.relay.errors import InvalidSubmission, MessageTooLarge, NotAuthenticated, RelayRefused
from tocsin.relay.policy import MAX_MESSAGE_SIZE
from tocsin.relay.records import Accepted, Device, SubmissionStatus
from tocsin.relay.service import Envelope, RelayService
from tocsin.services.inputs import InputRefused, decode_json

__all__ = ["create_relay_app"]

_RAW_TYPES = ("message/rfc822", "application/octet-stream")
_STATUS_PATH = "/v1/messages/{public_id}"


class StructuredMessage(BaseModel):
    """A message from its parts; the relay renders it like every Tocsin email."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    sender: str = Field(alias="from", max_length=254)
    to: list[str] = Field(min_length=1, max_length=1000)
    subject: str = Field(max_length=900)
    text: str
    html: str | None = None
    sender_name: str = Field(default="", max_length=100)
    headers: dict[str, str] = Field(default_factory=dict)


def _service(request: Request) -> RelayService:
    service: RelayService = request.app.state.relay
    return service


def _credential(request: Request) -> tuple[str, str]:
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise NotAuthenticated("send 'Authorization: Bearer <device credential>'")
    return credential.strip(), request.client.host if request.client else ""


async def _device(request: Request) -> Device:
    credential, client = _credential(request)
    return await run_in_threadpool(_service(request).authenticate, credential, client=client)


async def _submitter(request: Request) -> Device:
    """The device, without a store read when it was authenticated a moment ago (its
    submission's transaction checks the revocation anyway)."""
    credential, client = _credential(request)
    service = _service(request)
    recent = service.recent_submitter(credential, client=client)
    if recent is not None:
        return recent
    return await run_in_threadpool(service.authenticate, credential, client=client)


CurrentDevice = Annotated[Device, Depends(_device)]
Submitter = Annotated[Device, Depends(_submitter)]


async def _body(request: Request) -> bytes:
    declared = request.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_MESSAGE_SIZE:
        raise MessageTooLarge(f"the relay takes at most {MAX_MESSAGE_SIZE} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_MESSAGE_SIZE:
            raise MessageTooLarge(f"the relay takes at most {MAX_MESSAGE_SIZE} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _refused(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RelayRefused)
    headers: dict[str, str] = {}
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="tocsin-relay"'
    retry_after = getattr(exc, "retry_after_header", None)
    if isinstance(retry_after, str):
        headers["Retry-After"] = retry_after
    return JSONResponse(
        {"error": exc.code, "message": str(exc)}, status_code=exc.status, headers=headers
    )


def _accepted(request: Request, accepted: Accepted) -> JSONResponse:
    # What url_for gives, without its walk over the routes (public ids are URL-safe).
    url = request.scope.get("root_path", "") + _STATUS_PATH.format(public_id=accepted.public_id)
    return JSONResponse(
        {
            "id": accepted.public_id,
            "message_id": accepted.message_id,
            "status_url": url,
            "duplicate": accepted.duplicate,
        },
        status_code=status.HTTP_202_ACCEPTED,
        headers={"Location": url},
    )


def _status_body(found: SubmissionStatus) -> dict[str, Any]:
    recipients = [
        {
            "recipient": r.recipient,
            "status": r.status.value,
            "attempts": r.attempts,
            "step": r.step,
            "reason": r.reason,
            "error": r.error,
            "code": r.code,
            "server_reply": r.server_reply,
            "updated_at": r.updated_at,
        }
        for r in found.recipients
    ]
    return {
        "id": found.public_id,
        "message_id": found.message_id,
        "created_at": found.created_at,
        "recipients": recipients,
    }


def create_relay_app(service: RelayService) -> FastAPI:
    """The relay's ASGI application over ``service`` (opened and closed by the caller)."""
    app = FastAPI(title="Tocsin relay", version=__version__, docs_url=None, redoc_url=None)
    app.state.relay = service
    app.add_exception_handler(RelayRefused, _refused)

    @app.get("/healthz")
    def health() -> dict[str, str]:
        """Liveness (unauthenticated by design)."""
        return {"status": "ok", "version": __version__}

    @app.get("/v1/device")
    def whoami(device: CurrentDevice) -> dict[str, Any]:
        """The calling device and its policy (the appliance's enrolment reads this)."""
        policy = device.policy
        return {
            "name": device.name,
            "senders": list(policy.senders),
            "max_size": policy.max_size,
            "quota_per_hour": policy.quota_per_hour,
            "burst": policy.burst,
            "relay_domain": service.config.domain,
        }

    @app.post("/v1/messages", status_code=202)
    async def submit(request: Request, device: Submitter) -> JSONResponse:
        """Store a message for delivery; 202 once it is on disk."""
        body = await _body(request)
        key = request.headers.get("Idempotency-Key") or None
        kind = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if kind == "application/json":
            accepted = await run_in_threadpool(_structured, service, device, body, key)
        elif kind in _RAW_TYPES:
            envelope = Envelope(
                request.query_params.get("mail_from", ""),
                tuple(request.query_params.getlist("rcpt_to")),
            )
            accepted = await run_in_threadpool(
                lambda: service.submit(device, envelope, body, idempotency_key=key)
            )
        else:
            raise HTTPException(
                status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                detail="send application/json or message/rfc822",
            )
        return _accepted(request, accepted)

    @app.get(_STATUS_PATH, name="message_status")
    def message_status(public_id: str, device: CurrentDevice) -> dict[str, Any]:
        """Each recipient's status; 404 for an id this device did not submit."""
        found = service.status(device, public_id)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such message")
        return _status_body(found)

    return app


def _structured(service: RelayService, device: Device, body: bytes, key: str | None) -> Accepted:
    try:
        # The same strict reading as the local API: no key twice, no endless number.
        message = StructuredMessage.model_validate(decode_json(body))
    except InputRefused as exc:
        raise InvalidSubmission(f"invalid JSON message: {exc.issues[0].text('en')}") from None
    except ValidationError as exc:
        raise InvalidSubmission(f"invalid JSON message: {exc.errors()[0]['msg']}") from None
    return service.submit_structured(
        device,
        sender=message.sender,
        to=message.to,
        subject=message.subject,
        text=message.text,
        html=message.html,
        sender_name=message.sender_name,
        headers=message.headers,
        idempotency_key=key,
    )
