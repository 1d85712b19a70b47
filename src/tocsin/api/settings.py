"""REST: read and change the email settings; send a test email with live steps."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Request, status
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from tocsin.address import InvalidAddress, parse_address
from tocsin.api.auth import Principal, answer_language, require_admin
from tocsin.api.json_route import StrictJSONRoute
from tocsin.errors import ConfigError, DeliveryError, SignInFailed
from tocsin.http import services_of
from tocsin.i18n import translate
from tocsin.services.oauth_signin import browser_is_elsewhere, browser_sign_in, device_sign_in
from tocsin.services.test_email import TestEmailRefused, send_test_email
from tocsin.services.test_email_limit import TestEmailLimit, wait_in_words
from tocsin.settings import OAuthFlow, validate
from tocsin.signin import DeviceCode
from tocsin.transports.diagnostics import CheckStep

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/settings", tags=["settings"], route_class=StrictJSONRoute)
Admin = Annotated[Principal, require_admin]


@router.get("")
def read_settings(request: Request, principal: Admin) -> dict[str, Any]:
    """The settings (password only as ``password_set``) and the current advice."""
    settings = services_of(request).settings.load()
    return {
        "settings": settings.public(),
        "issues": validate(settings).as_dicts(answer_language(request, principal)),
    }


@router.patch("", responses={422: {"description": "refused: field-named errors"}})
def change_settings(
    request: Request,
    principal: Admin,
    changes: Annotated[
        dict[str, Any],
        Body(description="fields to change; password: a string sets it, null clears it"),
    ],
) -> JSONResponse:
    """Change settings as a whole: refused with field-named errors, or saved with advice."""
    language = answer_language(request, principal)
    updated, report, saved = services_of(request).settings.update(changes)
    body = {"saved": saved, "settings": updated.public(), "issues": report.as_dicts(language)}
    return JSONResponse(body, status_code=200 if saved else 422)


class TestEmailRequest(BaseModel):
    """Where to send the test email, and optionally the settings to try."""

    to: str = Field(max_length=254)
    settings: dict[str, Any] | None = Field(
        default=None,
        description=(
            "settings to try instead of the saved ones, as for PATCH (fields left out keep "
            "their saved value; a password left out is the saved one); validated like a "
            "save, never stored, the password never echoed"
        ),
    )
    link: int = Field(
        default=0,
        ge=0,
        le=3,
        description="the link of the failover chain to test: 0 the primary, 1 the first backup",
    )


@router.get("/failover")
def read_failover(request: Request, principal: Admin) -> dict[str, Any]:
    """The failover chain: the policy and the backup links (secrets only as ``*_set``)."""
    chain = services_of(request).failover.load()
    return {"failover": chain.public()}


@router.patch("/failover", responses={422: {"description": "refused: field-named errors"}})
def change_failover(
    request: Request,
    principal: Admin,
    changes: Annotated[
        dict[str, Any],
        Body(
            description=(
                "policy fields to change (enabled, after_failures, after_seconds, "
                "warnings_follow, system_follow, probe_interval) and links: a list of "
                "per-link changes, as for PATCH /settings (entry n changes backup link n+1; "
                "a password left out is kept; a shorter list removes the links past its end)"
            )
        ),
    ],
) -> JSONResponse:
    """Change the failover chain: refused with field-named errors, or saved with advice."""
    language = answer_language(request, principal)
    updated, report, saved = services_of(request).failover.update(changes)
    body = {"saved": saved, "failover": updated.public(), "issues": report.as_dicts(language)}
    return JSONResponse(body, status_code=200 if saved else 422)


@router.post("/test-email")
async def test_email(
    request: Request, principal: Admin, body: TestEmailRequest
) -> StreamingResponse:
    """Send a test email; the answer streams one JSON line per step, then the report.

    Without ``settings`` the saved settings are tested; with them, the saved settings
    as those changes would make them, and nothing is saved.
    """
    language = answer_language(request, principal)
    try:
        parse_address(body.to)
    except InvalidAddress as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=[{"field": "to", "message": exc.text(language)}],
        ) from None
    limit: TestEmailLimit = request.app.state.test_email_limiter
    wait = limit.begin(body.to)
    if wait > 0:
        words = wait_in_words(wait, language)
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=translate("test_limited", language, wait=words),
            headers={"Retry-After": str(math.ceil(wait))},
        )
    return StreamingResponse(
        _run(request, body.to, language, body.settings, body.link),
        media_type="application/x-ndjson",
    )


async def _run(
    request: Request, to: str, language: str, changes: dict[str, Any] | None, link: int = 0
) -> AsyncIterator[bytes]:
    queue: asyncio.Queue[CheckStep | None] = asyncio.Queue()
    services = services_of(request)

    limit: TestEmailLimit = request.app.state.test_email_limiter

    async def work() -> dict[str, Any]:
        sent = False
        try:
            report = await send_test_email(
                services,
                to,
                language=language,
                progress=queue.put_nowait,
                changes=changes,
                link=link,
            )
            sent = report.ok
            return {"type": "report", **report.as_dict()}
        except TestEmailRefused as exc:
            return {"type": "refused", "message": str(exc), "issues": exc.report.as_dicts(language)}
        finally:
            limit.end(to, sent=sent)  # only a delivered test counts against the recipient
            queue.put_nowait(None)

    task = asyncio.create_task(work())
    # A client that goes away (the page's cancel button) ends the conversation at once,
    # not at the next step: the SMTP session is aborted with the task.
    watcher = asyncio.create_task(_cancel_on_disconnect(request, task))
    try:
        while (step := await queue.get()) is not None:
            yield (json.dumps({"type": "step", **step.as_dict()}) + "\n").encode()
        yield (json.dumps(await task) + "\n").encode()
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()


async def _cancel_on_disconnect(request: Request, task: asyncio.Task[Any]) -> None:
    while not task.done():
        message = await request.receive()
        if message["type"] == "http.disconnect":
            task.cancel()
            return


@router.post("/oauth/sign-in")
async def oauth_sign_in(request: Request, principal: Admin) -> StreamingResponse:
    """Sign in the mailbox of the saved settings with the device code or browser flow.

    Streams JSON lines: ``{"type": "code", "user_code", "verification_uri",
    "expires_in"}`` as soon as the provider gave the code (device code), or ``{"type":
    "link", "url"}``, the address to open in a browser on this machine (loopback flow;
    ``elsewhere`` with a ``message`` instead when the browser is on another machine, as
    the redirect to 127.0.0.1 could not reach Tocsin), then one of ``signed_in``
    (``mailbox``; the refresh token is stored encrypted and never returned),
    ``not_ready`` (``issues`` by field) or ``failed`` (``message``, in the admin's
    language).  Leaving (closing the request) stops the waiting.
    """
    language = answer_language(request, principal)
    return StreamingResponse(_sign_in(request, language), media_type="application/x-ndjson")


async def _sign_in(request: Request, language: str) -> AsyncIterator[bytes]:
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
    services = services_of(request)

    def show(code: DeviceCode) -> None:
        queue.put_nowait(
            {
                "type": "code",
                "user_code": code.user_code,
                "verification_uri": code.verification_uri,
                "expires_in": round(code.expires_in),
            }
        )

    def show_url(url: str) -> None:
        queue.put_nowait({"type": "link", "url": url})

    client = request.client.host if request.client else None
    elsewhere = browser_is_elsewhere(client, request.url.hostname)

    async def work() -> dict[str, Any]:
        try:
            if services.settings.load().oauth_flow is OAuthFlow.LOOPBACK:
                if elsewhere:
                    text = translate("oauth_sign_in_elsewhere", language)
                    return {"type": "elsewhere", "message": text}
                mailbox = await browser_sign_in(services, show=show_url)
            else:
                mailbox = await device_sign_in(services, show=show)
            text = translate("oauth_signed_in", language, mailbox=mailbox)
            return {"type": "signed_in", "mailbox": mailbox, "message": text}
        except ConfigError as exc:
            issues = [issue.as_dict(language) for issue in exc.issues]
            text = translate("oauth_sign_in_not_ready", language)
            return {"type": "not_ready", "message": text, "issues": issues}
        except SignInFailed as exc:
            text = translate(f"oauth_sign_in_{exc.code}", language)
            if exc.hint:
                text += " " + translate(f"oauth_hint_{exc.hint}", language)
            return {"type": "failed", "code": exc.code, "message": text}
        except DeliveryError:
            text = translate("oauth_sign_in_unreachable", language)
            return {"type": "failed", "code": "unreachable", "message": text}
        finally:
            queue.put_nowait(None)

    task = asyncio.create_task(work())
    watcher = asyncio.create_task(_cancel_on_disconnect(request, task))
    try:
        while (line := await queue.get()) is not None:
            yield (json.dumps(line) + "\n").encode()
        yield (json.dumps(await task) + "\n").encode()
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
