"""The real relay for the web tests: ``tocsin.relay`` in process over HTTPS, one device.

It runs as the relay tests run it (``InProcessRelay`` and ``serve_options`` of
tests/relay/relay_support.py): the relay's own API on 127.0.0.1, a certificate for
``localhost`` from a throw-away CA, devices in an SQLite relay store.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from relay.relay_support import InProcessRelay, serve_options
from tocsin.relay.config import RelayConfig
from tocsin.relay.service import RelayService
from tocsin.relay.store import open_relay_store
from tocsin.services.context import Services
from tocsin.testing import TestCA

DEVICE = "site-7"
SENDER = "alarms@site.example.org"


@dataclass
class WebRelay:
    """A running relay, the CA its certificate comes from, and the device's credential."""

    relay: InProcessRelay
    ca: TestCA
    credential: str
    running: bool = True

    @property
    def url(self) -> str:
        """The relay's API, ``https://localhost:<port>``."""
        return self.relay.api_url

    def enrol(self, services: Services, *, ca_file: Path | None = None) -> None:
        """Set the appliance up as ``tocsin online enroll`` does, trusting ``ca_file``
        (the relay's own CA unless told otherwise)."""
        _, report, saved = services.settings.update(
            {
                "transport": "online",
                "relay_url": self.url,
                "device_id": DEVICE,
                "device_credential": self.credential,
                "sender_address": SENDER,
                "ca_file": str(ca_file or self.ca.ca_path),
            }
        )
        assert saved, report

    def revoke(self) -> None:
        """Revoke the device's credential at the relay (the operator's ``device revoke``)."""
        assert self.relay.service.revoke_device(DEVICE)

    def stop(self) -> None:
        """Stop the relay: its port is closed from then on."""
        if self.running:
            self.running = False
            self.relay.stop()


@contextlib.contextmanager
def running_relay(tmp_path: Path) -> Iterator[WebRelay]:
    """A relay on a free port of 127.0.0.1 with the device ``site-7`` (no delivery worker:
    the settings page only asks the relay who the device is)."""
    cert = tmp_path / "relay.pem"
    store = open_relay_store(tmp_path / "relay.db")
    with TestCA() as ca, contextlib.closing(store):
        leaf = ca.trustme_ca.issue_cert("localhost", "127.0.0.1")
        leaf.private_key_and_cert_chain_pem.write_to_path(str(cert))
        service = RelayService(store, RelayConfig())
        credential, _ = service.add_device(DEVICE, ["@site.example.org"])
        relay = InProcessRelay(service, serve_options(cert, worker=False)).start()
        web_relay = WebRelay(relay, ca, credential)
        try:
            yield web_relay
        finally:
            web_relay.stop()
