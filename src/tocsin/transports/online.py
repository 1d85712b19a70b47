"""The online-service transport: hand mail to the hosted relay over HTTPS.

The appliance's outbox sends through this like through SMTP; the relay answers 202
once the message is on its disk, and delivers it (DKIM-signed, STARTTLS required).
The link is HTTPS with the relay's certificate verified (the system store, or the
settings' ``ca_file``); plain ``http://`` is refused except to a loopback address.

HTTP answers map onto the error tree by one table (:func:`error_for_status`)::

    202            every recipient accepted (the relay's id in the server reply)
    401            AuthFailed          the device credential is wrong or revoked
    403            SenderRejected      the device may not send from this address
    404            ServerRejected      the URL is not a Tocsin relay
    413, 400, 422  MessageRejected     this message can never be relayed
    408, 429, 5xx  RelayBusy           try later, honouring Retry-After (.retry_after)

An ``Idempotency-Key`` (Message-ID and recipients) makes a retry after a lost answer
return the first submission instead of sending the email twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import ssl
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Final

import httpx

from tocsin.errors import (
    AuthFailed,
    ConfigError,
    ConnectFailed,
    DeliveryError,
    DeliveryTimeout,
    MessageRejected,
    Reason,
    SenderRejected,
    ServerBusy,
    ServerRejected,
    Step,
    TLSFailed,
)
from tocsin.message import Mail
from tocsin.settings import EmailSettings, relay_url_problem
from tocsin.tlsinfo import make_tls_context
from tocsin.transports.base import DeliveryResult, Outcome, RecipientResult

__all__ = [
    "DeviceInfo",
    "OnlineTransport",
    "RelayBusy",
    "error_for_status",
    "fetch_device",
    "map_http_error",
    "relay_tls_context",
]

USER_AGENT: Final = "tocsin-online/1"


class RelayBusy(ServerBusy):
    """The relay asked to come back later (408, 429, 5xx); ``retry_after`` in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


def _retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def error_for_status(
    status: int, body: Mapping[str, Any], retry_after: str | None, *, step: Step = Step.RELAY
) -> DeliveryError:
    """The error for a non-2xx answer of the relay (the one HTTP table, tested directly)."""
    said = str(body.get("message") or body.get("detail") or body.get("error") or "")
    kw: dict[str, Any] = {"code": status, "server_message": said}
    if status == 401:
        return AuthFailed(
            "the relay refused the device credential",
            step=Step.AUTH,
            reason=Reason.AUTH_FAILED,
            **kw,
        )
    if status == 403:
        return SenderRejected(
            "the relay refused the sender for this device",
            step=step,
            reason=Reason.SENDER_REJECTED,
            **kw,
        )
    if status in (408, 429) or status >= 500:
        reason = (
            Reason.RATE_LIMITED
            if status == 429
            else (Reason.TIMEOUT if status == 408 else Reason.SERVER_BUSY)
        )
        return RelayBusy(
            f"the relay answered {status}; try later",
            step=step,
            reason=reason,
            retry_after=_retry_after(retry_after),
            **kw,
        )
    if status in (400, 413, 415, 422):
        return MessageRejected(
            f"the relay refused the message ({status})",
            step=step,
            reason=Reason.MESSAGE_REJECTED,
            **kw,
        )
    return ServerRejected(
        f"unexpected answer {status}: is the URL a Tocsin relay?",
        step=step,
        reason=Reason.SERVER_REJECTED,
        **kw,
    )


