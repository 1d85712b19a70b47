"""``tocsin serve``'s MQTT subscriber: connect, take messages, commit, then acknowledge.

The loop (:meth:`Subscriber.run`): load the settings; when enabled, connect
(:class:`~tocsin.intake.mqtt.connection.Connection`), then for each message commit its
event or dead-letter it (:meth:`~tocsin.intake.mqtt.service.MqttService.handle`, in a
worker thread: the store blocks) and only then PUBACK it.  When the broker is down,
refuses the sign-in or the TLS handshake fails, it waits (1, 2, 4 ... 60 s) and tries
again, and says so in the status (:class:`~tocsin.intake.mqtt.service.MqttStatus`) and
the metrics.  A commit that fails (disk full, database gone) closes the connection
unacknowledged: the broker sends the messages again after the back-off.  Saved settings
take effect within :data:`SETTINGS_POLL` seconds.

Test hook (off unless the variable is set): with ``$TOCSIN_MQTT_TEST_HOLD`` naming a
file, each message is held before its commit until that file exists (at most
:data:`HOLD_LIMIT` s), after creating ``<file>.arrived``; so a test can kill the process
between the broker's delivery and the commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge

from tocsin.intake.mqtt.config import MqttSettings
from tocsin.intake.mqtt.connection import BrokerError, Connection, Message
from tocsin.intake.mqtt.service import MqttService, MqttStatus

__all__ = [
    "ENV_SWITCH",
    "ENV_TEST_HOLD",
    "HOLD_LIMIT",
    "SETTINGS_POLL",
    "MqttMetrics",
    "Subscriber",
]

log = logging.getLogger("tocsin.mqtt")

ENV_TEST_HOLD: Final = "TOCSIN_MQTT_TEST_HOLD"
ENV_SWITCH: Final = "TOCSIN_MQTT_INTAKE"
"""``off`` keeps this process from subscribing: with several ``tocsin serve`` on one
database (the settings are shared), all but one set it, or they would take the broker's
session for the one client id from each other in turn."""
HOLD_LIMIT: Final = 60.0
SETTINGS_POLL: Final = 2.0
BACKOFF: Final = (1.0, 60.0)
"""The first and the longest wait before connecting again (doubling in between)."""
ERROR_PAUSE: Final = 5.0
HEARTBEAT: Final = 20.0
"""Seconds between rewrites of an unchanged status (its ``seen`` time)."""


class MqttMetrics:
    """The subscriber's counters, on the registry ``/metrics`` serves."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry or CollectorRegistry()
        self.messages = Counter(
            "tocsin_mqtt_messages",
            "MQTT messages taken, by outcome (accepted, duplicate, dead_letter)",
            ["outcome"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "tocsin_mqtt_dead_letters",
            "MQTT messages dead-lettered, by reason",
            ["reason"],
            registry=registry,
        )
        self.connect_failures = Counter(
            "tocsin_mqtt_connect_failures",
            "Failed connections to the broker, by reason",
            ["reason"],
            registry=registry,
        )
        self.connected = Gauge(
            "tocsin_mqtt_connected", "1 while subscribed to the broker", registry=registry
        )


class Subscriber:
    """Runs the MQTT intake until ``stop`` is set (see the module docstring)."""

    def __init__(self, service: MqttService, metrics: MqttMetrics | None = None) -> None:
        self._service = service
        self._metrics = metrics or MqttMetrics()
        self._hold = os.environ.get(ENV_TEST_HOLD) or None
        self._last: MqttStatus | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Subscribe, take messages and reconnect with back-off until ``stop`` is set.

        An unexpected error (the database gone while reading the settings) is logged and
        the round tried again after :data:`ERROR_PAUSE` s: MQTT never stops silently.
        """
        if os.environ.get(ENV_SWITCH, "").strip().lower() == "off":
            log.info("mqtt: not subscribing in this process (%s=off)", ENV_SWITCH)
            await stop.wait()
            return
        delay = BACKOFF[0]
        while not stop.is_set():
            try:
                delay = await self._round(stop, delay)
            except Exception as exc:
                log.error("mqtt intake: %s; trying again shortly", type(exc).__name__)
                await _sleep(stop, ERROR_PAUSE)
        await self._status(MqttStatus("stopped", time.time()))

    async def _round(self, stop: asyncio.Event, delay: float) -> float:
        """One connection (or one wait while off or refused); the next back-off delay."""
        fingerprint = await asyncio.to_thread(self._service.fingerprint)
        settings = await asyncio.to_thread(self._service.load)
        if not settings.enabled:
            await self._status(MqttStatus("disabled", time.time()))
            await self._wait_change(stop, fingerprint, None)
            return BACKOFF[0]
        try:
            connection = await self._connect(settings)
        except BrokerError as exc:
            self._metrics.connect_failures.labels(exc.code).inc()
            broker = _broker(settings)
            log.warning("mqtt broker %s: %s; retrying in %.0f s", broker, exc, delay)
            await self._status(
                MqttStatus("retrying", time.time(), exc.code, exc.detail, delay, broker)
            )
            await self._wait_change(stop, fingerprint, delay)
            return min(delay * 2, BACKOFF[1])
        try:
            await self._consume(connection, stop, fingerprint)
        finally:
            self._metrics.connected.set(0)
            await asyncio.to_thread(connection.close)
        return BACKOFF[0]

    async def _connect(self, settings: MqttSettings) -> Connection:
        await self._status(MqttStatus("connecting", time.time(), broker=_broker(settings)))
        connection = Connection(settings, asyncio.get_running_loop())
        await asyncio.to_thread(connection.open)
        self._metrics.connected.set(1)
        log.info("mqtt: subscribed to %s on %s", ", ".join(settings.topics), _broker(settings))
        await self._status(MqttStatus("connected", time.time(), broker=_broker(settings)))
        return connection

    async def _consume(self, connection: Connection, stop: asyncio.Event, fingerprint: str) -> None:
        """Take messages until stop, a lost connection, a settings change or a failed commit."""
        next_poll = time.monotonic() + SETTINGS_POLL
        while not stop.is_set() and not connection.lost.is_set():
            try:
                message = await asyncio.wait_for(_first(connection, stop), SETTINGS_POLL)
            except TimeoutError:
                message = None
            taken = message is None or stop.is_set() or await self._take(connection, message, stop)
            if not taken:
                await _sleep(stop, BACKOFF[0] * 5)
                return
            if time.monotonic() >= next_poll:
                next_poll = time.monotonic() + SETTINGS_POLL
                if await self._changed(fingerprint):
                    log.info("mqtt: the settings changed; reconnecting")
                    return
        if connection.lost.is_set() and not stop.is_set():
            log.warning("mqtt: the connection to the broker was lost; reconnecting")

    async def _take(self, connection: Connection, message: Message, stop: asyncio.Event) -> bool:
        """Commit (or dead-letter) one message, then acknowledge it; False if the commit failed."""
        if self._hold and not await _held(Path(self._hold), stop):
            return True  # stopped while held: not committed, not acknowledged
        try:
            outcome = await asyncio.to_thread(
                self._service.handle, message.topic, message.payload, redelivered=message.dup
            )
        except Exception as exc:  # the disk, the database: the broker keeps the message
            log.error(
                "mqtt: could not store a message from %r (%s); it stays with the broker",
                message.topic,
                type(exc).__name__,
            )
            return False
        if outcome.accepted:
            self._metrics.messages.labels("duplicate" if outcome.duplicate else "accepted").inc()
        else:
            self._metrics.messages.labels("dead_letter").inc()
            self._metrics.dead_letters.labels(outcome.reason).inc()
        connection.ack(message)  # after the commit: PUBACK
        return True

    async def _status(self, status: MqttStatus) -> None:
        status = dataclasses.replace(status, seen=time.time())
        self._last = status
        with contextlib.suppress(Exception):  # a status write never stops the intake
            await asyncio.to_thread(self._service.set_status, status)

    async def _changed(self, fingerprint: str) -> bool:
        """True when the saved settings changed; writes the status again now and then,
        so a killed ``tocsin serve`` shows as stopped (see ``MqttService.status``)."""
        last = self._last
        if last is not None and time.time() - last.seen >= HEARTBEAT:
            await self._status(last)
        return await asyncio.to_thread(self._service.fingerprint) != fingerprint

    async def _wait_change(
        self, stop: asyncio.Event, fingerprint: str, limit: float | None
    ) -> None:
        """Until ``stop``, a settings change, or ``limit`` seconds."""
        deadline = None if limit is None else time.monotonic() + limit
        while not stop.is_set():
            left = (
                SETTINGS_POLL
                if deadline is None
                else min(SETTINGS_POLL, deadline - time.monotonic())
            )
            if left <= 0:
                return
            await _sleep(stop, left)
            if await self._changed(fingerprint):
                return


async def _first(connection: Connection, stop: asyncio.Event) -> Message | None:
    """The next message, or None when the connection is lost or stop is set."""
    getter = asyncio.ensure_future(connection.inbox.get())
    waiters = [asyncio.ensure_future(connection.lost.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait([getter, *waiters], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (getter, *waiters):
            if not task.done():
                task.cancel()
        await asyncio.gather(getter, *waiters, return_exceptions=True)
    if getter.done() and not getter.cancelled():
        return getter.result()
    return None


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=max(0.0, seconds))


async def _held(release: Path, stop: asyncio.Event) -> bool:
    """The test hook: say the message arrived, wait for the release file (bounded);
    False when ``stop`` came first."""
    await asyncio.to_thread(Path(f"{release}.arrived").touch)
    for _ in range(int(HOLD_LIMIT / 0.05)):  # a file of another process: polled
        if await asyncio.to_thread(release.exists):
            return True
        await _sleep(stop, 0.05)
        if stop.is_set():
            return False
    return True


def _broker(settings: MqttSettings) -> str:
    return f"{settings.host}:{settings.port}"
