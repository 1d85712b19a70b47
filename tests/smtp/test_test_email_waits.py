"""A server that accepts and never greets: the test says what it waits for, fails on time,
and can be cancelled at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from tocsin.errors import Step
from tocsin.settings import EmailSettings, Encryption
from tocsin.transports import StepStatus
from tocsin.transports.diagnostics import CheckStep, run_test_email

TO = "ops@example.net"


@dataclass
class NeverGreets:
    """A plain socket server: accepts every connection, never writes, notes when each ends."""

    port: int = 0
    accepted: list[float] = field(default_factory=list)
    closed: list[float] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted.append(time.monotonic())
        await reader.read()  # returns at EOF: the client closed the connection
        self.closed.append(time.monotonic())
        writer.close()


@pytest.fixture
async def silent() -> AsyncIterator[NeverGreets]:
    server = NeverGreets()
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.port = listening.sockets[0].getsockname()[1]
    async with listening:
        yield server


def _settings(port: int, timeout: float) -> EmailSettings:
    return EmailSettings(
        enabled=True,
        host="127.0.0.1",
        port=port,
        encryption=Encryption.STARTTLS,
        sender_address="alarm@example.com",
        ehlo_name="tocsin.test",
        timeout=timeout,
        deadline=120.0,
    )


@pytest.mark.parametrize("language", ["en", "de"])
async def test_the_greeting_step_fails_within_a_second_of_the_timeout(
    silent: NeverGreets, language: str
) -> None:
    seen: list[tuple[float, CheckStep]] = []
    started = time.monotonic()
    report = await run_test_email(
        _settings(silent.port, 6.0),
        TO,
        language=language,
        progress=lambda step: seen.append((time.monotonic() - started, step)),
    )
    assert not report.ok
    failed_at, failure = next((t, s) for t, s in seen if s.status is StepStatus.FAIL)
    assert 6.0 <= failed_at < 7.0, failed_at
    assert (failure.step, failure.phase) == (Step.CONNECT, "greeting")
    greeting = {"en": "the server's greeting", "de": "die Begrüßung des Servers"}[language]
    waiting = [s for _, s in seen if s.status is StepStatus.START and s.phase == "greeting"]
    assert [s.waiting for s in waiting] == [greeting]  # said while it waited
    assert greeting in failure.summary  # and said again when nothing came
    assert "6 s" in failure.summary


async def test_cancelling_ends_the_conversation_at_once(silent: NeverGreets) -> None:
    waiting = asyncio.Event()

    def progress(step: CheckStep) -> None:
        if step.phase == "greeting" and step.status is StepStatus.START:
            waiting.set()

    task = asyncio.create_task(run_test_email(_settings(silent.port, 30.0), TO, progress=progress))
    await asyncio.wait_for(waiting.wait(), 5)
    cancelled = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(50):
        if silent.closed:
            break
        await asyncio.sleep(0.02)
    assert silent.closed, "the server never saw the connection end"
    assert silent.closed[0] - cancelled < 0.5
