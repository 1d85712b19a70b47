"""The appliance's own outbox, with transport 'online', delivers through the relay.

appliance outbox → DeliveryEngine → OnlineTransport (HTTPS) → relay → the real
Postfix's STARTTLS-only MX port → Maildir; and while the relay is down the email
waits in the appliance's outbox and goes out once it is back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from relay_support import SITE_SENDER, online_settings, relay_to_mx

from helpers import RealSMTP, wait_for_delivery
from tocsin.message import compose
from tocsin.outbox import DeliveryEngine, EngineOptions, Status
from tocsin.relay.dkim_signer import DKIMKey
from tocsin.relay.store import RelayStore
from tocsin.services.context import Services
from tocsin.testing import TestCA

pytestmark = pytest.mark.postfix


@pytest.fixture
def appliance(tmp_path: Path) -> Iterator[Services]:
    opened = Services.open(tmp_path / "appliance")
    yield opened
    opened.close()


async def _until(check: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "not reached in time"
        await asyncio.sleep(0.05)


async def test_outbox_delivers_through_the_relay_and_waits_while_it_is_down(
    real_smtp: RealSMTP,
    relay_store: RelayStore,
    dkim_key: DKIMKey,
    relay_cert: Path,
    ca: TestCA,
    appliance: Services,
) -> None:
    _, credential, relay = relay_to_mx(
        relay_store, dkim_key, relay_cert, mx_port=real_smtp.mx_port, mx_ca_file=real_smtp.ca_path
    )
    settings = online_settings(relay, credential, ca.ca_path)
    engine = DeliveryEngine(
        appliance.store, lambda: settings, options=EngineOptions(poll_interval=0.1)
    )
    appliance.outbox.on_enqueue = engine.wake
    stop = asyncio.Event()
    worker = asyncio.create_task(engine.run(stop))
    relay_running = True

    def sent() -> bool:
        return appliance.outbox.counts().get(Status.SENT, 0) >= 1

    try:
        first = compose(
            sender=SITE_SENDER,
            to=["ops@example.net"],
            subject="Leak: plant room",
            text="Water on the floor.\n",
        )
        appliance.outbox.enqueue(first)
        await _until(sent)
        got = await asyncio.to_thread(wait_for_delivery, real_smtp, first.message_id, 15)
        assert got["Reply-To"] == SITE_SENDER
        (row,) = appliance.outbox.list(statuses=[Status.SENT])
        assert row.server_reply.startswith("202")  # the relay's answer, with its id

        # The relay goes away, the engine's idle keep-alive connection to it with it;
        # the next email must wait in the outbox, not be lost.
        await relay.astop()
        relay_running = False
        second = compose(
            sender=SITE_SENDER, to=["ops@example.net"], subject="Fire: plant room", text="Smoke.\n"
        )
        appliance.outbox.enqueue(second)

        def retried() -> bool:
            rows = appliance.outbox.list(statuses=[Status.QUEUED])
            return bool(rows) and rows[0].attempts >= 1

        await _until(retried)
        (waiting,) = appliance.outbox.list(statuses=[Status.QUEUED])
        assert waiting.last_step in ("connect", "relay")
        assert waiting.last_reason in ("connect_refused", "connect_failed", "disconnected")
    finally:
        stop.set()
        await worker
        if relay_running:
            await relay.astop()
