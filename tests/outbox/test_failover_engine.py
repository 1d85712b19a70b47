"""The failover chain against real servers: a primary that is stopped, or refuses the
password, and the real Postfix (or a second SMTP server) as the backup link.

The primary is an aiosmtpd server of :mod:`tocsin.testing` on a fixed port, so that it
can be stopped and come back where the settings point.  The shared Postfix is never
stopped: its Maildir shows what arrived through the backup link.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from outbox_support import enqueue, eventually, fast_options, running, smtp_settings

from helpers import RealSMTP, wait_for_delivery
from tocsin.failover import FailoverPolicy, FailoverSettings
from tocsin.outbox import DeliveryEngine, Priority, Status
from tocsin.secret import Secret
from tocsin.settings import EmailSettings
from tocsin.store import Store
from tocsin.testing import SMTPTestServer

TO = "ops@example.net"
USER, PASSWORD = "alarms", "Right-Passw0rd"
POLICY = FailoverPolicy(after_failures=2, after_seconds=60, probe_interval=1.0)
WAIT = 15.0  # every wait is bounded; each step takes well under a second here


def postfix_link(real: RealSMTP) -> EmailSettings:
    """The shared Postfix's plain port (loopback may relay) as a backup link."""
    return smtp_settings(real.plain_port, host=real.host, timeout=5.0, deadline=10.0)


def engine(
    store: Store,
    primary: EmailSettings,
    backups: tuple[EmailSettings, ...],
    notices: list[tuple[bool, str]],
    policy: FailoverPolicy = POLICY,
) -> DeliveryEngine:
    chain = FailoverSettings(enabled=True, links=backups, policy=policy)
    return DeliveryEngine(
        store,
        lambda: primary,
        failover_source=lambda: chain,
        on_failover=lambda down, why: notices.append((down, why)),
        options=fast_options(),
    )


def queue(store: Store, priority: int = Priority.ALARM) -> tuple[int, str]:
    """Enqueue one email with a unique subject; return its id and Message-ID."""
    email_id = enqueue(store, TO, priority=priority, subject=f"Failover {uuid.uuid4().hex}")
    view = store.get_email(email_id)
    assert view is not None
    return email_id, view.message_id


def delivery(store: Store, email_id: int) -> tuple[Status, str]:
    view = store.get_email(email_id)
    assert view is not None
    (d,) = view.deliveries
    return d.status, d.link


def sent(store: Store, email_id: int) -> tuple[Status, str] | None:
    found = delivery(store, email_id)
    return found if found[0] is Status.SENT else None


def in_maildir(real: RealSMTP, message_id: str) -> int:
    """How many copies of ``message_id`` the Postfix Maildir holds."""
    needle = message_id.strip("<>").encode()
    return sum(
        1
        for box in ("new", "cur")
        if (real.maildir / box).is_dir()
        for path in (real.maildir / box).iterdir()
        if needle in path.read_bytes()
    )


@pytest.mark.postfix
async def test_stopped_primary_alarms_take_postfix_then_return(
    sqlite_store: Store, real_smtp: RealSMTP
) -> None:
    notices: list[tuple[bool, str]] = []
    primary_server = SMTPTestServer()
    await primary_server.start()
    port = primary_server.port
    primary = smtp_settings(port)
    async with running(engine(sqlite_store, primary, (postfix_link(real_smtp),), notices)):
        first, _ = queue(sqlite_store)
        assert await eventually(lambda: sent(sqlite_store, first), timeout=WAIT) == (
            Status.SENT,
            "primary",
        )
        await primary_server.stop()
        stopped = time.monotonic()
        alarm, alarm_id = queue(sqlite_store)
        assert await eventually(lambda: sent(sqlite_store, alarm), timeout=WAIT) == (
            Status.SENT,
            "backup-1",
        )
        # Two refused connections (the policy's threshold), then the next link at once.
        assert time.monotonic() - stopped < 5.0
        wait_for_delivery(real_smtp, alarm_id, timeout=WAIT)
        assert [down for down, _ in notices] == [True]
        warning, warning_id = queue(sqlite_store, Priority.WARNING)
        await asyncio.sleep(1.5)  # past a probe (the warning may be it): it still waits
        # A probe may hold it right now (sending); it goes back to the queue unsent (a
        # warning sent through the backup would stay SENT, and this would time out).
        await eventually(
            lambda: delivery(sqlite_store, warning)[0] is Status.QUEUED,
            timeout=WAIT,
            what="the warning back in the queue after a probe",
        )
        back = SMTPTestServer(port=port)
        await back.start()
        try:
            # The next probe finds the primary; the warning and a new alarm go there.
            assert await eventually(lambda: sent(sqlite_store, warning), timeout=WAIT) == (
                Status.SENT,
                "primary",
            )
            again, _ = queue(sqlite_store)
            assert await eventually(lambda: sent(sqlite_store, again), timeout=WAIT) == (
                Status.SENT,
                "primary",
            )
        finally:
            await back.stop()
    assert [down for down, _ in notices] == [True, False]  # once each, not per email
    assert in_maildir(real_smtp, alarm_id) == 1  # sent once, through one link
    assert in_maildir(real_smtp, warning_id) == 0
    assert len(back.messages) == 2
    assert len(primary_server.messages) == 1


