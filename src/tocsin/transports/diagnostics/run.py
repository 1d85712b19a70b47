"""The test email: walk the real conversation, report every step, and say what to change.

The transcript is built from the SMTP session's own step events, so the test takes
exactly the path an alarm email takes.  When a step fails, a hint is chosen from
the failure; where the symptom is ambiguous (no greeting, a TLS error right after
connecting), a short probe of the port tells SSL from STARTTLS ports apart.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from datetime import UTC, datetime

from tocsin.errors import DeliveryError, Reason, Step
from tocsin.message import Mail
from tocsin.secret import Secret
from tocsin.settings import EmailSettings
from tocsin.transports.base import Outcome
from tocsin.transports.diagnostics.hints import hint_for, recipient_hint, send_as_denied
from tocsin.transports.diagnostics.mail import compose_test_email
from tocsin.transports.diagnostics.report import CheckStep, Progress, TestEmailReport
from tocsin.transports.diagnostics.transcript import Transcript
from tocsin.transports.smtp import SMTPSession, StepStatus, default_ehlo_name

__all__ = ["run_test_email"]


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
    transcript = Transcript(settings, language, progress)
    report = transcript.report
    now = datetime.now(UTC)
    mail = compose_test_email(
        settings, to, language, server=settings.host, port=settings.port,
        encryption=settings.encryption.value, now=now,
    )  # fmt: skip
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


def _forget(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: a cancelled test's late error is not news


async def _converse(session: SMTPSession, mail: Mail, transcript: Transcript) -> None:
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
        hint = await hint_for(error, transcript)
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
