"""Where mail for a domain goes: MX records (RFC 5321 §5.1), then the address itself.

A :class:`Resolver` is injected into the delivery transport, so tests and operators
can route a domain anywhere (``StaticResolver``) without DNS.  Failures are errors of
the tree at step ``resolve``: temporary (timeout, SERVFAIL) or permanent (no such
domain, null MX of RFC 7505).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import dns.asyncresolver
import dns.exception
import dns.rdatatype
import dns.resolver

from tocsin.errors import ConnectFailed, PermanentFailure, Reason, Step

__all__ = ["DNSResolver", "Destination", "Resolver", "StaticResolver", "parse_destination"]


@dataclass(frozen=True, slots=True)
class Destination:
    """One server to try: host name (or address) and port."""

    host: str
    port: int = 25

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_destination(text: str, default_port: int = 25) -> Destination:
    """``host``, ``host:port`` or ``[v6]:port``; ``ValueError`` if the port is bad."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":") or str(default_port)
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, str(default_port)
    number = int(port)
    if not host or not 0 < number < 65536:
        raise ValueError(f"'{text}' is not host:port")
    return Destination(host, number)


class Resolver(Protocol):
    """Finds the servers for a recipient domain, most preferred first."""

    async def destinations(self, domain: str) -> list[Destination]:
        """The servers to try in order; raises a DeliveryError at step ``resolve``."""
        ...


def _permanent(domain: str, why: str) -> PermanentFailure:
    return PermanentFailure(f"{domain}: {why}", step=Step.RESOLVE, reason=Reason.DNS_FAILED)


def _temporary(domain: str, why: str) -> ConnectFailed:
    return ConnectFailed(f"{domain}: {why}", step=Step.RESOLVE, reason=Reason.DNS_FAILED)


class DNSResolver:
    """MX lookup with dnspython; no MX means the domain's own A/AAAA (implicit MX).

    ``port`` is the SMTP port of the servers found.  The DNS servers are the system's
    (``/etc/resolv.conf``) unless ``nameservers`` (addresses) are given, asked on
    ``dns_port``; one lookup, retries included, takes at most ``lifetime`` seconds.
    """

    def __init__(
        self,
        *,
        port: int = 25,
        lifetime: float = 10.0,
        nameservers: Sequence[str] = (),
        dns_port: int = 53,
    ) -> None:
        self._port = port
        self._resolver = dns.asyncresolver.Resolver(configure=not nameservers)
        if nameservers:
            self._resolver.nameservers = list(nameservers)
        self._resolver.port = dns_port
        self._resolver.lifetime = lifetime

    async def destinations(self, domain: str) -> list[Destination]:
        """MX hosts by preference (equal ones shuffled, §5.1), or the domain itself."""
        try:
            answer = await self._resolver.resolve(domain, "MX")
        except dns.resolver.NXDOMAIN:
            raise _permanent(domain, "no such domain") from None
        except dns.resolver.NoAnswer:
            return await self._implicit(domain)
        except (dns.resolver.NoNameservers, dns.exception.Timeout) as exc:
            raise _temporary(domain, f"DNS lookup failed: {exc}") from exc
        records = [
            (r.preference, random.random(), r.exchange.to_text(omit_final_dot=True))  # noqa: S311
            for r in answer
        ]
        if len(records) == 1 and records[0][2] in ("", "."):
            raise _permanent(domain, "the domain accepts no mail (null MX, RFC 7505)")
        return [Destination(host, self._port) for _, _, host in sorted(records)]

    async def _implicit(self, domain: str) -> list[Destination]:
        for rdtype in ("A", "AAAA"):
            try:
                await self._resolver.resolve(domain, rdtype)
            except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
                continue
            except (dns.resolver.NoNameservers, dns.exception.Timeout) as exc:
                raise _temporary(domain, f"DNS lookup failed: {exc}") from exc
            return [Destination(domain, self._port)]
        raise _permanent(domain, "no MX and no address records")


class StaticResolver:
    """Fixed routes per domain (tests, transport maps); other domains go to ``fallback``."""

    def __init__(
        self,
        routes: Mapping[str, Sequence[Destination]],
        fallback: Resolver | None = None,
    ) -> None:
        self._routes = {k.lower().rstrip("."): list(v) for k, v in routes.items()}
        self._fallback = fallback

    async def destinations(self, domain: str) -> list[Destination]:
        """The fixed route, else the fallback's answer, else a permanent failure."""
        route = self._routes.get(domain.lower().rstrip("."))
        if route:
            return list(route)
        if self._fallback is not None:
            return await self._fallback.destinations(domain)
        raise _permanent(domain, "no route to this domain")
