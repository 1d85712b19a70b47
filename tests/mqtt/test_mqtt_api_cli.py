"""The MQTT settings through the REST API and the CLI: validated once, password write-only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from helpers import LiveServer, tocsin_cli
from tocsin.app import create_app
from tocsin.intake.mqtt.config import MqttSettings, apply_update, topic_problem
from tocsin.intake.mqtt.service import MqttService, MqttStatus
from tocsin.services.context import Services


@pytest.fixture
def api(services: Services) -> Iterator[httpx.Client]:
    live = LiveServer(create_app(services))
    token, _ = services.accounts.create_token("tests", ("admin",))
    with httpx.Client(
        base_url=live.url, timeout=30, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        yield client
    live.close()


def test_the_api_saves_valid_settings_and_never_shows_the_password(api: httpx.Client) -> None:
    answer = api.put(
        "/api/v1/intake/mqtt",
        json={
            "enabled": True,
            "host": "broker.example.net",
            "tls": True,
            "username": "tocsin",
            "password": "s3cret-broker-pass",
            "topics": ["site/+/events", "alarms/#"],
        },
    )
    assert answer.status_code == 200, answer.text
    assert "s3cret-broker-pass" not in answer.text
    settings = api.get("/api/v1/intake/mqtt").json()["settings"]
    assert settings["port"] == 8883  # TLS on: its default port
    assert settings["password"] is None
    assert settings["password_set"] is True
    assert settings["client_id"].startswith("tocsin-")
    assert settings["qos"] == 1
    # Leaving the password out keeps it; the client id stays stable.
    again = api.put("/api/v1/intake/mqtt", json={"topics": ["alarms/#"]}).json()["settings"]
    assert again["password_set"] is True
    assert again["client_id"] == settings["client_id"]


def test_the_api_refuses_bad_settings_naming_each_field(api: httpx.Client) -> None:
    answer = api.put(
        "/api/v1/intake/mqtt?lang=de",
        json={"enabled": True, "host": "bad host!", "port": 0, "topics": ["a/#/b"], "colour": 1},
    )
    assert answer.status_code == 422
    fields = {i["field"] for i in answer.json()["issues"]}
    assert fields == {"host", "port", "topics", "colour"}
    topic = next(i for i in answer.json()["issues"] if i["field"] == "topics")
    assert "kein gültiges Abonnement" in topic["message"]
    assert api.get("/api/v1/intake/mqtt").json()["settings"]["enabled"] is False


def test_the_api_needs_an_admin(services: Services) -> None:
    live = LiveServer(create_app(services))
    try:
        assert httpx.get(f"{live.url}/api/v1/intake/mqtt", timeout=10).status_code == 401
        assert httpx.put(f"{live.url}/api/v1/intake/mqtt", json={}, timeout=10).status_code == 401
    finally:
        live.close()


@pytest.mark.parametrize(
    ("topic", "ok"),
    [
        ("a/b", True),
        ("a/+/c", True),
        ("#", True),
        ("a/#", True),
        ("a/#/b", False),
        ("a/b+", False),
        ("", False),
        ("a\x00b", False),
        ("x" * 201, False),
    ],
)
def test_topic_filters(topic: str, ok: bool) -> None:
    assert (topic_problem(topic) is None) is ok


def test_a_password_needs_a_username_and_enabled_needs_host_and_topics() -> None:
    _, report = apply_update(MqttSettings(), {"password": "x", "enabled": "true"})
    assert {i.field for i in report.errors} == {"username", "host", "topics"}


def test_the_cli_sets_shows_and_reports_status(tmp_path: Path) -> None:
    env = {**os.environ, "TOCSIN_DATA": str(tmp_path / "data"), "NO_COLOR": "1"}
    tocsin_cli(env, "mqtt", "set", "host=127.0.0.1", "topics=a/#,b/+/c", "username=u")
    tocsin_cli(env, "mqtt", "password", stdin="broker-secret\n")
    shown = tocsin_cli(env, "mqtt", "show")
    assert "a/#, b/+/c" in shown
    assert "broker-secret" not in shown
    assert json.loads(tocsin_cli(env, "mqtt", "show", "--json"))["password_set"] is True
    status = tocsin_cli(env, "mqtt", "status", "--lang", "de")
    assert "Läuft nicht" in status
    refused = subprocess.run(
        [sys.executable, "-m", "tocsin", "mqtt", "set", "port=99999", "password=x"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 2
    assert "tocsin mqtt password" in refused.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "tocsin", "mqtt", "set", "port=99999"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2
    assert "port" in bad.stderr


def test_the_password_is_encrypted_at_rest(services: Services) -> None:
    service = MqttService(services)
    service.update({"username": "u", "password": "plain-text-never"})
    raw = services.store.get_value("mqtt_settings") or ""
    assert "plain-text-never" not in raw
    assert service.load().password is not None


def test_a_status_nobody_rewrites_shows_as_stopped(services: Services) -> None:
    service = MqttService(services)
    now = time.time()
    service.set_status(MqttStatus("connected", now - 600, broker="b:1883", seen=now - 10))
    assert service.status().state == "connected"
    service.set_status(MqttStatus("connected", now - 600, broker="b:1883", seen=now - 100))
    assert service.status().state == "stopped"  # tocsin serve was killed


def test_a_missing_ca_file_is_refused_and_password_null_clears(
    api: httpx.Client, tmp_path: Path
) -> None:
    answer = api.put("/api/v1/intake/mqtt", json={"tls": True, "ca_file": str(tmp_path / "no.pem")})
    assert answer.status_code == 422
    assert answer.json()["issues"][0]["field"] == "ca_file"
    assert api.put("/api/v1/intake/mqtt", json={"username": "u", "password": "p"}).is_success
    cleared = api.put("/api/v1/intake/mqtt", json={"password": None}).json()["settings"]
    assert cleared["password_set"] is False
