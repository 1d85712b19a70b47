"""What a lone alarm costs the store (issue 11): the statements the delivery engine and
the intake's setting reads run, counted on a real SQLite store with its trace hook; and
the claim round's failures, which happen on the store thread, logged as before."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from outbox_support import all_done, enqueue, eventually, fast_options, mail, running

from helpers import fill_disk, small_disk
from tocsin.message import Mail
from tocsin.outbox import DeliveryEngine, NewEmail, Status
from tocsin.services.context import Services
from tocsin.settings import EmailSettings
from tocsin.store import Store, open_store
from tocsin.transports.base import DeliveryResult, MockTransport, accept_all

SETTINGS = EmailSettings(enabled=True, sender_address="alarm@example.com", host="mx.example.com")
CLAIM = "SET status = 'sending'"  # only the claim's UPDATE sets this


async def accept(m: Mail) -> DeliveryResult:
    """A server that takes every email."""
    return accept_all(m)


@contextmanager
def traced(store: object) -> Iterator[list[str]]:
    """Every statement ``store``'s SQLite connection runs inside the block, in order."""
    conn = getattr(store, "_conn", None)
    assert isinstance(conn, sqlite3.Connection), "a SQLite store keeps its connection"
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        yield statements
    finally:
        conn.set_trace_callback(None)


@pytest.mark.parametrize("emails", [1, 3])
async def test_queued_emails_take_one_claim_and_one_commit_each_step(
    sqlite_store: Store, emails: int
) -> None:
    """A claim that takes fewer than it asked for is not followed by an empty one."""

    engine = DeliveryEngine(
        sqlite_store,
        lambda: SETTINGS,
        # Polls far apart: every claim below is the one wake() asked for, or a bug.
        options=fast_options(poll_interval=30.0, batch_size=10),
        transport_factory=lambda _s: MockTransport(accept),
    )
    async with running(engine):
        await asyncio.sleep(0.3)  # started; its first claim found nothing
        with traced(sqlite_store) as statements:
            with sqlite_store.transaction() as tx:  # queued together, as a request does
                for i in range(emails):
                    tx.enqueue(NewEmail.of(mail(f"r{i}@example.net")))
            engine.wake()
            await eventually(lambda: all_done(sqlite_store), what="all sent")
            await asyncio.sleep(0.3)  # room for a second claim round, if there were one
            seen = list(statements)
    assert sqlite_store.counts()[Status.SENT] == emails
    claims = [s for s in seen if CLAIM in s]
    assert len(claims) == 1, seen
    # One commit to queue them, one for the claim, one for the outcomes.
    assert seen.count("COMMIT") == 3, seen


async def test_a_full_claim_is_followed_by_the_next_at_once(sqlite_store: Store) -> None:
    """Five emails, two per claim: the engine claims again without waiting for a poll."""

    for i in range(5):
        enqueue(sqlite_store, f"r{i}@example.net")
    engine = DeliveryEngine(
        sqlite_store,
        lambda: SETTINGS,
        options=fast_options(poll_interval=30.0, batch_size=2, max_connections=1),
        transport_factory=lambda _s: MockTransport(accept),
    )
    with traced(sqlite_store) as statements:
        async with running(engine):
            await eventually(lambda: all_done(sqlite_store), timeout=5.0, what="all sent")
            seen = list(statements)
    assert sqlite_store.counts()[Status.SENT] == 5
    assert len([s for s in seen if CLAIM in s]) >= 3  # 2 + 2 + 1 at least


def test_get_values_reads_several_keys_at_once(store: Store) -> None:
    store.put_value("alpha", "1")
    store.put_value("beta", "zwei")
    assert store.get_values(("alpha", "beta", "gamma")) == {"alpha": "1", "beta": "zwei"}
    assert store.get_values(("gamma",)) == {}
    assert store.get_values(()) == {}


def test_the_settings_fingerprint_is_one_statement_and_sees_both_rows(tmp_path: Path) -> None:
    services = Services.open(tmp_path / "data")
    try:
        with traced(services.store) as statements:
            empty = services.failover.fingerprint()
        assert len(statements) == 1, statements
        _settings, report, saved = services.settings.update(
            {"enabled": True, "host": "mx.example.com", "sender_address": "a@example.com"}
        )
        assert saved, report.errors
        settings_saved = services.failover.fingerprint()
        assert settings_saved != empty
        _chain, report, saved = services.failover.update(
            {"enabled": True, "links": [{"host": "b.example.net"}]}
        )
        assert saved, report.errors
        assert services.failover.fingerprint() not in {empty, settings_saved}
    finally:
        services.close()


def test_the_sender_reads_settings_and_public_url_in_one_statement(tmp_path: Path) -> None:
    services = Services.open(tmp_path / "data")
    try:
        assert services.events.sender() is None  # no sender address yet
        assert services.settings.update({"sender_address": "alarm@example.com"})[2]
        with traced(services.store) as statements:
            first = services.events.sender()
        assert len(statements) == 1, statements
        assert first is not None
        assert first.address == "alarm@example.com"
        assert services.events.sender() is first  # nothing changed: the same renderer
        services.public_url.save("https://tocsin.example.org")
        with_url = services.events.sender()
        assert with_url is not None
        assert with_url is not first
        assert services.settings.update({"sender_name": "Hall Alarm"})[2]
        renamed = services.events.sender()
        assert renamed is not None
        assert renamed.name == "Hall Alarm"
    finally:
        services.close()


async def test_a_full_disk_at_the_claim_is_one_line_then_the_email_goes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The claim round fails on the store thread; the engine still logs a full disk as
    one line without a traceback (not one a poll), and delivers once there is room."""
    with small_disk(tmp_path / "disk") as disk:
        store = open_store(disk / "tocsin.db")
        try:
            enqueue(store, "a@example.net")
            filler = disk / "filler"
            fill_disk(filler, leave=0)
            engine = DeliveryEngine(
                store,
                lambda: SETTINGS,
                options=fast_options(poll_interval=0.05),
                transport_factory=lambda _s: MockTransport(accept),
            )
            with caplog.at_level(logging.WARNING, logger="tocsin.outbox"):
                async with running(engine):
                    await eventually(lambda: "claiming deliveries failed" in caplog.text)
                    await asyncio.sleep(0.5)  # ten polls' time: still one line
                    filler.unlink()
                    await eventually(lambda: all_done(store), what="sent once there is room")
            lines = [r for r in caplog.records if "claiming deliveries failed" in r.message]
            assert len(lines) == 1, caplog.text
            assert lines[0].exc_info is None  # a condition, not a bug: no traceback
            assert "full" in lines[0].getMessage()
            assert store.counts()[Status.SENT] == 1
        finally:
            store.close()


async def test_a_broken_store_at_the_claim_is_logged_with_its_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = open_store(tmp_path / "tocsin.db")
    engine = DeliveryEngine(
        store,
        lambda: SETTINGS,
        options=fast_options(poll_interval=0.05),
        transport_factory=lambda _s: MockTransport(accept),
    )
    store.close()  # every claim now fails: a bug, not a condition
    with caplog.at_level(logging.ERROR, logger="tocsin.outbox"):
        async with running(engine):
            await eventually(lambda: "claiming deliveries failed" in caplog.text)
    (first, *_) = [r for r in caplog.records if "claiming deliveries failed" in r.message]
    assert first.exc_info is not None
    assert "closed database" in str(first.exc_info[1])
