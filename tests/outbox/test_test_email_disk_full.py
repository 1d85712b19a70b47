"""A test email on a full disk: the email goes out and its report stands, although the
delivery log has no room for its line; with room again the next test is listed."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from outbox_support import smtp_settings

from helpers import fill_disk, small_disk
from tocsin.services.context import Services
from tocsin.services.disk import DiskLimits
from tocsin.services.test_email import send_test_email
from tocsin.testing import SMTPTestServer


async def test_a_full_disk_costs_the_log_line_not_the_report(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with small_disk(tmp_path / "disk") as disk:
        services = Services.open(disk / "data")
        try:
            services.disk.limits = DiskLimits(0, 0)  # meet SQLite's own "disk full"
            async with SMTPTestServer() as server:
                services.settings.save(smtp_settings(server.port))
                filler = disk / "filler"
                fill_disk(filler, leave=0)
                with caplog.at_level(logging.WARNING, logger="tocsin.services.test_email"):
                    report = await send_test_email(services, "tester@example.net")
                assert report.ok
                assert [list(m.rcpt_tos) for m in server.messages] == [["tester@example.net"]]
                assert "not listed in the delivery log: no room" in caplog.text
                assert services.store.list_test_emails() == []
                filler.unlink()
                again = await send_test_email(services, "second@example.net")
                assert again.ok
                assert [run.recipient for run in services.store.list_test_emails()] == [
                    "second@example.net"
                ]
        finally:
            services.close()
