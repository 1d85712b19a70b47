"""The crash window after the commit and before the PUBACK, against the real Mosquitto:
the broker sends the message again with DUP set, and it is stored once.  And the
dead-letter table on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from mqtt_support import publish, unique

from helpers import pg_schema_url
from tocsin.intake.mqtt.config import MqttSettings
from tocsin.intake.mqtt.connection import Connection, Message
from tocsin.intake.mqtt.service import MqttService
from tocsin.intake.mqtt.store import MAX_AGE, DeadLetter
from tocsin.services.context import Services

EVENT = {
    "group": "plant",
    "device": "Pump",
    "sensor": "flow",
    "category": "always",
    "severity": "alarm",
}


async def _next(connection: Connection) -> Message:
    return await asyncio.wait_for(connection.inbox.get(), 20)


async def test_a_message_committed_but_not_acknowledged_comes_again_and_is_not_stored_twice(
    services: Services, machine_broker: tuple[str, int]
) -> None:
    service = MqttService(services)
    topic = unique("site")
    settings = MqttSettings(
        enabled=True, host="127.0.0.1", port=1883, client_id=unique("c"), topics=(f"{topic}/#",)
    )
    loop = asyncio.get_running_loop()
    first = Connection(settings, loop)
    await asyncio.to_thread(first.open)
    try:
        await asyncio.to_thread(publish, f"{topic}/pump", json.dumps(EVENT))  # no client id
        message = await _next(first)
        assert not message.dup
        committed = await asyncio.to_thread(service.handle, message.topic, message.payload)
        assert committed.accepted
    finally:
        await asyncio.to_thread(first.close)  # "crashed" before the PUBACK
    second = Connection(settings, loop)
    await asyncio.to_thread(second.open)
    try:
        again = await _next(second)
        assert again.dup  # MQTT 3.1.1 §4.4: a resend carries DUP
        assert again.payload == message.payload
        outcome = await asyncio.to_thread(
            service.handle, again.topic, again.payload, redelivered=again.dup
        )
        second.ack(again)
    finally:
        await asyncio.to_thread(second.close)
    assert outcome.duplicate
    assert outcome.event_id == committed.event_id
    plant = [r for r in services.events.recent() if r.stored.event.group_id == "plant"]
    assert len(plant) == 1


@pytest.mark.postgres
def test_dead_letters_on_postgres_are_kept_and_pruned(tmp_path: Path) -> None:
    with pg_schema_url() as url:
        services = Services.open(tmp_path / "data", database_url=url)
        try:
            service = MqttService(services)
            for n in range(3):
                service.handle(f"t/{n}", b"\xff not utf-8")
            letters = service.dead_letters
            assert [d.topic for d in letters.newest()] == ["t/2", "t/1", "t/0"]
            assert letters.newest()[0].reason == "malformed_json"
            assert "\ufffd" in letters.newest()[0].excerpt
            letters.record(DeadLetter(time.time(), "t/new", "x", "", 1, ""), keep=2)
            assert [d.topic for d in letters.newest()] == ["t/new", "t/2"]
            assert letters.count() == 2
            # Past the age limit: gone at the next record.
            letters.record(DeadLetter(time.time() + MAX_AGE + 10, "t/later", "x", "", 1, ""))
            assert [d.topic for d in letters.newest()] == ["t/later"]
        finally:
            services.close()
