"""How one relay is set up: its names, its DKIM keys, where and how it delivers.

Built once by the face (``tocsin relay serve`` options and ``TOCSIN_RELAY_*``
variables) and handed to the service and the workers; nothing reads it from a store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from tocsin.relay.dkim_signer import DKIMKey
from tocsin.relay.mx import Destination
from tocsin.relay.rewrite import SigningPolicy
from tocsin.secret import Secret

__all__ = ["DeliveryOptions", "RelayConfig", "Smarthost"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Smarthost:
    """Deliver everything through this server instead of the recipients' MX (STARTTLS)."""

    host: str
    port: int = 587
    username: str = ""
    password: Secret | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class DeliveryOptions:
    """Outbound delivery: TLS trust, per-destination connections and rate, timeouts."""

    ca_file: str = ""  # trust this CA for MX certificates too (default: system store)
    connections_per_destination: int = 2
    rate_per_destination: float = 20.0  # messages per second to one MX host
    burst_per_destination: int = 40
    max_rate_wait: float = 5.0  # longer waits hand the message back to the queue
    timeout: float = 30.0
    deadline: float = 120.0
    idle_timeout: float = 30.0  # keep an idle connection to an MX this long
    routes: Mapping[str, tuple[Destination, ...]] = field(default_factory=dict)
    smarthost: Smarthost | None = None
    mx_port: int = 25
    # The DNS servers asked for MX records (addresses, on dns_port); empty: the system's.
    nameservers: tuple[str, ...] = ()
    dns_port: int = 53


@dataclass(frozen=True, kw_only=True, slots=True)
class RelayConfig:
    """The relay's identity and signing, plus its delivery options."""

    hostname: str = "localhost"  # EHLO name and Received "by"
    domain: str = "localhost"  # the relay's own mail domain
    from_local: str = "alerts"  # rewritten From: alerts@<domain>
    bounce_local: str = "bounces"  # envelope sender: bounces@<domain>
    dkim: tuple[DKIMKey, ...] = ()
    delivery: DeliveryOptions = field(default_factory=DeliveryOptions)

    @property
    def relay_from(self) -> str:
        """The From of messages whose own domain the relay does not sign for."""
        return f"{self.from_local}@{self.domain}"

    @property
    def bounce_address(self) -> str:
        """The envelope sender (RFC 5321 §4.5.5 bounces come back to the relay)."""
        return f"{self.bounce_local}@{self.domain}"

    def signing(self) -> SigningPolicy:
        """The rewrite and signing policy for :func:`tocsin.relay.rewrite.prepare`."""
        return SigningPolicy(
            keys={k.domain: k for k in self.dkim},
            relay_from=self.relay_from,
            hostname=self.hostname,
        )
