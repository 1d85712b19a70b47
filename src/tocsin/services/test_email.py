"""Use case: send a test email, step by step, with the saved settings or the form as typed.

``changes`` are applied to the saved settings exactly as a save would apply them
(same parsers, same validation, same file checks) but never stored: a typed
password is used for this one conversation and then dropped, so live delivery
keeps running on the saved settings while an admin tries a new server.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Mapping

from tocsin.errors import StorageFull, TocsinError
from tocsin.failover import effective_link
from tocsin.services.context import Services
from tocsin.services.settings import check_files
from tocsin.settings import EmailSettings, TransportKind, apply_update, validate
from tocsin.store import TestEmailRun
from tocsin.transports.diagnostics import Progress, TestEmailReport, run_test_email
from tocsin.validation import Issue, Level, Report

log = logging.getLogger(__name__)

__all__ = ["TestEmailRefused", "run_of", "send_test_email", "settings_to_test"]


class TestEmailRefused(TocsinError):
    """The settings are incomplete or invalid; nothing was attempted."""

    def __init__(self, message: str, report: Report) -> None:
        super().__init__(message)
        self.report = report


async def send_test_email(
    services: Services,
    to: str,
    *,
    language: str = "en",
    progress: Progress | None = None,
    tls_context: ssl.SSLContext | None = None,
    changes: Mapping[str, object] | None = None,
    link: int = 0,
) -> TestEmailReport:
    """Send a test email to ``to``; the report says what worked and what to change.

    With ``changes`` the test runs with the saved settings as those changes would
    make them (a password left out is the saved one), and nothing is saved.  A
    test is allowed while email is still disabled (that is when one configures
    it), but not with settings that have errors.  ``link`` picks the link of the
    failover chain (0, the primary; 1 the first backup link, ...); raises
    :class:`TestEmailRefused` for a link that does not exist.
    """
    settings, report = settings_to_test(services, changes, link=link)
    online = settings.transport is TransportKind.ONLINE
    needed = ("sender_address",) if online else ("sender_address", "host")
    # While email is off, "required when email is enabled" would puzzle: say what a test needs.
    wording = "" if settings.enabled else "required_for_test"
    missing = [
        Issue(f, "required", Level.ERROR, text_code=wording)
        for f in needed
        if not getattr(settings, f)
    ]
    problems = Report.of([*report.errors, *missing])
    if not problems.ok:
        raise TestEmailRefused("the settings are not complete; nothing was sent", problems)
    if online:
        if not (settings.relay_url and settings.device_credential):
            raise TestEmailRefused(
                "not enrolled with the online service",
                Report((Issue("transport", "online_not_enrolled", Level.ERROR),)),
            )
        from tocsin.transports.online_diagnostics import run_online_test_email

        result = await run_online_test_email(
            settings, to, language=language, progress=progress, tls_context=tls_context
        )
    else:
        result = await run_test_email(
            settings,
            to,
            language=language,
            progress=progress,
            tls_context=tls_context,
            on_refresh_token=services.failover.refresh_token_keeper(settings),
        )
    # "Typed" only when the form as typed differs from what is saved.
    typed = changes is not None and settings != settings_to_test(services, None, link=link)[0]
    try:
        services.store.record_test_email(run_of(result, to, typed=typed))
    except StorageFull:  # the email went out: its report matters more than the log line
        log.warning("the test email to %s was not listed in the delivery log: no room", to)
    return result


def run_of(report: TestEmailReport, to: str, *, typed: bool) -> TestEmailRun:
    """The delivery log's row of a test: outcome, failing step, the server's words."""
    failed = report.failure
    return TestEmailRun(
        sent_at=time.time(),
        recipient=to,
        typed=typed,
        ok=report.ok,
        step=failed.step.value if failed else "",
        detail=report.server_reply or (failed.summary if failed else ""),
    )


def settings_to_test(
    services: Services, changes: Mapping[str, object] | None, *, link: int = 0
) -> tuple[EmailSettings, Report]:
    """The settings a test runs with, and their report; validated as a save would be.

    ``link`` > 0 tests that backup link of the failover chain, as it sends (with the
    primary's sender unless it has its own).
    """
    saved = services.settings.load()
    if link:
        backups = services.failover.load().links
        if not 0 < link <= len(backups):
            report = Report(
                (Issue("link", "failover_no_such_link", Level.ERROR, {"link": str(link)}),)
            )
            raise TestEmailRefused(f"there is no backup link {link}", report)
        saved = effective_link(saved, backups[link - 1])
    if changes is None:
        return saved, validate(saved)
    updated, report = apply_update(saved, changes)
    return updated, report + check_files(updated)
