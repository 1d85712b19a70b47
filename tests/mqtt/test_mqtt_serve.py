"""The done-when of issue 14 (MQTT) with `tocsin serve` as a user runs it and the real
Mosquitto on 127.0.0.1:1883: nothing published while serve is down or killed is lost,
nothing is stored twice, and a malformed payload never blocks the next one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from mqtt_support import publish, unique, wait_until

from helpers import Serving, free_port, serving, tocsin_cli
from tocsin.intake.mqtt.service import MqttService
from tocsin.services.context import Services

EVENT = {"group": "plant", "device": "Door", "sensor": "contact", "category": "armed"}


def _setup(tmp_path: Path) -> tuple[dict[str, str], str]:
    env = {**os.environ, "TOCSIN_DATA": str(tmp_path / "data"), "NO_COLOR": "1"}
    env.pop("TOCSIN_MQTT_TEST_HOLD", None)
    topic = unique("site")
    tocsin_cli(env, "group", "add", "site", "--name", "Site")
    tocsin_cli(env, "group", "add", "plant", "--name", "Plant room", "--parent", "site")
    tocsin_cli(
        env,
        "mqtt",
        "set",
        "enabled=true",
        "host=127.0.0.1",
        "port=1883",
        f"client_id={unique('tocsin')}",
        f"topics={topic}/#",
    )
    return env, topic


def _look(env: dict[str, str]) -> tuple[list[str], str]:
    """(devices of the plant room's events, the subscriber's state)."""
    services = Services.open(env["TOCSIN_DATA"])
    try:
        events = services.events.recent(limit=100)
        state = MqttService(services).status().state
    finally:
        services.close()
    return [r.stored.event.device for r in events if r.stored.event.group_id == "plant"], state


def _connected(env: dict[str, str]) -> bool:
    return _look(env)[1] == "connected"


def test_messages_published_while_serve_is_stopped_arrive_after_it_starts(
    tmp_path: Path, machine_broker: tuple[str, int]
) -> None:
    env, topic = _setup(tmp_path)
    with serving(env):  # the first run subscribes: the broker keeps the session from now on
        wait_until(lambda: _connected(env), "subscribed")
    assert _look(env)[1] == "stopped"
    for device in ("Door 1", "Door 2", "Door 3"):
        publish(f"{topic}/doors", json.dumps({**EVENT, "device": device, "severity": "alarm"}))
    assert _look(env)[0] == []
    with serving(env):
        wait_until(lambda: len(_look(env)[0]) == 3, "the three events")
    assert sorted(_look(env)[0]) == ["Door 1", "Door 2", "Door 3"]


def test_a_sigkill_between_delivery_and_commit_loses_nothing_and_stores_nothing_twice(
    tmp_path: Path, machine_broker: tuple[str, int]
) -> None:
    env, topic = _setup(tmp_path)
    release = tmp_path / "release"
    process = subprocess.Popen(
        [sys.executable, "-m", "tocsin", "serve", "--port", str(free_port())],
        env={**env, "TOCSIN_MQTT_TEST_HOLD": str(release)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    held = Serving(process, "")
    try:
        wait_until(lambda: _connected(env), "subscribed")
        publish(f"{topic}/doors", json.dumps({**EVENT, "severity": "alarm"}))
        wait_until(Path(f"{release}.arrived").exists, "the broker delivered the message")
        process.send_signal(signal.SIGKILL)  # after the delivery, before the commit
    finally:
        assert held.stop() in (-signal.SIGKILL, 0)
    assert _look(env)[0] == []
    with serving(env):
        wait_until(lambda: _look(env)[0] == ["Door"], "the message, redelivered")
        publish(f"{topic}/doors", json.dumps({**EVENT, "device": "Marker", "severity": "alarm"}))
        wait_until(lambda: "Marker" in _look(env)[0], "a later message")
    assert sorted(_look(env)[0]) == ["Door", "Marker"]


def test_a_malformed_payload_is_dead_lettered_and_the_next_goes_through(
    tmp_path: Path, machine_broker: tuple[str, int]
) -> None:
    env, topic = _setup(tmp_path)
    token = tocsin_cli(env, "token", "create", "prometheus", "--scope", "admin").strip()
    with serving(env) as running:
        wait_until(lambda: _connected(env), "subscribed")
        publish(f"{topic}/x", b"{this is not json")
        publish(f"{topic}/x", json.dumps({**EVENT, "severity": "catastrophic"}))
        publish(f"{topic}/x", json.dumps({**EVENT, "device": "Next", "severity": "warning"}))
        wait_until(lambda: _look(env)[0] == ["Next"], "the next message's event")
        status = json.loads(tocsin_cli(env, "mqtt", "status", "--json"))
        metrics = httpx.get(
            f"{running.url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10
        ).text
    assert 'tocsin_mqtt_dead_letters_total{reason="malformed_json"} 1.0' in metrics
    assert 'tocsin_mqtt_messages_total{outcome="accepted"} 1.0' in metrics
    assert "tocsin_mqtt_connected 1.0" in metrics
    assert status["state"] == "connected"
    assert status["dead_letters"] == 2
    reasons = [d["reason"] for d in status["newest_dead_letters"]]
    assert reasons == ["field_choice", "malformed_json"]
