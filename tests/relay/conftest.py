"""Fixtures of the relay tests: certificates, a DKIM key, a relay store and service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from relay_support import (
    PG_URL,
    RELAY_DOMAIN,
    SITE_SENDER,
    InProcessRelay,
    relay_to_mx,
    unique_schema,
)

from helpers import RealSMTP
from tocsin.relay.config import DeliveryOptions, RelayConfig
from tocsin.relay.dkim_signer import DKIMKey, generate_private_key
from tocsin.relay.records import Device
from tocsin.relay.service import RelayService
from tocsin.relay.store import PostgresRelayStore, RelayStore, open_relay_store
from tocsin.testing import TestCA


@pytest.fixture(scope="session")
def ca() -> Iterator[TestCA]:
    """The CA the relay's HTTPS certificate and the test MX certificates come from."""
    with TestCA() as authority:
        yield authority


@pytest.fixture(scope="session")
def relay_cert(ca: TestCA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Key and certificate chain (one PEM) for ``localhost`` / ``127.0.0.1``."""
    path = tmp_path_factory.mktemp("relay-tls") / "relay.pem"
    leaf = ca.trustme_ca.issue_cert("localhost", "127.0.0.1", "::1")
    leaf.private_key_and_cert_chain_pem.write_to_path(str(path))
    return path


@pytest.fixture(scope="session")
def dkim_key(tmp_path_factory: pytest.TempPathFactory) -> DKIMKey:
    """The relay's signing key (generated once per session)."""
    path = tmp_path_factory.mktemp("dkim") / "dkim.pem"
    path.write_bytes(generate_private_key())
    return DKIMKey.load(path, domain=RELAY_DOMAIN, selector="tocsin")


@pytest.fixture
def relay_config(dkim_key: DKIMKey, ca: TestCA) -> RelayConfig:
    """A relay that signs for its own domain and trusts the test CA at MX hosts."""
    return RelayConfig(
        hostname="relay.example.com",
        domain=RELAY_DOMAIN,
        dkim=(dkim_key,),
        delivery=DeliveryOptions(ca_file=str(ca.ca_path), timeout=5, deadline=15),
    )


@pytest.fixture
def relay_store(tmp_path: Path) -> Iterator[RelayStore]:
    """A fresh SQLite relay store."""
    store = open_relay_store(tmp_path / "relay.db")
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema with the relay's tables, dropped afterwards."""
    schema = unique_schema()
    store = PostgresRelayStore(PG_URL, schema=schema)
    try:
        yield schema
    finally:
        store.drop_schema()
        store.close()


@pytest.fixture
def service(relay_store: RelayStore, relay_config: RelayConfig) -> RelayService:
    """The relay's use cases over the SQLite store."""
    return RelayService(relay_store, relay_config)


@pytest.fixture
def device(service: RelayService) -> tuple[str, Device]:
    """A device allowed to send from the site's domain: (credential, record)."""
    return service.add_device("site-1", ["@site.example.org"], quota_per_hour=3600, burst=50)


@pytest.fixture
def front(
    real_smtp: RealSMTP, relay_store: RelayStore, dkim_key: DKIMKey, relay_cert: Path
) -> Iterator[tuple[str, InProcessRelay]]:
    """A relay with its SMTP front, delivering example.net to the real Postfix's MX
    port; device site-1's credential and the relay."""
    _, credential, relay = relay_to_mx(
        relay_store,
        dkim_key,
        relay_cert,
        mx_port=real_smtp.mx_port,
        mx_ca_file=real_smtp.ca_path,
        smtp=True,
    )
    try:
        yield credential, relay
    finally:
        relay.stop()


__all__ = ["SITE_SENDER"]