def _causes(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def map_http_error(exc: httpx.HTTPError, host: str) -> DeliveryError:
    """Translate an httpx exception at the transport boundary (keep it as the cause)."""
    causes = _causes(exc)
    for cause in causes:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return TLSFailed(
                f"the relay's certificate was not accepted: {cause.verify_message}",
                step=Step.TLS,
                reason=Reason.CERT_INVALID,
            )
        if isinstance(cause, ssl.SSLError):
            return TLSFailed(
                f"the TLS handshake with the relay failed: {cause.reason or cause}",
                step=Step.TLS,
                reason=Reason.TLS_FAILED,
            )
        if isinstance(cause, socket.gaierror):
            return ConnectFailed(
                f"cannot resolve {host}", step=Step.RESOLVE, reason=Reason.DNS_FAILED
            )
        if isinstance(cause, ConnectionRefusedError):
            return ConnectFailed(
                f"{host}: connection refused", step=Step.CONNECT, reason=Reason.CONNECT_REFUSED
            )
    if isinstance(exc, httpx.ConnectTimeout):
        return DeliveryTimeout(
            f"{host}: no connection in time", step=Step.CONNECT, reason=Reason.TIMEOUT
        )
    if isinstance(exc, httpx.TimeoutException):
        return DeliveryTimeout(f"{host}: no answer in time", step=Step.RELAY, reason=Reason.TIMEOUT)
    if isinstance(exc, httpx.ConnectError):
        return ConnectFailed(f"{host}: {exc}", step=Step.CONNECT, reason=Reason.CONNECT_FAILED)
    return ConnectFailed(
        f"{host}: the connection broke: {exc}", step=Step.RELAY, reason=Reason.DISCONNECTED
    )


def relay_tls_context(settings: EmailSettings) -> ssl.SSLContext:
    """Always verified (``tls_verify`` is an SMTP setting); ``ca_file`` adds a trusted CA."""
    return make_tls_context(verify=True, ca_file=settings.ca_file, protocol="https")


def _idempotency_key(mail: Mail) -> str:
    text = "\n".join((mail.message_id, *sorted(mail.recipients)))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What the relay says about this device (``GET /v1/device``)."""

    name: str
    senders: tuple[str, ...]
    max_size: int
    quota_per_hour: int
    relay_domain: str


class OnlineTransport:
    """Sends through the online service.  Raises :class:`ConfigError` for a bad URL."""

    def __init__(
        self,
        settings: EmailSettings,
        *,
        tls_context: ssl.SSLContext | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        problem = relay_url_problem(settings.relay_url)
        if problem is not None:
            raise ConfigError(f"relay_url: {problem}")
        if not settings.device_credential:
            raise ConfigError("device_credential: enrol with the online service first")
        self._settings = settings
        self._base = settings.relay_url.rstrip("/")
        self.host = urllib.parse.urlsplit(self._base).hostname or ""
        self._client = httpx.AsyncClient(
            verify=tls_context or relay_tls_context(settings),
            timeout=httpx.Timeout(settings.timeout),
            headers={
                "Authorization": f"Bearer {settings.device_credential.reveal()}",
                "User-Agent": USER_AGENT,
            },
            transport=transport,
            # Shorter than the relay's keep-alive, so an idle connection is never reused
            # just as the server closes it (that would fail a POST we cannot replay).
            limits=httpx.Limits(keepalive_expiry=2.0),
            follow_redirects=False,  # a redirect would carry the credential elsewhere
        )
        self._clock = clock

    async def _request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            async with asyncio.timeout(self._settings.deadline):
                return await self._client.request(method, self._base + path, **kw)
        except httpx.HTTPError as exc:
            raise map_http_error(exc, self.host) from exc
        except TimeoutError as exc:
            raise DeliveryTimeout(
                f"no answer within the {self._settings.deadline:g} s deadline",
                step=Step.RELAY,
                reason=Reason.TIMEOUT,
            ) from exc

    async def send(self, mail: Mail) -> DeliveryResult:
        """Submit ``mail``; every recipient is accepted once the relay has stored it."""
        response = await self._request(
            "POST",
            "/v1/messages",
            params={"mail_from": mail.sender, "rcpt_to": list(mail.recipients)},
            content=mail.content,
            headers={"Content-Type": "message/rfc822", "Idempotency-Key": _idempotency_key(mail)},
        )
        body = _json(response)
        if response.status_code != 202:
            raise error_for_status(
                response.status_code, body, response.headers.get("Retry-After"), step=Step.DATA
            )
        public_id = str(body.get("id", ""))
        reply = f"queued as {public_id or '?'}"
        return DeliveryResult(
            tuple(
                RecipientResult(r, Outcome.ACCEPTED, code=202, server_message=reply)
                for r in mail.recipients
            ),
            f"202 {reply}",
            tracking_id=public_id,
        )

    async def device(self) -> DeviceInfo:
        """Who the relay thinks we are; raises like :meth:`send` (401: AuthFailed)."""
        response = await self._request("GET", "/v1/device")
        body = _json(response)
        if response.status_code != 200:
            raise error_for_status(
                response.status_code, body, response.headers.get("Retry-After"), step=Step.AUTH
            )
        return DeviceInfo(
            name=str(body.get("name", "")),
            senders=tuple(str(s) for s in body.get("senders", ())),
            max_size=int(body.get("max_size", 0)),
            quota_per_hour=int(body.get("quota_per_hour", 0)),
            relay_domain=str(body.get("relay_domain", "")),
        )

    async def status(self, public_id: str) -> dict[str, Any]:
        """The relay's status of one submission: ``{"recipients": [{"status": ...}]}``."""
        quoted = urllib.parse.quote(public_id, safe="")
        response = await self._request("GET", f"/v1/messages/{quoted}")
        body = _json(response)
        if response.status_code != 200:
            raise error_for_status(response.status_code, body, response.headers.get("Retry-After"))
        return body

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._client.aclose()


async def fetch_device(
    relay_url: str, credential: str, *, ca_file: str = "", timeout: float = 15.0
) -> DeviceInfo:
    """Check a relay URL and a device credential (``tocsin online enroll``).

    Raises :class:`ConfigError` for a bad URL, a :class:`DeliveryError` otherwise.
    """
    from tocsin.secret import Secret

    settings = EmailSettings(
        relay_url=relay_url,
        device_credential=Secret(credential),
        ca_file=ca_file,
        timeout=timeout,
        deadline=timeout,
    )
    transport = OnlineTransport(settings)
    try:
        return await transport.device()
    finally:
        await transport.aclose()
