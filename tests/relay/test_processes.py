"""The relay as real processes: a restart loses nothing answered 202; two API processes
and two workers on PostgreSQL deliver every message exactly once."""

from __future__ import annotations

import asyncio
import collections
from pathlib import Path

import httpx
import pytest
from relay_support import PG_URL, SITE_SENDER, RelayProcess, wait_until

from tocsin.relay.config import RelayConfig
from tocsin.relay.dkim_signer import DKIMKey
from tocsin.relay.service import RelayService
from tocsin.relay.store import open_relay_store
from tocsin.testing import TestCA, ThreadedSMTPTestServer


def relay_args(
    database: str, cert: Path, mx: ThreadedSMTPTestServer, ca: TestCA, key: Path, *extra: str
) -> list[str]:
    return [
        "--database",
        database,
        "--api-port",
        "0",
        "--smtp-port",
        "0",
        "--tls-cert",
        str(cert),
        "--tls-key",
        str(cert),
        "--domain",
        "relay.example.com",
        "--hostname",
        "relay.example.com",
        "--dkim-key",
        str(key),
        "--route",
        f"example.net=localhost:{mx.port}",
        "--mx-ca-file",
        str(ca.ca_path),
        *extra,
    ]


def add_device(database: str, *, schema: str | None = None) -> str:
    store = open_relay_store(database, schema=schema)
    try:
        credential, _ = RelayService(store, RelayConfig()).add_device(
            "site-1", ["@site.example.org"], quota_per_hour=1_000_000, burst=10_000
        )
    finally:
        store.close()
    return credential


def raw(i: int) -> bytes:
    return (
        f"From: {SITE_SENDER}\r\nTo: ops@example.net\r\nSubject: Alarm {i}\r\n"
        f"Message-ID: <alarm-{i}@site.example.org>\r\n\r\nAlarm number {i}.\r\n"
    ).encode()


async def submit_all(urls: list[str], credential: str, ca: TestCA, count: int) -> list[str]:
    """Submit ``count`` messages, spread over ``urls``, 16 at a time; return their ids."""
    gate = asyncio.Semaphore(16)
    headers = {"Authorization": f"Bearer {credential}", "Content-Type": "message/rfc822"}
    params = {"mail_from": SITE_SENDER, "rcpt_to": "ops@example.net"}
    async with httpx.AsyncClient(verify=ca.client_context(), timeout=30) as client:

        async def one(i: int) -> str:
            async with gate:
                url = urls[i % len(urls)] + "/v1/messages"
                answer = await client.post(url, content=raw(i), headers=headers, params=params)
            assert answer.status_code == 202, answer.text
            return str(answer.json()["message_id"])

        return list(await asyncio.gather(*(one(i) for i in range(count))))


def delivered_ids(mx: ThreadedSMTPTestServer) -> collections.Counter[str]:
    return collections.Counter(str(m.message()["Message-ID"]) for m in list(mx.messages))


@pytest.mark.slow
async def test_a_restart_loses_nothing_answered_202(
    tmp_path: Path, relay_cert: Path, ca: TestCA, dkim_key: DKIMKey
) -> None:
    key = tmp_path / "dkim.pem"
    key.write_bytes(dkim_key.private_key)
    database = str(tmp_path / "relay.db")
    credential = add_device(database)
    with ThreadedSMTPTestServer(tls="starttls", ca=ca) as mx:
        args = relay_args(database, relay_cert, mx, ca, key)
        first = await asyncio.to_thread(RelayProcess, [*args, "--no-worker"])
        try:
            ids = await submit_all([first.url()], credential, ca, 40)
        finally:
            first.kill()  # SIGKILL right after the last 202: nothing else gets to run
        assert mx.messages == []
        second = await asyncio.to_thread(RelayProcess, args)
        try:
            await asyncio.to_thread(
                wait_until, lambda: len(mx.messages) >= 40, timeout=30, what="40 deliveries"
            )
        finally:
            await asyncio.to_thread(second.stop)
        assert delivered_ids(mx) == collections.Counter(ids)


@pytest.mark.slow
@pytest.mark.postgres
async def test_two_apis_and_two_workers_on_postgres_deliver_exactly_once(
    pg_schema: str, tmp_path: Path, relay_cert: Path, ca: TestCA, dkim_key: DKIMKey
) -> None:
    key = tmp_path / "dkim.pem"
    key.write_bytes(dkim_key.private_key)
    credential = add_device(PG_URL, schema=pg_schema)
    count = 300
    with ThreadedSMTPTestServer(tls="starttls", ca=ca) as mx:
        args = relay_args(PG_URL, relay_cert, mx, ca, key, "--schema", pg_schema)
        apis = [
            await asyncio.to_thread(RelayProcess, [*args, "--no-worker", "--no-smtp"])
            for _ in range(2)
        ]
        workers = [  # told apart at the MX by their EHLO names
            await asyncio.to_thread(
                RelayProcess, [*args, "--no-api", "--no-smtp", "--hostname", f"w{n}.example.com"]
            )
            for n in range(2)
        ]
        try:
            ids = await submit_all([p.url() for p in apis], credential, ca, count)
            await asyncio.to_thread(
                wait_until, lambda: len(mx.messages) >= count, timeout=60, what="deliveries"
            )
            await asyncio.sleep(1.0)  # a duplicate would arrive now
        finally:
            for proc in apis + workers:
                await asyncio.to_thread(proc.stop)
        delivered = delivered_ids(mx)
        assert len(set(ids)) == count
        assert delivered == collections.Counter(ids), [k for k, v in delivered.items() if v > 1]
        assert {m.helo for m in mx.messages} == {"w0.example.com", "w1.example.com"}
    store = open_relay_store(PG_URL, schema=pg_schema)
    try:
        assert store.counts()["sent"] == count
    finally:
        store.close()
