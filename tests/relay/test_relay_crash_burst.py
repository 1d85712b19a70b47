"""SIGKILL of a relay API process in the middle of a burst of submissions: whatever was
answered 202 is stored (with its shared commit), and nothing is stored twice."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from relay_support import PG_URL, SITE_SENDER, RelayProcess, unique_schema

from tocsin.outbox.model import ListFilter
from tocsin.relay.config import RelayConfig
from tocsin.relay.service import RelayService
from tocsin.relay.store import PostgresRelayStore, RelayStore, open_relay_store
from tocsin.testing import TestCA

BURST = 240
KILL_AFTER = 80  # 202s seen when the process is killed; the rest are in flight or waiting


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str | None]]:
    """(database, schema) of a fresh relay store."""
    if request.param == "sqlite":
        yield str(tmp_path / "relay.db"), None
        return
    schema = unique_schema()
    owner = PostgresRelayStore(PG_URL, schema=schema)
    try:
        yield PG_URL, schema
    finally:
        owner.drop_schema()
        owner.close()


def raw(i: int) -> bytes:
    return (
        f"From: {SITE_SENDER}\r\nTo: ops@example.net\r\nSubject: Alarm {i}\r\n"
        f"Message-ID: <burst-{i}@site.example.org>\r\n\r\nAlarm number {i}.\r\n"
    ).encode()


async def burst_until_killed(relay: RelayProcess, credential: str, ca: TestCA) -> dict[int, str]:
    """Submit BURST messages, 32 at a time; SIGKILL the relay after KILL_AFTER 202s.

    Returns the public id of every message answered 202 (the others failed somehow)."""
    accepted: dict[int, str] = {}
    killed = asyncio.Event()
    gate = asyncio.Semaphore(32)
    headers = {"Authorization": f"Bearer {credential}", "Content-Type": "message/rfc822"}
    params = {"mail_from": SITE_SENDER, "rcpt_to": "ops@example.net"}
    async with httpx.AsyncClient(verify=ca.client_context(), timeout=30) as client:

        async def one(i: int) -> None:
            async with gate:
                if killed.is_set():
                    return
                try:
                    answer = await client.post(
                        f"{relay.url()}/v1/messages", content=raw(i), headers=headers, params=params
                    )
                except httpx.TransportError:
                    return  # the relay died under this request: no answer, no promise
            assert answer.status_code == 202, answer.text
            accepted[i] = str(answer.json()["id"])
            if len(accepted) >= KILL_AFTER and not killed.is_set():
                killed.set()
                await asyncio.to_thread(relay.kill)

        await asyncio.gather(*(one(i) for i in range(BURST)))
    assert killed.is_set()
    return accepted


@pytest.mark.slow
async def test_a_sigkill_during_a_burst_loses_nothing_answered_202(
    database: tuple[str, str | None], relay_cert: Path, ca: TestCA
) -> None:
    url, schema = database
    store: RelayStore = open_relay_store(url, schema=schema)
    try:
        credential, device = RelayService(store, RelayConfig()).add_device(
            "site-1", ["@site.example.org"], quota_per_hour=1_000_000, burst=10_000
        )
    finally:
        store.close()
    args = [
        "--database", url, "--api-port", "0", "--no-smtp", "--no-worker",
        "--tls-cert", str(relay_cert), "--tls-key", str(relay_cert),
        "--domain", "relay.example.com", "--hostname", "relay.example.com",
    ]  # fmt: skip
    if schema:
        args += ["--schema", schema]
    relay = await asyncio.to_thread(RelayProcess, args)
    try:
        accepted = await burst_until_killed(relay, credential, ca)
    finally:
        await asyncio.to_thread(relay.stop)  # already dead: closes its pipes
    assert relay.proc.returncode == -9
    store = open_relay_store(url, schema=schema)
    try:
        stored = collections.Counter(
            d.message_id for d in store.list_deliveries(ListFilter(limit=10_000))
        )
        missing = [
            i
            for i, public_id in accepted.items()
            if store.submission_status(device.id, public_id) is None
        ]
    finally:
        store.close()
    assert missing == []
    assert all(stored[f"<burst-{i}@site.example.org>"] == 1 for i in accepted)
    assert max(stored.values()) == 1  # nothing twice, answered or not
    assert len(stored) < BURST  # the kill did cut the burst short