def _login(port: int, password: str) -> EmailSettings:
    return smtp_settings(port, username=USER, password=Secret(password), allow_plaintext_auth=True)


@pytest.mark.parametrize("warnings_follow", [False, True])
async def test_wrong_password_moves_alarms_at_once(
    sqlite_store: Store, warnings_follow: bool
) -> None:
    notices: list[tuple[bool, str]] = []
    policy = FailoverPolicy(
        after_failures=5, after_seconds=600, probe_interval=60, warnings_follow=warnings_follow
    )
    async with (
        SMTPTestServer(username=USER, password=PASSWORD, auth_required=True) as primary_server,
        SMTPTestServer() as second,
    ):
        primary = _login(primary_server.port, "Wr0ng-Passw0rd")
        backup = smtp_settings(second.port)
        async with running(engine(sqlite_store, primary, (backup,), notices, policy)):
            started = time.monotonic()
            alarm, _ = queue(sqlite_store)
            warning, _ = queue(sqlite_store, Priority.WARNING)
            assert await eventually(lambda: sent(sqlite_store, alarm), timeout=WAIT) == (
                Status.SENT,
                "backup-1",
            )
            assert time.monotonic() - started < 3.0  # at once, not after 5 failures
            if warnings_follow:
                assert await eventually(lambda: sent(sqlite_store, warning), timeout=WAIT) == (
                    Status.SENT,
                    "backup-1",
                )
            else:
                await asyncio.sleep(1.0)
                status, _ = delivery(sqlite_store, warning)
                assert status is Status.QUEUED
        assert len(primary_server.messages) == 0
        assert len(second.messages) == (2 if warnings_follow else 1)
        view = sqlite_store.get_email(alarm)
        assert view is not None
        assert view.deliveries[0].attempts == 1  # the refused login spent no attempt
    assert [down for down, _ in notices][:1] == [True]
    assert "Wr0ng" not in notices[0][1]


@pytest.mark.postgres
@pytest.mark.postfix
async def test_two_workers_on_postgres_send_each_alarm_once_through_the_backup(
    pg_store: Store, real_smtp: RealSMTP
) -> None:
    notices: list[tuple[bool, str]] = []
    async with SMTPTestServer() as gone:
        port = gone.port  # stopped: every connection to the primary is refused
    primary = smtp_settings(port)
    backups = (postfix_link(real_smtp),)
    first = engine(pg_store, primary, backups, notices)
    second = engine(pg_store, primary, backups, notices)
    assert first.owner != second.owner
    async with running(first), running(second):
        queued = [queue(pg_store) for _ in range(12)]
        for email_id, _ in queued:
            assert await eventually(lambda e=email_id: sent(pg_store, e), timeout=WAIT) == (
                Status.SENT,
                "backup-1",
            )
    for _, message_id in queued:
        wait_for_delivery(real_smtp, message_id, timeout=WAIT)
        assert in_maildir(real_smtp, message_id) == 1
    # Each worker tells of its own fall-back; the system notice makes one of them.
    assert 1 <= [down for down, _ in notices].count(True) <= 2


async def test_time_alone_moves_alarms_after_the_configured_seconds(sqlite_store: Store) -> None:
    notices: list[tuple[bool, str]] = []
    policy = FailoverPolicy(after_failures=100, after_seconds=1.5, probe_interval=60)
    async with SMTPTestServer() as gone:
        port = gone.port  # stopped
    async with SMTPTestServer() as second:
        primary = smtp_settings(port)
        async with running(
            engine(sqlite_store, primary, (smtp_settings(second.port),), notices, policy)
        ):
            started = time.monotonic()
            alarm, _ = queue(sqlite_store)
            assert await eventually(lambda: sent(sqlite_store, alarm), timeout=WAIT) == (
                Status.SENT,
                "backup-1",
            )
            took = time.monotonic() - started
        view = sqlite_store.get_email(alarm)
        assert view is not None
        attempts = view.deliveries[0].attempts
    # Not before the configured time (the back-off retries the primary meanwhile), and
    # soon after it: the next retry past 1.5 s moves it.
    assert 1.5 <= took < 4.0, took
    assert attempts >= 3  # the primary's refused tries, then the backup's success
    assert len(second.messages) == 1
    assert [down for down, _ in notices] == [True]
