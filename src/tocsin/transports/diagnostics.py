"""The test email: walk the real conversation, report every step, and say what to change.

The transcript is built from the SMTP session's own step events, so the test takes
exactly the path an alarm email takes.  When a step fails, a hint is chosen from
the failure; where the symptom is ambiguous (no greeting, a TLS error right after
connecting), a short probe of the port tells SSL from STARTTLS ports apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import html as html_text
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tocsin.errors import DeliveryError, Reason, SignInRefused, Step
from tocsin.i18n import translate
from tocsin.message import Mail, compose
from tocsin.secret import Secret
from tocsin.settings import EmailSettings, Encryption
from tocsin.tlsinfo import CertificateFacts, certificate_facts
from tocsin.transports.base import Outcome, RecipientResult
from tocsin.transports.smtp import SMTPSession, StepEvent, StepStatus, default_ehlo_name

__all__ = ["CheckStep", "TestEmailReport", "run_test_email", "test_email_html"]

PROBE_TIMEOUT = 5.0
GREETING_PROBE_AFTER = 1.0
"""A greeting this late starts the SSL-port probe beside the wait, so its answer is
ready when the wait times out: the step fails on time, not a probe's 5 s later."""
GREETING_PROBE_TIMEOUT = 0.5
"""How long a failed greeting waits for that probe's answer beyond the timeout."""

WAITING_FOR: dict[str, str] = {
    step.value: f"waiting_{step.value}"
    for step in (
        Step.RESOLVE,
        Step.CONNECT,
        Step.TLS,
        Step.EHLO,
        Step.STARTTLS,
        Step.OAUTH,
        Step.AUTH,
        Step.MAIL_FROM,
        Step.RCPT_TO,
        Step.DATA,
    )
}
"""Per step (and the greeting), the code of what a running step waits for."""
WAITING_FOR["greeting"] = "waiting_greeting"


@dataclass(frozen=True, slots=True)
class CheckStep:
    """One line of the transcript: a step, where it stands, what happened, what to change."""

    step: Step
    status: StepStatus
    summary: str
    hint: str = ""
    waiting: str = ""
    """While a step runs: what it waits for, in words ("the server's greeting")."""
    phase: str = ""
    """A named part of a step: ``greeting`` is the part of ``connect`` after TCP."""

    def as_dict(self) -> dict[str, str]:
        """JSON-ready form."""
        return {
            "step": self.step.value,
            "status": self.status.value,
            "summary": self.summary,
            "hint": self.hint,
            "waiting": self.waiting,
            "phase": self.phase,
        }


@dataclass(slots=True)
class TestEmailReport:
    """The whole test: success, every step, and the server's answer."""

    ok: bool = False
    steps: list[CheckStep] = field(default_factory=list)
    message_id: str = ""
    server_reply: str = ""

    @property
    def failure(self) -> CheckStep | None:
        """The first failed step, if any."""
        return next((s for s in self.steps if s.status is StepStatus.FAIL), None)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "ok": self.ok,
            "message_id": self.message_id,
            "server_reply": self.server_reply,
            "steps": [s.as_dict() for s in self.steps],
        }


Progress = Callable[[CheckStep], None]


class _Transcript:
    def __init__(self, settings: EmailSettings, language: str, progress: Progress | None):
        self.settings = settings
        self.language = language
        self.progress = progress
        self.report = TestEmailReport()
        self.pending: StepEvent | None = None
        self.tcp_connected = False
        self.waiting = ""  # what the running step waits for, in words
        self.tls_probe: asyncio.Task[bool] | None = None

    def stop_probe(self) -> None:
        if self.tls_probe is not None and not self.tls_probe.done():
            self.tls_probe.cancel()

    def start_probe(self) -> None:
        """While the greeting is awaited: will the port speak TLS straight away?"""
        s = self.settings
        if s.encryption is Encryption.SSL:
            return

        async def probe() -> bool:
            await asyncio.sleep(GREETING_PROBE_AFTER)
            return await _speaks_tls(s.host, s.port)

        self.tls_probe = asyncio.create_task(probe())

    def wait_for(self, key: str) -> str:
        code = WAITING_FOR.get(key)
        self.waiting = translate(code, self.language) if code else ""
        return self.waiting

    def add(self, step: CheckStep) -> None:
        self.report.steps.append(step)
        if self.progress is not None:
            self.progress(step)

    def hint(self, code: str, **params: object) -> str:
        return translate(code, self.language, **params)

    def on_event(self, event: StepEvent) -> None:
        if event.status is StepStatus.START:
            waiting = self.wait_for(event.step.value)
            self.add(CheckStep(event.step, event.status, event.detail, waiting=waiting))
            return
        if event.step is Step.CONNECT and event.status is StepStatus.OK:
            first = not self.tcp_connected
            self.tcp_connected = True
            if first:
                self.add(CheckStep(event.step, event.status, event.detail))
                # The TCP connection is open; now the server has to greet.
                waiting = self.wait_for("greeting")
                self.add(
                    CheckStep(Step.CONNECT, StepStatus.START, "", waiting=waiting, phase="greeting")
                )
                self.start_probe()
                return
            self.stop_probe()
            self.add(CheckStep(event.step, event.status, event.detail, phase="greeting"))
            return
        if event.status is StepStatus.FAIL and event.error is not None:
            self.pending = event  # the hint may need a probe: added after the exception
            return
        if event.status is StepStatus.FAIL:
            recipient = str(event.data.get("recipient", ""))
            code = event.data.get("code")
            hint = self._reply_hint(
                event.step, code if isinstance(code, int) else None, recipient, event.detail
            )
            self.add(CheckStep(event.step, event.status, event.detail, hint))
            return
        self.add(CheckStep(event.step, event.status, event.detail))

    def _reply_hint(self, step: Step, code: int | None, recipient: str, text: str) -> str:
        if send_as_denied(text):
            return self.hint("hint_send_as_denied", sender=self.settings.sender_address)
        if code is not None and code // 100 == 4:
            return self.hint("hint_busy")
        if step is Step.RCPT_TO:
            return self.hint("hint_recipient_rejected", recipient=recipient)
        return self.hint("hint_message_rejected", server=text)  # a 5xx answer to DATA


