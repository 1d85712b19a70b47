"""Fixtures for discovery: dnsmasq and the autoconfig HTTPS server, once per module."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from discovery_servers import discovery_ca, discovery_options, dns_server, https_server

__all__ = ["discovery_ca", "discovery_options", "dns_server", "https_server", "silent_dns"]


@pytest.fixture
def silent_dns() -> Iterator[int]:
    """A UDP port where a DNS server should be, but whose queries nobody answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])
