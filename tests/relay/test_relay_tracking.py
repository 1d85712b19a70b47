"""The relay's later word (delivered, bounced) reaches the appliance's delivery log.

appliance outbox → DeliveryEngine → OnlineTransport → relay (HTTPS) → MX; the
appliance's Tracker then asks the relay about each delivery it took and records the
answer: delivered (the real Postfix's MX port took it), bounced (an MX refused the
recipient with 550), unknown (the relay does not know the id), and while the relay
cannot be asked the deliveries wait for a later round, still pending.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from relay_support import (
    SITE_SENDER,
    InProcessRelay,
    online_settings,
    relay_to_mx,
    wait_until,
)

from helpers import RealSMTP, tocsin_cli, tocsin_serve, wait_for_delivery
from tocsin.message import Mail, compose
from tocsin.outbox import DeliveryEngine, DeliveryUpdate, EngineOptions, Status
from tocsin.outbox.tracker import Tracker
from tocsin.outbox.tracking import RemoteState
from tocsin.relay.dkim_signer import DKIMKey
from tocsin.relay.service import RelayService
from tocsin.relay.store import RelayStore
from tocsin.services.context import Services
from tocsin.settings import EmailSettings
from tocsin.testing import TestCA, ThreadedSMTPTestServer


@dataclass
class Site:
    """An appliance sending through a running relay, with its engine and tracker."""

    services: Services
    settings: EmailSettings
    relay: InProcessRelay
    service: RelayService
    tracker: Tracker

    def deliveries(self) -> dict[str, object]:
        return {v.recipient: v for v in self.services.outbox.list()}


@pytest.fixture
def appliance(tmp_path: Path) -> Iterator[Services]:
    opened = Services.open(tmp_path / "appliance")
    yield opened
    opened.close()


@pytest.fixture
def mx(ca: TestCA) -> Iterator[ThreadedSMTPTestServer]:
    """A STARTTLS MX that refuses gone@example.net for good."""
    with ThreadedSMTPTestServer(tls="starttls", ca=ca) as server:
        server.faults.reply_at(
            "rcpt", "550 5.1.1 <gone@example.net>: no such user", recipient="gone@example.net"
        )
        yield server


@pytest.fixture
async def site_factory(
    relay_store: RelayStore, dkim_key: DKIMKey, relay_cert: Path, ca: TestCA, appliance: Services
) -> AsyncIterator[Callable[[int, str], Site]]:
    """Starts a relay routing example.net to an MX port, and an appliance using it."""
    started: list[InProcessRelay] = []

    def make(mx_port: int, ca_file: str) -> Site:
        service, credential, relay = relay_to_mx(
            relay_store, dkim_key, relay_cert, mx_port=mx_port, mx_ca_file=ca_file
        )
        started.append(relay)
        settings = online_settings(relay, credential, ca.ca_path)
        tracker = Tracker(appliance.store, lambda: settings)
        return Site(appliance, settings, relay, service, tracker)

    yield make
    for relay in started:
        if relay._thread.is_alive():  # not stopped by the test itself
            await relay.astop()


async def _until(check: Callable[[], object], timeout: float = 30.0, what: str = "it") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} did not happen in time"
        await asyncio.sleep(0.1)


async def _deliver(site: Site, mail: Mail) -> None:
    """Run the appliance's engine until ``mail`` is handed to the relay."""
    engine = DeliveryEngine(
        site.services.store, lambda: site.settings, options=EngineOptions(poll_interval=0.1)
    )
    stop = asyncio.Event()
    worker = asyncio.create_task(engine.run(stop))
    try:
        site.services.outbox.enqueue(mail)
        await _until(
            lambda: site.services.outbox.counts()[Status.SENT] >= len(mail.recipients),
            what="the hand-over to the relay",
        )
    finally:
        stop.set()
        await worker


