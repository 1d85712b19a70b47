"""The online service seen from the settings page: is the relay reachable, and the test
email through it, step by step (resolve, connect, tls, auth, data, relay).

``services/test_email.py`` calls :func:`run_online_test_email` when the transport is
``online``; the settings API calls :func:`check_relay`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
import urllib.parse
from datetime import UTC, datetime
from typing import Any

import httpx

from tocsin.errors import (
    AuthFailed,
    ConfigError,
    DeliveryError,
    MessageRejected,
    Reason,
    SenderRejected,
    ServerBusy,
    ServerRejected,
    Step,
    TLSFailed,
)
from tocsin.i18n import translate
from tocsin.settings import EmailSettings
from tocsin.tlsinfo import tls_facts
from tocsin.transports.diagnostics import (
    CheckStep,
    Progress,
    TestEmailReport,
    compose_test_email,
)
from tocsin.transports.online import OnlineTransport, RelayBusy, map_http_error, relay_tls_context
from tocsin.transports.smtp import StepStatus, connect_tcp

__all__ = ["check_relay", "run_online_test_email"]


async def check_relay(settings: EmailSettings, language: str = "en") -> dict[str, Any]:
    """Whether the relay answers right now, for the settings page (never raises).

    ``{"reachable", "device", "latency_ms", "reason", "error", "hint"}``; ``reason`` is
    an error reason (``auth_failed``, ``cert_invalid``, ``connect_refused``, ...) when
    not reachable, and ``hint`` says in ``language`` what to change.
    """
    started = time.perf_counter()
    out: dict[str, Any] = {
        "reachable": False,
        "device": "",
        "latency_ms": None,
        "reason": "",
        "error": "",
        "hint": "",
    }
    try:
        transport = OnlineTransport(settings)
    except ConfigError as exc:
        hint = translate("hint_relay_enrol", language)
        return {**out, "reason": Reason.NOT_CONFIGURED.value, "error": str(exc), "hint": hint}
    try:
        info = await transport.device()
    except DeliveryError as exc:
        parts = urllib.parse.urlsplit(settings.relay_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        hint = _hint(exc, settings, transport.host, port, language)
        return {**out, "reason": exc.reason.value, "error": str(exc), "hint": hint}
    finally:
        await transport.aclose()
    latency = round((time.perf_counter() - started) * 1000, 1)
    return {**out, "reachable": True, "device": info.name, "latency_ms": latency}


_FINAL = ("sent", "failed", "dead")


def _hint(error: DeliveryError, settings: EmailSettings, host: str, port: int, lang: str) -> str:
    where = {"host": host, "port": port}
    if isinstance(error, TLSFailed):
        return translate("hint_relay_certificate", lang, detail=error.args[0])
    if isinstance(error, AuthFailed):
        return translate("hint_relay_auth", lang)
    if isinstance(error, SenderRejected):
        return translate("hint_relay_sender", lang, sender=settings.sender_address)
    if isinstance(error, (RelayBusy, ServerBusy)):
        return translate("hint_relay_busy", lang)
    if isinstance(error, MessageRejected):
        return translate("hint_relay_rejected", lang, detail=error.server_message or str(error))
    if isinstance(error, ServerRejected):
        return translate("hint_relay_not_relay", lang, **where)
    return translate("hint_relay_unreachable", lang, **where)


class _OnlineTest:
    def __init__(self, settings: EmailSettings, lang: str, progress: Progress | None) -> None:
        self.settings = settings
        self.lang = lang
        self.progress = progress
        self.report = TestEmailReport()
        parts = urllib.parse.urlsplit(settings.relay_url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.https else 80)

    def add(self, step: Step, status: StepStatus, summary: str, hint: str = "") -> None:
        self.report.steps.append(CheckStep(step, status, summary, hint))
        if self.progress is not None:
            self.progress(self.report.steps[-1])

    def fail(self, error: DeliveryError) -> None:
        hint = _hint(error, self.settings, self.host, self.port, self.lang)
        self.add(error.step, StepStatus.FAIL, str(error), hint)

    async def link(self, context: ssl.SSLContext) -> None:
        """Resolve, connect and shake hands, each as its own step."""
        sock = await connect_tcp(self.host, self.port, self.settings.timeout, self.add)
        if not self.https:
            sock.close()
            self.add(Step.TLS, StepStatus.OK, "plain HTTP to this machine (loopback) only")
            return
        self.add(Step.TLS, StepStatus.START, f"TLS with {self.host}")
        try:
            async with asyncio.timeout(self.settings.timeout):
                _, writer = await asyncio.open_connection(
                    sock=sock, ssl=context, server_hostname=self.host
                )
        except (OSError, TimeoutError) as exc:
            sock.close()
            error = map_http_error(httpx.ConnectError(str(exc)), self.host)
            if isinstance(exc, ssl.SSLError):
                error = TLSFailed(str(exc), step=Step.TLS, reason=Reason.TLS_FAILED)
                if isinstance(exc, ssl.SSLCertVerificationError):
                    error = TLSFailed(exc.verify_message, step=Step.TLS, reason=Reason.CERT_INVALID)
            raise error from exc
        facts = tls_facts(writer.get_extra_info("ssl_object"))
        writer.close()
        with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
            async with asyncio.timeout(self.settings.timeout):
                await writer.wait_closed()  # the TLS close_notify, then the socket
        self.add(Step.TLS, StepStatus.OK, facts.describe() if facts else "TLS")

    async def follow(self, transport: OnlineTransport, public_id: str, wait: float) -> None:
        """Watch the relay deliver (or not) for up to ``wait`` seconds."""
        deadline = time.monotonic() + wait
        while True:
            body = await transport.status(public_id)
            recipients = body.get("recipients", [])
            done = all(r.get("status") in _FINAL for r in recipients)
            if done or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.3)
        for r in recipients:
            state, who = str(r.get("status")), str(r.get("recipient"))
            if state == "sent":
                self.add(Step.RELAY, StepStatus.OK, f"{who}: delivered ({r.get('server_reply')})")
            elif state in ("failed", "dead"):
                detail = f"{r.get('reason')} at {r.get('step')}: {r.get('error')}"
                hint = translate(
                    "hint_relay_delivery_failed", self.lang, recipient=who, detail=r.get("reason")
                )
                self.add(Step.RELAY, StepStatus.FAIL, f"{who}: {detail}", hint)
            else:
                last = r.get("error") or "waiting for its first attempt"
                self.add(Step.RELAY, StepStatus.OK, f"{who}: still queued at the relay ({last})")


async def run_online_test_email(
    settings: EmailSettings,
    to: str,
    *,
    language: str = "en",
    progress: Progress | None = None,
    tls_context: ssl.SSLContext | None = None,
    status_wait: float = 15.0,
) -> TestEmailReport:
    """Send a test email through the online service, step by step: resolve, connect, tls,
    auth (the device credential), data (the submission), relay (the relay's delivery).

    Never raises for a delivery problem: the failed step carries the reason and a hint.
    """
    test = _OnlineTest(settings, language, progress)
    mail = compose_test_email(
        settings, to, language, server=test.host, port=test.port, encryption="https",
        now=datetime.now(UTC),
    )  # fmt: skip
    test.report.message_id = mail.message_id
    context = tls_context or relay_tls_context(settings)
    transport: OnlineTransport | None = None
    try:
        await test.link(context)
        transport = OnlineTransport(settings, tls_context=context)
        test.add(Step.AUTH, StepStatus.START, f"device {settings.device_id}")
        info = await transport.device()
        test.add(Step.AUTH, StepStatus.OK, f"device {info.name}; senders {' '.join(info.senders)}")
        test.add(Step.DATA, StepStatus.START, f"submitting to {settings.relay_url}")
        result = await transport.send(mail)
        test.report.server_reply = result.server_reply
        test.add(Step.DATA, StepStatus.OK, result.server_reply)
        public_id = result.server_reply.rpartition(" ")[2]
        await test.follow(transport, public_id, status_wait)
    except DeliveryError as error:
        test.fail(error)
    finally:
        if transport is not None:
            await transport.aclose()
    test.report.ok = not any(s.status is StepStatus.FAIL for s in test.report.steps)
    return test.report