async def run_test_email(
    settings: EmailSettings,
    to: str,
    *,
    language: str = "en",
    progress: Progress | None = None,
    tls_context: ssl.SSLContext | None = None,
    on_refresh_token: Callable[[Secret], None] | None = None,
) -> TestEmailReport:
    """Send a test email to ``to`` through ``settings``, reporting each step as it goes.

    Never raises for a delivery problem: the report's failed step carries the
    reason and a hint.  The transcript holds no secret (the session's events never
    carry the password or a token; the OAuth2 step names the scope and the expiry).
    ``on_refresh_token`` stores a refresh token the provider rotated meanwhile.
    """
    transcript = _Transcript(settings, language, progress)
    report = transcript.report
    now = datetime.now(UTC)
    body = translate(
        "test_body",
        language,
        sender=settings.sender_address,
        server=settings.host,
        port=settings.port,
        encryption=settings.encryption.value,
        time=f"{now:%Y-%m-%d %H:%M:%S} UTC",
    )
    subject = f"{translate('test_subject', language)} {now:%Y-%m-%d %H:%M:%S}"
    mail = compose(
        sender=settings.sender_address,
        sender_name=settings.sender_name,
        to=[to],
        subject=subject,
        text=body,
        html=test_email_html(body, subject, language),
        date=now,
    )
    report.message_id = mail.message_id
    session = SMTPSession(
        settings,
        tls_context=tls_context,
        observer=transcript.on_event,
        ehlo_name=None if settings.ehlo_name else await default_ehlo_name(),
        on_refresh_token=on_refresh_token,
    )
    inner = asyncio.create_task(_converse(session, mail, transcript))
    inner.add_done_callback(_forget)
    try:
        # Shielded: a cancel reaches this await at once even where the library would
        # swallow it (asyncio.wait_for on Python 3.11), and the session is then dropped.
        await asyncio.shield(inner)
    except asyncio.CancelledError:
        session.abort()  # cancelled by the admin: end the conversation at once
        inner.cancel()
        raise
    finally:
        transcript.stop_probe()
    return report


async def _probed_tls(t: _Transcript) -> bool:
    """The probe's answer if it came by now (or within a moment), else a short probe."""
    s, probe = t.settings, t.tls_probe
    if probe is None:
        return await _speaks_tls(s.host, s.port, GREETING_PROBE_TIMEOUT)
    try:
        async with asyncio.timeout(GREETING_PROBE_TIMEOUT):
            return await asyncio.shield(probe)
    except TimeoutError:
        return False