@pytest.mark.postfix
async def test_a_mail_the_relay_delivered_shows_as_delivered(
    site_factory: Callable[[int, str], Site], real_smtp: RealSMTP
) -> None:
    site = site_factory(real_smtp.mx_port, str(real_smtp.ca_path))
    mail = compose(sender=SITE_SENDER, to=["ops@example.net"], subject="Leak", text="Water.\n")
    await _deliver(site, mail)
    (handed,) = site.services.outbox.list()
    assert handed.remote is not None
    assert handed.remote.state is RemoteState.PENDING
    await asyncio.to_thread(wait_for_delivery, real_smtp, mail.message_id, 15)

    stop = asyncio.Event()
    running = asyncio.create_task(site.tracker.run(stop))  # the schedule of `tocsin serve`
    try:
        await _until(
            lambda: site.services.outbox.list()[0].remote.state is RemoteState.DELIVERED,  # type: ignore[union-attr]
            what="the relay's 'delivered'",
        )
    finally:
        stop.set()
        await running
    (row,) = site.services.outbox.list(remote_states=[RemoteState.DELIVERED])
    assert row.remote is not None
    assert row.remote.code == 250  # the MX's own answer, via the relay
    assert "queued as" in row.remote.detail
    assert row.remote.next_check_at is None  # final: never asked again
    assert row.status is Status.SENT
    assert site.services.outbox.tracking_counts()[RemoteState.DELIVERED] == 1
    assert await site.tracker.check_due(now=time.time() + 86_400) == 0


async def test_a_recipient_the_mx_refused_shows_as_bounced_and_can_be_retried(
    site_factory: Callable[[int, str], Site], mx: ThreadedSMTPTestServer, ca: TestCA
) -> None:
    site = site_factory(mx.port, str(ca.ca_path))
    mail = compose(
        sender=SITE_SENDER,
        to=["ops@example.net", "gone@example.net"],
        subject="Fire",
        text="Smoke.\n",
    )
    await _deliver(site, mail)

    def settled() -> bool:
        rows = site.services.outbox.list()
        return all(r.remote is not None and r.remote.state.final for r in rows)

    stop = asyncio.Event()
    running = asyncio.create_task(site.tracker.run(stop))
    try:
        await _until(settled, what="both final answers")
    finally:
        stop.set()
        await running
    rows = {r.recipient: r for r in site.services.outbox.list()}
    ok, gone = rows["ops@example.net"].remote, rows["gone@example.net"].remote
    assert ok is not None
    assert ok.state is RemoteState.DELIVERED
    assert gone is not None
    assert gone.state is RemoteState.BOUNCED
    assert gone.code == 550
    assert "no such user" in gone.detail
    assert [
        r.recipient for r in site.services.outbox.list(remote_states=[RemoteState.BOUNCED])
    ] == ["gone@example.net"]

    # The admin retries the email: only the bounced recipient is queued again, and its
    # old verdict is gone until the relay speaks again.
    assert site.services.outbox.retry(rows["gone@example.net"].email_id) == 1
    again = {r.recipient: r for r in site.services.outbox.list()}
    assert again["gone@example.net"].status is Status.QUEUED
    assert again["gone@example.net"].remote is None
    assert again["ops@example.net"].remote is not None
    assert again["ops@example.net"].remote.state is RemoteState.DELIVERED


async def test_while_the_relay_cannot_be_asked_deliveries_wait_pending(
    site_factory: Callable[[int, str], Site], mx: ThreadedSMTPTestServer, ca: TestCA
) -> None:
    site = site_factory(mx.port, str(ca.ca_path))
    mail = compose(sender=SITE_SENDER, to=["ops@example.net"], subject="Door", text="Open.\n")
    await _deliver(site, mail)
    await _until(lambda: len(mx.messages) == 1, what="the relay's delivery")

    # The credential is revoked: the relay answers 401; nothing is decided.
    site.service.revoke_device("site-1")
    later = time.time() + 30
    assert await site.tracker.check_due(now=later) == 0
    (row,) = site.services.outbox.list()
    assert row.remote is not None
    assert row.remote.state is RemoteState.PENDING
    assert row.remote.checks == 0
    assert row.remote.checked_at is None
    assert row.remote.next_check_at is not None
    assert row.remote.next_check_at >= later + 60

    # The relay is gone altogether: still pending, asked again later.
    await site.relay.astop()
    assert await site.tracker.check_due(now=later + 61) == 0
    (row,) = site.services.outbox.list()
    assert row.remote is not None
    assert row.remote.state is RemoteState.PENDING
    assert row.remote.next_check_at is not None
    assert row.remote.next_check_at >= later + 121

    # Unanswered for longer than the tracking lasts: given up as unknown, not pending forever.
    assert await site.tracker.check_due(now=later + 8 * 86_400) == 1
    (row,) = site.services.outbox.list()
    assert row.remote is not None
    assert row.remote.state is RemoteState.UNKNOWN
    assert "could not be asked" in row.remote.detail


