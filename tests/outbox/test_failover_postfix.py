"""The failover chain between two real Postfix instances: the primary is a private
Postfix this test starts (relaying to the shared one with STARTTLS and SASL), the
backup link the shared Postfix.  The private one is stopped: alarms go through the
shared one, each once; it is started again: traffic returns.  The shared Postfix is
never stopped."""

from __future__ import annotations

import asyncio
import subprocess
import time

import pytest
from outbox_support import eventually, fast_options, running, smtp_settings
from test_failover_engine import WAIT, in_maildir, postfix_link, queue, sent

from helpers import RealSMTP, wait_for_delivery
from postfix_client import PostfixClient
from tocsin.failover import FailoverPolicy, FailoverSettings
from tocsin.outbox import DeliveryEngine, Status
from tocsin.store import Store

pytestmark = pytest.mark.postfix


def _start_again(client: PostfixClient) -> None:
    """Start the stopped private Postfix with its configuration (the same port)."""
    subprocess.run(
        ["postfix", "-c", str(client.state / "etc"), "start"],
        capture_output=True,
        timeout=60,
        check=True,
    )


async def test_a_stopped_primary_postfix_fails_over_and_traffic_returns(
    sqlite_store: Store, real_smtp: RealSMTP
) -> None:
    notices: list[bool] = []
    policy = FailoverPolicy(after_failures=2, after_seconds=60, probe_interval=1.0)
    with PostfixClient(
        relay_port=real_smtp.submission_port,
        username=real_smtp.user,
        password=real_smtp.password,
        ca_file=real_smtp.ca_path,
    ) as client:
        primary = smtp_settings(client.port, timeout=5.0, deadline=10.0)
        chain = FailoverSettings(enabled=True, links=(postfix_link(real_smtp),), policy=policy)
        engine = DeliveryEngine(
            sqlite_store,
            lambda: primary,
            failover_source=lambda: chain,
            on_failover=lambda down, _why: notices.append(down),
            options=fast_options(),
        )
        async with running(engine):
            first, first_id = queue(sqlite_store)
            assert await eventually(lambda: sent(sqlite_store, first), timeout=WAIT) == (
                Status.SENT,
                "primary",
            )
            await asyncio.to_thread(client.wait_until_relayed, first_id.strip("<>"))
            client._stop_master()
            stopped = time.monotonic()
            alarm, alarm_id = queue(sqlite_store)
            assert await eventually(lambda: sent(sqlite_store, alarm), timeout=WAIT) == (
                Status.SENT,
                "backup-1",
            )
            assert time.monotonic() - stopped < 10.0
            _start_again(client)
            await asyncio.sleep(policy.probe_interval + 0.2)  # the next email is the probe
            again, again_id = queue(sqlite_store)
            assert await eventually(lambda: sent(sqlite_store, again), timeout=WAIT) == (
                Status.SENT,
                "primary",
            )
            await asyncio.to_thread(client.wait_until_relayed, again_id.strip("<>"))
    for message_id in (first_id, alarm_id, again_id):
        await asyncio.to_thread(wait_for_delivery, real_smtp, message_id, WAIT)
        assert in_maildir(real_smtp, message_id) == 1  # once, through one link
    assert notices == [True, False]
