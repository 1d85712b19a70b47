"""The online service as the failover chain's backup link: the primary SMTP server is
down, alarms go through the in-process relay to the real Postfix, each once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from relay_support import SITE_SENDER, InProcessRelay, online_settings, relay_to_mx

from helpers import RealSMTP, wait_for_delivery
from tocsin.failover import FailoverPolicy, FailoverSettings
from tocsin.message import compose
from tocsin.outbox import DeliveryEngine, EngineOptions, Status
from tocsin.relay.dkim_signer import DKIMKey
from tocsin.relay.store import RelayStore
from tocsin.services.context import Services
from tocsin.settings import EmailSettings, Encryption
from tocsin.testing import SMTPTestServer, TestCA

pytestmark = pytest.mark.postfix


@pytest.fixture
def appliance(tmp_path: Path) -> Iterator[Services]:
    opened = Services.open(tmp_path / "appliance")
    yield opened
    opened.close()


@pytest.fixture
async def relay_and_credential(
    real_smtp: RealSMTP, relay_store: RelayStore, dkim_key: DKIMKey, relay_cert: Path
) -> AsyncIterator[tuple[InProcessRelay, str]]:
    """The relay to the real Postfix and site-1's credential; stopped before its store
    closes (a relay left running kept its delivery worker claiming from the closed store
    through every later test of the worker process)."""
    _, credential, relay = relay_to_mx(
        relay_store, dkim_key, relay_cert, mx_port=real_smtp.mx_port, mx_ca_file=real_smtp.ca_path
    )
    try:
        yield relay, credential
    finally:
        await relay.astop()


async def test_alarms_fail_over_to_the_online_service(
    real_smtp: RealSMTP,
    relay_and_credential: tuple[InProcessRelay, str],
    ca: TestCA,
    appliance: Services,
) -> None:
    relay, credential = relay_and_credential
    async with SMTPTestServer() as gone:
        port = gone.port  # then stopped: connections to it are refused
    primary = EmailSettings(
        enabled=True,
        sender_address=SITE_SENDER,
        host="127.0.0.1",
        port=port,
        encryption=Encryption.NONE,
        timeout=2.0,
        deadline=3.0,
    )
    chain = FailoverSettings(
        enabled=True,
        links=(online_settings(relay, credential, ca.ca_path),),
        policy=FailoverPolicy(after_failures=1, after_seconds=60, probe_interval=60),
    )
    notices: list[bool] = []
    engine = DeliveryEngine(
        appliance.store,
        lambda: primary,
        failover_source=lambda: chain,
        on_failover=lambda down, _why: notices.append(down),
        options=EngineOptions(poll_interval=0.1, settings_interval=0.1),
    )
    appliance.outbox.on_enqueue = engine.wake
    stop = asyncio.Event()
    worker = asyncio.create_task(engine.run(stop))
    try:
        alarm = compose(
            sender=SITE_SENDER, to=["ops@example.net"], subject="Fire: hall", text="Smoke.\n"
        )
        started = time.monotonic()
        appliance.outbox.enqueue(alarm)
        got = await asyncio.to_thread(wait_for_delivery, real_smtp, alarm.message_id, 20)
        assert got["Reply-To"] == SITE_SENDER
        assert time.monotonic() - started < 20
        deadline = time.monotonic() + 10
        while not appliance.outbox.list(statuses=[Status.SENT]):
            assert time.monotonic() < deadline, "the SENT verdict was not recorded"
            await asyncio.sleep(0.05)
        (row,) = appliance.outbox.list(statuses=[Status.SENT])
        assert (row.link, row.attempts) == ("backup-1", 1)
        assert row.server_reply.startswith("202")  # the relay's answer
        assert notices == [True]
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=20)
