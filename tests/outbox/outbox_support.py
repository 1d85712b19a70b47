"""Helpers of the outbox tests (fixtures are in conftest.py)."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TypeVar

from tocsin.message import Mail, compose
from tocsin.outbox import (
    ClaimedEmail,
    DeliveryEngine,
    DeliveryUpdate,
    EngineOptions,
    NewEmail,
    OutboxStore,
    Priority,
    RetryPolicy,
    Status,
)
from tocsin.outbox.verdict import Verdict
from tocsin.settings import EmailSettings, Encryption

PG_URL = os.environ.get("TOCSIN_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
SENDER = "alarm@example.com"
T = TypeVar("T")


def unique_schema() -> str:
    """A PostgreSQL schema name no other test run uses."""
    return f"tocsin_test_{os.getpid()}_{uuid.uuid4().hex[:10]}"


def mail(*to: str, subject: str = "Fire alarm: server room A") -> Mail:
    """A rendered alarm email to ``to``."""
    return compose(
        sender=SENDER,
        to=list(to) or ["ops@example.net"],
        subject=subject,
        text="Smoke detector 3 in server room A raised an alarm.\n",
    )


def enqueue(
    store: OutboxStore,
    *to: str,
    priority: int = Priority.ALARM,
    subject: str = "Fire alarm: server room A",
    now: float | None = None,
) -> int:
    """Enqueue one email in its own transaction; return its id."""
    with store.transaction() as tx:
        return tx.enqueue(NewEmail.of(mail(*to, subject=subject), priority), now=now)


def statuses(store: OutboxStore, email_id: int) -> dict[str, Status]:
    """Recipient -> status of one email."""
    view = store.get_email(email_id)
    assert view is not None
    return {d.recipient: d.status for d in view.deliveries}


async def eventually(
    check: Callable[[], T | None] | Callable[[], Awaitable[T | None]],
    *,
    timeout: float = 10.0,
    what: str = "condition",
) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


def all_done(store: OutboxStore) -> bool:
    """True when nothing is queued or being sent."""
    counts = store.counts()
    return counts[Status.QUEUED] == 0 and counts[Status.SENDING] == 0


def recipients_of(messages: Sequence[object]) -> list[tuple[str, ...]]:
    """The envelope recipients of each message a test server received."""
    return [tuple(getattr(m, "rcpt_tos")) for m in messages]  # noqa: B009


FAST_RETRY = RetryPolicy(first=0.2, factor=2.0, cap=0.5, jitter=0.5, max_age=3600)


def fast_options(**changes: object) -> EngineOptions:
    """Engine options for tests: quick polls, quick retries."""
    values: dict[str, object] = {
        "poll_interval": 0.05,
        "settings_interval": 0.05,
        "lease": 10.0,
        "retry": FAST_RETRY,
        "shutdown_grace": 5.0,
    }
    values.update(changes)
    return EngineOptions(**values)  # type: ignore[arg-type]


def smtp_settings(port: int, **changes: object) -> EmailSettings:
    """Settings for a plain test server on 127.0.0.1 with short timeouts."""
    values: dict[str, object] = {
        "enabled": True,
        "sender_address": SENDER,
        "host": "127.0.0.1",
        "port": port,
        "encryption": Encryption.NONE,
        "timeout": 2.0,
        "deadline": 3.0,
    }
    values.update(changes)
    return EmailSettings(**values)  # type: ignore[arg-type]


class Journal:
    """Every verdict the engine reached, in order (an ``on_sent`` hook)."""

    def __init__(self) -> None:
        self.sends: list[tuple[ClaimedEmail, Verdict, float, float]] = []

    def __call__(self, email: ClaimedEmail, verdict: Verdict, elapsed: float) -> None:
        self.sends.append((email, verdict, elapsed, time.time()))

    def updates(self) -> list[DeliveryUpdate]:
        """All updates, flattened."""
        return [u for _, v, _, _ in self.sends for u in v.updates]


@asynccontextmanager
async def running(engine: DeliveryEngine, *, taking: bool = False) -> AsyncIterator[DeliveryEngine]:
    """Run ``engine`` as a task for the duration of the block; stop it (bounded) after.
    With ``taking``, the block starts once the engine takes hand-offs (and listens)."""
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))
    try:
        if taking:
            await eventually(lambda: engine.taking() is not None, what="the engine to run")
        yield engine
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=20)
