"""The test email's transcript: the SMTP session's step events turned into report lines
as they happen, with what each running step waits for, and the SSL-port probe that runs
beside a late greeting."""

from __future__ import annotations

import asyncio

from tocsin.errors import Step
from tocsin.i18n import translate
from tocsin.settings import EmailSettings, Encryption
from tocsin.transports.diagnostics.hints import reply_hint
from tocsin.transports.diagnostics.probes import speaks_tls
from tocsin.transports.diagnostics.report import (
    WAITING_FOR,
    CheckStep,
    Progress,
    TestEmailReport,
)
from tocsin.transports.smtp import StepEvent, StepStatus

__all__ = ["GREETING_PROBE_AFTER", "GREETING_PROBE_TIMEOUT", "Transcript"]

GREETING_PROBE_AFTER = 1.0
"""A greeting this late starts the SSL-port probe beside the wait, so its answer is
ready when the wait times out: the step fails on time, not a probe's 5 s later."""
GREETING_PROBE_TIMEOUT = 0.5
"""How long a failed greeting waits for that probe's answer beyond the timeout."""


class Transcript:
    """The report being written, the session's state the hints need, and the probe."""

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
            return await speaks_tls(s.host, s.port)

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
            hint = reply_hint(
                self, event.step, code if isinstance(code, int) else None, recipient, event.detail
            )
            self.add(CheckStep(event.step, event.status, event.detail, hint))
            return
        self.add(CheckStep(event.step, event.status, event.detail))

    async def probed_tls(self) -> bool:
        """The probe's answer if it came by now (or within a moment), else a short probe."""
        s, probe = self.settings, self.tls_probe
        if probe is None:
            return await speaks_tls(s.host, s.port, GREETING_PROBE_TIMEOUT)
        try:
            async with asyncio.timeout(GREETING_PROBE_TIMEOUT):
                return await asyncio.shield(probe)
        except TimeoutError:
            return False
