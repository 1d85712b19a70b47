"""The subscriber in process against a real Mosquitto: commit, then acknowledge;
dead letters never block; the broker's refusals become a clear status."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import trustme
from mqtt_support import private_broker, publish, unique

from helpers import LiveServer
from tocsin.app import create_app
from tocsin.intake.mqtt.service import MqttService, MqttStatus
from tocsin.intake.mqtt.subscriber import MqttMetrics, Subscriber
from tocsin.services.context import Services

EVENT = {
    "group": "plant",
    "device": "Leak sensor",
    "sensor": "floor",
    "category": "always",
    "severity": "alarm",
}


def _events(services: Services) -> list[str]:
    return [
        r.stored.event.device
        for r in services.events.recent(limit=100)
        if r.stored.event.group_id == "plant"
    ]


@asynccontextmanager
async def running(service: MqttService, metrics: MqttMetrics | None = None) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(Subscriber(service, metrics).run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


async def until(predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    async def poll() -> None:
        for _ in range(int(timeout / 0.05) + 1):
            if await asyncio.to_thread(predicate):
                return
            await asyncio.sleep(0.05)
        raise TimeoutError

    try:
        await asyncio.wait_for(poll(), timeout)
    except TimeoutError:
        raise AssertionError(f"not within {timeout} s: {what}") from None


def _configure(service: MqttService, topic: str, **changes: object) -> None:
    settings = {
        "enabled": True,
        "host": "127.0.0.1",
        "port": 1883,
        "client_id": unique("c"),
        "topics": f"{topic}/#",
        **changes,
    }
    _, report, saved = service.update(settings)
    assert saved, report


def _state(service: MqttService) -> MqttStatus:
    return service.status()


async def test_a_message_becomes_an_event_and_a_bad_one_a_dead_letter(
    services: Services, machine_broker: tuple[str, int]
) -> None:
    service = MqttService(services)
    topic = unique("site")
    _configure(service, topic)
    metrics = MqttMetrics()
    async with running(service, metrics):
        await until(lambda: _state(service).state == "connected", "connected")
        bad = [
            b"not json",
            json.dumps({**EVENT, "category": "earthquake"}).encode(),
            json.dumps({k: v for k, v in EVENT.items() if k != "device"}).encode(),
            json.dumps({**EVENT, "group": "nowhere"}).encode(),
            b"[1, 2]",
            b"{" + b" " * 70_000 + b"}",
        ]
        for payload in bad:
            await asyncio.to_thread(publish, f"{topic}/bad", payload)
        await asyncio.to_thread(publish, f"{topic}/good", json.dumps({**EVENT, "device": "After"}))
        await until(lambda: "After" in _events(services), "the good message's event")
    assert _events(services) == ["After"]
    letters = service.dead_letters.newest()
    assert sorted(d.reason for d in letters) == sorted(
        [
            "malformed_json",
            "field_choice",
            "field_missing",
            "unknown_group",
            "not_one_event",
            "payload_too_large",
        ]
    )
    assert all(d.topic == f"{topic}/bad" for d in letters)
    assert metrics.dead_letters.labels("malformed_json")._value.get() == 1
    assert metrics.messages.labels("accepted")._value.get() == 1
    # One system notice for the whole burst.
    assert list(services.events.open_system_problems()) == ["mqtt_dead_letter"]
    assert _state(service).state == "stopped"


async def test_a_message_is_acknowledged_only_after_the_commit(
    services: Services,
    machine_broker: tuple[str, int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = MqttService(services)
    topic = unique("site")
    _configure(service, topic)
    async with running(service):
        await until(lambda: _state(service).state == "connected", "connected")
    # Held before the commit, then stopped: the broker keeps the message (no PUBACK).
    release = tmp_path / "release"
    monkeypatch.setenv("TOCSIN_MQTT_TEST_HOLD", str(release))
    async with running(service):
        await until(lambda: _state(service).state == "connected", "connected again")
        await asyncio.to_thread(publish, f"{topic}/x", json.dumps(EVENT))
        await until(lambda: Path(f"{release}.arrived").exists(), "the message arrived")
    assert _events(services) == []
    monkeypatch.delenv("TOCSIN_MQTT_TEST_HOLD")
    async with running(service):
        await until(lambda: _events(services) == ["Leak sensor"], "redelivered and committed")
        await asyncio.sleep(0.5)
    assert _events(services) == ["Leak sensor"]


def test_a_redelivery_is_a_duplicate_but_the_same_content_sent_again_is_new(
    services: Services,
) -> None:
    service = MqttService(services)
    payload = json.dumps(EVENT).encode()
    first = service.handle("a/b", payload)
    again = service.handle("a/b", payload, redelivered=True)
    assert again.duplicate
    assert again.event_id == first.event_id
    fresh = service.handle("a/b", payload)
    assert fresh.accepted
    assert not fresh.duplicate
    assert fresh.event_id != first.event_id
    named = json.dumps({**EVENT, "client_event_id": "gw-1:7"}).encode()
    one, two = service.handle("a/b", named), service.handle("a/b", named)
    assert two.duplicate
    assert two.event_id == one.event_id
    assert len(_events(services)) == 3


async def test_a_broker_that_is_down_gives_a_clear_status_and_is_retried(
    services: Services, tmp_path: Path
) -> None:
    service = MqttService(services)
    topic = unique("site")
    with private_broker(tmp_path / "b1") as port:
        pass  # now nothing listens on port
    _configure(service, topic, port=port)
    async with running(service):
        await until(lambda: _state(service).error == "refused", "refused")
        status = _state(service)
        live = LiveServer(create_app(services))
        try:
            async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
                health = (await client.get("/healthz")).json()
        finally:
            live.close()
        assert health["status"] == "degraded"
        assert health["mqtt"] == {"state": "retrying", "error": "refused"}
        assert health["problems"][0]["code"] == "mqtt_broker"
        assert "refused the connection" in health["problems"][0]["message"]
        assert status.state == "retrying"
        assert status.retry_in >= 1
        assert status.broker == f"127.0.0.1:{port}"


async def test_username_and_password(services: Services, tmp_path: Path) -> None:
    service = MqttService(services)
    topic = unique("site")
    with private_broker(tmp_path / "auth", users={"tocsin": "right-pass"}) as port:
        _configure(service, topic, port=port, username="tocsin", password="wrong-pass", tls=False)
        async with running(service):
            await until(lambda: _state(service).error == "auth_failed", "auth refused")
            _, report, saved = service.update({"password": "right-pass"})
            assert saved, report
            await until(lambda: _state(service).state == "connected", "connected", timeout=30)
            await asyncio.to_thread(
                publish,
                f"{topic}/x",
                json.dumps(EVENT),
                port=port,
                extra=("-u", "tocsin", "-P", "right-pass"),
            )
            await until(lambda: _events(services) == ["Leak sensor"], "the event")
    assert "right-pass" not in json.dumps(_state(service).as_dict())


async def test_tls_is_verified(services: Services, tmp_path: Path) -> None:
    service = MqttService(services)
    topic = unique("site")
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with private_broker(tmp_path / "tls", ca=ca) as port:
        _configure(service, topic, port=port, tls=True)
        async with running(service):
            await until(
                lambda: _state(service).error == "tls_failed", "untrusted certificate refused"
            )
            _, report, saved = service.update({"ca_file": str(ca_file)})
            assert saved, report
            await until(
                lambda: _state(service).state == "connected", "connected over TLS", timeout=30
            )
            await asyncio.to_thread(
                publish,
                f"{topic}/x",
                json.dumps(EVENT),
                port=port,
                extra=("--cafile", str(ca_file)),
            )
            await until(lambda: _events(services) == ["Leak sensor"], "the event over TLS")


async def test_a_process_told_off_does_not_subscribe(
    services: Services, machine_broker: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    service = MqttService(services)
    _configure(service, unique("site"))
    monkeypatch.setenv("TOCSIN_MQTT_INTAKE", "off")
    async with running(service):
        await asyncio.sleep(0.5)
        assert _state(service).state == "stopped"  # nothing written, nothing connected
