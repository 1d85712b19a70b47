"""Fixtures of the intake tests: services on SQLite (and PostgreSQL), a live API, tokens."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from intake_support import Clock, pg_services, set_up_site, use_clock

from helpers import LiveServer
from tocsin.app import create_app
from tocsin.services.context import Services
from tocsin.store.postgres import PostgresStore


@pytest.fixture
def clock() -> Clock:
    """The intake's clock, a minute into an hour."""
    return Clock()


@pytest.fixture
def services(tmp_path: Path, clock: Clock) -> Iterator[Services]:
    """Services on a fresh SQLite store with the standard site and sender."""
    opened = Services.open(tmp_path / "data")
    use_clock(opened, clock)
    set_up_site(opened)
    yield opened
    opened.close()


@pytest.fixture
def pg(tmp_path: Path, clock: Clock) -> Iterator[Services]:
    """The same on PostgreSQL, in a schema of its own. Fails (never skips) when it is down."""
    opened = pg_services(tmp_path)
    assert isinstance(opened.store, PostgresStore)
    try:
        use_clock(opened, clock)
        set_up_site(opened)
        yield opened
    finally:
        opened.store.drop_schema()
        opened.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> Services:
    """Each conformance test runs once per backend."""
    fixture = "services" if request.param == "sqlite" else "pg"
    return request.getfixturevalue(fixture)  # type: ignore[no-any-return]


@pytest.fixture
def server(services: Services) -> Iterator[LiveServer]:
    """The real app on a real port."""
    live = LiveServer(create_app(services))
    yield live
    live.close()


def _client(server: LiveServer, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {token}"}
    )


@pytest.fixture
def device(server: LiveServer, services: Services) -> Iterator[httpx.Client]:
    """A client with an events-only token (what a gateway gets)."""
    token, _ = services.accounts.create_token("gateway", ("events",))
    with _client(server, token) as client:
        yield client


@pytest.fixture
def admin(server: LiveServer, services: Services) -> Iterator[httpx.Client]:
    """A client with an admin token."""
    token, _ = services.accounts.create_token("admin", ("admin",))
    with _client(server, token) as client:
        yield client
