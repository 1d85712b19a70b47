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

from helpers import RealSMTP
from relay.relay_support import RECIPIENT_DOMAIN, InProcessRelay, serve_options
from tocsin.relay.config import DeliveryOptions, RelayConfig
from tocsin.relay.mx import Destination, StaticResolver
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
def running_relay(tmp_path: Path, *, deliver_to: RealSMTP | None = None) -> Iterator[WebRelay]:
    """A relay on a free port of 127.0.0.1 with the device ``site-7``.

    No delivery worker unless ``deliver_to``: the settings page mostly asks the relay who
    the device is.  With ``deliver_to``, mail for example.net goes on to that Postfix's MX
    port (STARTTLS, its CA trusted), so a test email's report can follow it to delivery.
    """
    cert = tmp_path / "relay.pem"
    store = open_relay_store(tmp_path / "relay.db")
    with TestCA() as ca, contextlib.closing(store):
        leaf = ca.trustme_ca.issue_cert("localhost", "127.0.0.1")
        leaf.private_key_and_cert_chain_pem.write_to_path(str(cert))
        config, options = RelayConfig(), serve_options(cert, worker=False)
        if deliver_to is not None:
            delivery = DeliveryOptions(ca_file=str(deliver_to.ca_path), timeout=10, deadline=20)
            config = RelayConfig(delivery=delivery)
            mx = [Destination("localhost", deliver_to.mx_port)]
            options = serve_options(cert, resolver=StaticResolver({RECIPIENT_DOMAIN: mx}))
        service = RelayService(store, config)
        credential, _ = service.add_device(DEVICE, ["@site.example.org"])
        relay = InProcessRelay(service, options).start()
        web_relay = WebRelay(relay, ca, credential)
        try:
            yield web_relay
        finally:
            web_relay.stop()
