"""The "fell back" notice travels like an alarm: with the primary's server gone and
system mail set to wait for it (the default), the ``delivery_failover`` notice still
reaches the admins through the backup link while the primary is down.  A real
``tocsin worker`` sends; the backup is a running SMTP test server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from outbox_support import mail
from test_failover_worker import WAIT, tocsin

from helpers import RealSMTP, wait_for_delivery
from tocsin.model import Category, Event, Severity, State
from tocsin.outbox import Priority, Status
from tocsin.services.context import Services
from tocsin.services.failover_notice import DELIVERY_FAILOVER
from tocsin.services.intake import SYSTEM_DEVICE, SYSTEM_GROUP, URGENT_SYSTEM_CODES, priority_of
from tocsin.services.summaries import DELIVERY_DELAYED, DELIVERY_PAUSED, EMAIL_UNDELIVERED
from tocsin.testing import ThreadedSMTPTestServer


def _site(data: Path, port: int, backup_port: int, backup_host: str = "127.0.0.1") -> None:
    """Primary on ``port`` (nothing listens), one backup link; an admin told of system
    notices.  System mail waits for the primary (``system_follow`` stays off)."""
    tocsin(data, "settings", "set", "enabled=true", "host=127.0.0.1", f"port={port}",
           "encryption=none", "sender_address=alarm@example.com", "timeout=2",
           "deadline=3")  # fmt: skip
    tocsin(data, "settings", "failover", "link", "1", f"host={backup_host}",
           f"port={backup_port}", "encryption=none")  # fmt: skip
    tocsin(data, "settings", "failover", "set", "enabled=true", "after_failures=1")
    services = Services.open(data)
    try:
        assert not services.failover.load().policy.system_follow
        services.sites.import_site(
            {
                "groups": [{"id": "site", "name": "Site"}],
                "users": [{"id": "admin", "name": "Admin", "email": "admin@example.net",
                           "groups": ["site"], "categories": ["system"]}],
            }
        )  # fmt: skip
    finally:
        services.close()


def _subjects(server: ThreadedSMTPTestServer) -> list[str]:
    return [str(m.message()["Subject"]) for m in server.messages]


def _sent(services: Services, email_id: int) -> tuple[Status, str] | None:
    (delivery,) = services.outbox.show(email_id).deliveries
    return (delivery.status, delivery.link) if delivery.status is Status.SENT else None


def _notice_sent(services: Services, alarm: int) -> tuple[str, tuple[Status, str]]:
    """Wait for the notice (the one email besides ``alarm``) to be sent; its Message-ID
    and (status, link)."""
    deadline = time.monotonic() + WAIT
    while True:
        rows = [r for r in services.outbox.list() if r.email_id != alarm]
        if rows and (done := _sent(services, rows[0].email_id)):
            return rows[0].message_id, done
        assert time.monotonic() < deadline, ("the notice was not sent", rows)
        time.sleep(0.1)


def test_the_fell_back_notice_arrives_through_the_backup_while_the_primary_is_down(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    with ThreadedSMTPTestServer() as gone:
        port = gone.port  # then stopped: the primary refuses connections, all along
    with ThreadedSMTPTestServer() as backup:
        _site(data, port, backup.port)
        services = Services.open(data)
        worker = _start_worker(data)
        try:
            alarm = services.outbox.enqueue(mail("ops@example.net"), Priority.FIRE)
            message_id, done = _notice_sent(services, alarm)
            assert done == (Status.SENT, "backup-1")
            assert _sent(services, alarm) == (Status.SENT, "backup-1")
            (got,) = [m.message() for m in backup.messages if m.rcpt_tos == ("admin@example.net",)]
            assert got["Message-ID"] == message_id
            assert "falls back" in str(got["Subject"])
        finally:
            err = _stop(worker)
            services.close()
    assert b"Traceback" not in err


def _start_worker(data: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tocsin", "worker", "--data", str(data)],
        env=os.environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def _stop(worker: subprocess.Popen[bytes]) -> bytes:
    worker.terminate()
    try:
        return worker.communicate(timeout=30)[1]
    except subprocess.TimeoutExpired:
        worker.kill()
        return worker.communicate()[1]


@pytest.mark.postfix
def test_the_fell_back_notice_reaches_postfix_as_backup_while_the_primary_is_down(
    tmp_path: Path, real_smtp: RealSMTP
) -> None:
    data = tmp_path / "data"
    with ThreadedSMTPTestServer() as gone:
        port = gone.port  # then stopped: the primary refuses connections, all along
    _site(data, port, real_smtp.plain_port, real_smtp.host)
    services = Services.open(data)
    worker = _start_worker(data)
    try:
        alarm = services.outbox.enqueue(mail("ops@example.net"), Priority.FIRE)
        message_id, done = _notice_sent(services, alarm)
        assert done == (Status.SENT, "backup-1")
        got = wait_for_delivery(real_smtp, message_id, timeout=WAIT)
        assert "falls back" in str(got["Subject"])
        assert str(got["To"]) == "admin@example.net"
    finally:
        err = _stop(worker)
        services.close()
    assert b"Traceback" not in err


def _system(code: str, *, cleared: bool = False) -> Event:
    return Event(
        id="e1", group_id=SYSTEM_GROUP, device=SYSTEM_DEVICE, sensor=code,
        category=Category.SYSTEM, severity=Severity.WARNING,
        state=State.CLEARED if cleared else State.RAISED,
        occurred_at=datetime.now(UTC),
        text="x", clears="e0" if cleared else None,
    )  # fmt: skip


@pytest.mark.parametrize("code", [DELIVERY_FAILOVER, DELIVERY_PAUSED, DELIVERY_DELAYED])
def test_notices_of_delivery_trouble_go_as_alarms_and_their_resolved_as_system_mail(
    code: str,
) -> None:
    assert code in URGENT_SYSTEM_CODES
    assert priority_of(_system(code)) is Priority.ALARM
    assert priority_of(_system(code, cleared=True)) is Priority.SYSTEM


def test_other_notices_stay_system_mail() -> None:
    assert priority_of(_system(EMAIL_UNDELIVERED)) is Priority.SYSTEM
    assert priority_of(_system("disk_space")) is Priority.SYSTEM
