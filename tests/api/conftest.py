"""A live Tocsin API over a fresh data directory, and authenticated clients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from helpers import LiveServer
from tocsin.app import create_app
from tocsin.services.context import Services

ADMIN, ADMIN_PASSWORD = "admin", "a long admin passphrase"


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    opened = Services.open(tmp_path / "data")
    yield opened
    opened.close()


@pytest.fixture
def server(services: Services) -> Iterator[LiveServer]:
    live = LiveServer(create_app(services))
    yield live
    live.close()


@pytest.fixture
def admin_token(services: Services) -> str:
    token, _ = services.accounts.create_token("tests", ("admin",))
    return token


@pytest.fixture
def api(server: LiveServer, admin_token: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {admin_token}"}
    ) as client:
        yield client