def _forget(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: a cancelled test's late error is not news


async def _converse(session: SMTPSession, mail: Mail, transcript: _Transcript) -> None:
    """The conversation of :func:`run_test_email`; every outcome lands in the transcript."""
    settings, language, report = transcript.settings, transcript.language, transcript.report
    try:
        async with asyncio.timeout(settings.deadline):
            await session.open()
            result = await session.deliver(mail)
        report.server_reply = result.server_reply
        report.ok = result.all_accepted
        if not report.ok and report.failure is None:
            refused = next(r for r in result.recipients if r.outcome is not Outcome.ACCEPTED)
            transcript.add(
                CheckStep(
                    refused.step or Step.MAIL_FROM,
                    StepStatus.FAIL,
                    refused.server_message,
                    transcript.hint("hint_send_as_denied", sender=settings.sender_address)
                    if send_as_denied(refused.server_message)
                    else recipient_hint(refused, language),
                )
            )
        await session.quit()
        transcript.add(CheckStep(Step.QUIT, StepStatus.OK, "connection closed"))
    except DeliveryError as error:
        session.abort()
        event = transcript.pending
        summary = event.detail if event is not None else error.describe()
        if error.reason is Reason.TIMEOUT and transcript.waiting:
            summary = transcript.hint(
                "waited_in_vain", seconds=f"{settings.timeout:g}", what=transcript.waiting
            )
        hint = await _hint_for(error, transcript)
        greeting = error.step is Step.CONNECT and transcript.tcp_connected
        phase = "greeting" if greeting else ""
        transcript.add(CheckStep(error.step, StepStatus.FAIL, summary, hint, phase=phase))
    except TimeoutError:
        session.abort()
        step = session.step
        transcript.add(
            CheckStep(
                step,
                StepStatus.FAIL,
                f"no result within the {settings.deadline:g} s deadline",
                transcript.hint("hint_timeout", step=step.value),
            )
        )


_FONT = "font-family:Arial,Helvetica,sans-serif;"


def test_email_html(text: str, subject: str, language: str) -> str:
    """The HTML part of the test email: its text, one paragraph per block, in the
    single-column frame of the alarm emails (tables and inline styles only)."""
    paragraphs = "\n".join(
        f'<p style="margin:0 0 12px 0;{_FONT}font-size:15px;line-height:22px;color:#111827;">'
        f"{html_text.escape(block).replace(chr(10), '<br>')}</p>"
        for block in (b.strip() for b in text.split("\n\n"))
        if block
    )
    title = html_text.escape(subject)
    return f"""<!DOCTYPE html>
<html lang="{html_text.escape(language)}">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
</head>
<body style="margin:0;padding:0;background-color:#f3f4f6;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" \
style="background-color:#f3f4f6;">
<tr><td align="center" style="padding:16px 8px;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" \
style="width:100%;max-width:600px;background-color:#ffffff;border:1px solid #d1d5db;">
<tr><td bgcolor="#1d4ed8" style="background-color:#1d4ed8;padding:16px 24px;{_FONT}\
color:#ffffff;font-size:20px;line-height:26px;font-weight:bold;">{title}</td></tr>
<tr><td style="padding:16px 24px 8px 24px;overflow-wrap:anywhere;">
{paragraphs}
</td></tr>
</table>
</td></tr>
</table>
</body>
</html>
"""


async def _hint_for(error: DeliveryError, t: _Transcript) -> str:
    """Choose the hint for a failed session, probing the port where the symptom is ambiguous."""
    s = t.settings
    where = {"host": s.host, "port": s.port}
    reason, step = error.reason, error.step
    if isinstance(error, SignInRefused):
        return t.hint(f"oauth_hint_{error.hint}")
    provider = _provider_hint(error, t)
    if provider:
        return provider
    if reason is Reason.DNS_FAILED:
        return t.hint("hint_dns", **where)
    if reason is Reason.CONNECT_REFUSED:
        return t.hint("hint_refused", **where)
    if reason is Reason.TIMEOUT and step is Step.CONNECT and not t.tcp_connected:
        return t.hint("hint_connect_timeout", **where)
    if reason is Reason.TIMEOUT and step is Step.CONNECT and s.encryption is not Encryption.SSL:
        if await _probed_tls(t):
            return t.hint("hint_plain_on_tls_port", **where)
        return t.hint("hint_no_greeting", **where)
    ssl_mismatch = reason is Reason.TLS_FAILED and s.encryption is Encryption.SSL
    if ssl_mismatch and step is Step.TLS and await _plain_greeting(s.host, s.port):
        return t.hint("hint_ssl_on_plain_port", **where)
    if reason is Reason.CERT_INVALID:
        return await _certificate_hint(error, t)
    if reason is Reason.TLS_REQUIRED:
        code = "hint_starttls_missing" if step is Step.STARTTLS else "hint_plaintext_refused"
        return t.hint(code, **where)
    simple = {
        Reason.TLS_FAILED: ("hint_tls_failed", {"detail": error.args[0]}),
        Reason.AUTH_UNAVAILABLE: ("hint_auth_unavailable", {}),
        Reason.AUTH_FAILED: ("hint_auth_failed", {}),
        Reason.AUTH_REQUIRED: ("hint_auth_required", {}),
        Reason.SENDER_REJECTED: ("hint_sender_rejected", {"sender": s.sender_address}),
        Reason.MESSAGE_REJECTED: ("hint_message_rejected", {"server": error.server_message}),
        Reason.SERVER_REJECTED: ("hint_server_rejected", {"server": error.server_message}),
        Reason.DISCONNECTED: ("hint_disconnected", {"step": step.value}),
        Reason.TIMEOUT: ("hint_timeout", {"step": step.value}),
    }
    code, params = simple.get(reason, ("hint_busy", {}))
    return t.hint(code, **params)


def send_as_denied(text: str) -> bool:
    """Exchange Online's refusal of a sender that is not the signed-in mailbox (5.7.60,
    SendAsDenied), at MAIL FROM or after the message."""
    return "5.7.60" in text or "sendasdenied" in text.lower()


def _provider_hint(error: DeliveryError, t: _Transcript) -> str:
    """The hint for a refusal whose text names the cause more exactly than its code:
    Microsoft 365 and Google's answers to a login or a sender."""
    text = error.server_message or ""
    lowered = text.lower()
    if error.step is Step.AUTH and error.reason is Reason.AUTH_FAILED:
        if "smtpclientauthentication is disabled" in lowered:
            return t.hint("hint_smtp_auth_disabled", user=t.settings.username)
        if "5.7.139" in text and "basic authentication is disabled" in lowered:
            return t.hint("hint_basic_auth_disabled")
        if "username and password not accepted" in lowered:
            return t.hint("hint_google_password_refused")
    if send_as_denied(text):
        return t.hint("hint_send_as_denied", sender=t.settings.sender_address)
    return ""


async def _certificate_hint(error: DeliveryError, t: _Transcript) -> str:
    s = t.settings
    verify = _verify_error(error)
    detail = verify.verify_message if verify is not None else error.args[0]
    code = verify.verify_code if verify is not None else 0
    # OpenSSL X509_V_ERR_*: 62 hostname mismatch, 10 expired.
    facts = await _fetch_certificate(s)
    if code == 62:
        names = ", ".join(facts.names) if facts and facts.names else "another name"
        return t.hint("hint_cert_hostname", names=names, host=s.host)
    if code == 10:
        return t.hint("hint_cert_expired")
    if facts is not None:
        detail = f"{detail}; {facts.describe()}"
    return t.hint("hint_cert_untrusted", detail=detail)


def _verify_error(error: BaseException) -> ssl.SSLCertVerificationError | None:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


async def _open(
    host: str, port: int, context: ssl.SSLContext | None, timeout: float = PROBE_TIMEOUT
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    async with asyncio.timeout(timeout):
        return await asyncio.open_connection(
            host.strip("[]"),
            port,
            ssl=context,
            server_hostname=host.strip("[]") if context else None,
        )


def _unverified() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # a probe only reads; nothing is sent through it
    return context


async def _speaks_tls(host: str, port: int, timeout: float = PROBE_TIMEOUT) -> bool:
    """True when the port completes a TLS handshake straight away (an SSL port)."""
    try:
        _, writer = await _open(host, port, _unverified(), timeout)
    except (OSError, TimeoutError, ssl.SSLError):
        return False
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError):
        await writer.wait_closed()
    return True


async def _plain_greeting(host: str, port: int) -> bool:
    """True when the port greets in plain text with 220 (a STARTTLS or plain port)."""
    try:
        reader, writer = await _open(host, port, None)
    except (OSError, TimeoutError):
        return False
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            line = await reader.readline()
    except (OSError, TimeoutError):
        line = b""
    finally:
        writer.close()
    return line.startswith(b"220")


async def _fetch_certificate(s: EmailSettings) -> CertificateFacts | None:
    """The server's certificate read without verifying it, to describe what is wrong."""
    import aiosmtplib

    client = aiosmtplib.SMTP(
        hostname=s.host.strip("[]"),
        port=s.port,
        use_tls=s.encryption is Encryption.SSL,
        start_tls=False,
        tls_context=_unverified(),
        timeout=PROBE_TIMEOUT,
    )
    try:
        async with asyncio.timeout(PROBE_TIMEOUT * 2):
            await client.connect()
            if s.encryption is Encryption.STARTTLS:
                await client.starttls()
            transport = client.transport
            ssl_object = transport.get_extra_info("ssl_object") if transport else None
            der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
            return certificate_facts(der) if der else None
    except (aiosmtplib.SMTPException, OSError, TimeoutError, ValueError):
        return None
    finally:
        client.close()


def recipient_hint(result: RecipientResult, language: str = "en") -> str:
    """The hint for a refused recipient (used by the delivery log too)."""
    if result.outcome is Outcome.TEMPORARY:
        return translate("hint_busy", language)
    if result.reason is Reason.SMTPUTF8_UNSUPPORTED:
        return translate("hint_smtputf8", language, recipient=result.recipient)
    return translate("hint_recipient_rejected", language, recipient=result.recipient)