async def test_an_id_the_relay_does_not_know_ends_as_unknown(
    site_factory: Callable[[int, str], Site], mx: ThreadedSMTPTestServer, ca: TestCA
) -> None:
    site = site_factory(mx.port, str(ca.ca_path))
    store = site.services.store
    mail = compose(sender=SITE_SENDER, to=["ops@example.net"], subject="Test", text="!\n")
    site.services.outbox.enqueue(mail)
    now = time.time()
    (claimed,) = store.claim(owner="test", now=now, limit=10, lease=60)
    (delivery,) = claimed.deliveries
    update = DeliveryUpdate(
        delivery.id, Status.SENT, code=202, server_reply="202 queued", tracking_id="msg_nothere"
    )
    store.record([update], owner="test", now=now)

    assert await site.tracker.check_due(now=now + 10) == 1
    (row,) = site.services.outbox.list(remote_states=[RemoteState.UNKNOWN])
    assert row.remote is not None
    assert row.remote.code == 404
    assert "no longer knows" in row.remote.detail


def test_tocsin_serve_follows_the_relay_into_its_delivery_log(
    tmp_path: Path,
    relay_store: RelayStore,
    dkim_key: DKIMKey,
    relay_cert: Path,
    ca: TestCA,
    mx: ThreadedSMTPTestServer,
) -> None:
    _, credential, relay = relay_to_mx(
        relay_store, dkim_key, relay_cert, mx_port=mx.port, mx_ca_file=ca.ca_path
    )
    env = {**os.environ, "TOCSIN_DATA": str(tmp_path / "appliance"), "NO_COLOR": "1"}
    try:
        tocsin_cli(
            env,
            *("online", "enroll", relay.api_url, "--stdin", "--ca-file", str(ca.ca_path)),
            stdin=credential + "\n",
        )
        tocsin_cli(env, "settings", "set", "enabled=true", f"sender_address={SITE_SENDER}")
        tocsin_cli(env, "group", "add", "site", "--name", "Site")
        for name in ("ops", "gone"):
            tocsin_cli(env, "user", "add", name, "--name", name, "--email",
                       f"{name}@example.net", "--group", "site", "--category", "fire")  # fmt: skip
        scopes = ("--scope", "admin", "--scope", "events")
        token = tocsin_cli(env, "token", "create", "admin", *scopes).strip()
        with tocsin_serve(env) as base:
            auth = {"Authorization": f"Bearer {token}"}
            event = {"group": "site", "device": "Detector 2", "sensor": "Smoke",
                     "category": "fire", "severity": "alarm", "state": "raised"}  # fmt: skip
            answer = httpx.post(f"{base}/api/v1/events", headers=auth, json=event, timeout=10)
            assert answer.status_code == 202, answer.text

            def settled() -> dict[str, dict[str, object]] | None:
                body = httpx.get(f"{base}/api/v1/outbox", headers=auth, timeout=10).json()
                remote = {d["recipient"]: d["remote"] for d in body["deliveries"]}
                done = len(remote) == 2 and all(
                    r is not None and r["state"] != "pending" for r in remote.values()
                )
                return remote if done else None

            remote = wait_until(settled, timeout=45, what="the relay's final word")
    finally:
        relay.stop()
    assert remote["ops@example.net"]["state"] == "delivered"
    assert remote["gone@example.net"]["state"] == "bounced"
    assert "no such user" in str(remote["gone@example.net"]["detail"])
    assert [m.rcpt_tos for m in mx.messages] == [("ops@example.net",)]
