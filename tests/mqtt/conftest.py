"""Fixtures of the MQTT tests: the machine's Mosquitto, services with a small site."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mqtt_support import MACHINE_BROKER, broker_answers

from tocsin.services.context import Services

SITE = {
    "groups": [
        {"id": "site", "name": "Site"},
        {"id": "plant", "name": "Plant room", "parent": "site"},
    ]
}


@pytest.fixture(scope="session")
def machine_broker() -> tuple[str, int]:
    """127.0.0.1:1883; fails (never skips) when it is down: scripts/mosquitto/ensure.sh."""
    assert broker_answers(*MACHINE_BROKER), (
        "Mosquitto is not running on 127.0.0.1:1883: run scripts/mosquitto/ensure.sh"
    )
    return MACHINE_BROKER


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    """Services on a fresh SQLite store with the groups site and plant."""
    opened = Services.open(tmp_path / "data")
    report = opened.sites.import_site(SITE)
    assert report.applied, report
    yield opened
    opened.close()
