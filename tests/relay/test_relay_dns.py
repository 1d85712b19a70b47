"""DNSResolver against a real DNS server: dnsmasq on 127.0.0.1 with the records below.

MX by preference (RFC 5321 §5.1), the implicit MX of a domain with only A or AAAA
records, NXDOMAIN and null MX (RFC 7505) as permanent failures, a refusing or silent
server as a temporary one; and the relay's worker finding an MX through it.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from relay_support import SITE_SENDER, InProcessRelay, serve_options

from dnsmasq import running_dnsmasq
from tocsin.errors import PermanentFailure, Reason, Step, TemporaryFailure
from tocsin.relay.config import DeliveryOptions, RelayConfig
from tocsin.relay.mx import Destination, DNSResolver
from tocsin.relay.service import Envelope, RelayService
from tocsin.relay.store import RelayStore
from tocsin.testing import SMTPTestServer, TestCA

RECORDS = [
    # several MX hosts: preference 10 first, the two of preference 20 in any order
    "--mx-host=multi.example.test,mx-b.example.test,20",
    "--mx-host=multi.example.test,mx-a.example.test,10",
    "--mx-host=multi.example.test,mx-c.example.test,20",
    "--mx-host=single.example.test,mail.single.example.test,5",
    "--mx-host=relayed.example.net,localhost,10",  # the relay's worker delivers here
    "--host-record=aonly.example.test,127.0.0.1",  # no MX: the address itself
    "--host-record=v6only.example.test,::1",
    "--txt-record=nomail.example.test,v=spf1 -all",  # exists, but neither MX nor address
    "--dns-rr=nullmx.example.test,15,000000",  # MX 0 "." (RFC 7505): preference 0, root
    # Names under example.test that are not above do not exist (NXDOMAIN); names
    # elsewhere are refused (no upstream server).
    "--local=/example.test/",
]


@dataclass(frozen=True)
class DNSServer:
    host: str
    port: int

    def resolver(self, **options: float) -> DNSResolver:
        """A DNSResolver that asks this server; SMTP port 2525 for what it finds."""
        return DNSResolver(port=2525, nameservers=[self.host], dns_port=self.port, **options)


@pytest.fixture(scope="module")
def dns_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DNSServer]:
    """dnsmasq in the foreground on a free loopback port, answering only from RECORDS."""
    log_dir = tmp_path_factory.mktemp("dnsmasq")
    with running_dnsmasq(RECORDS, probe="single.example.test", log_dir=log_dir) as found:
        yield DNSServer(found.host, found.port)


@pytest.fixture
def silent_dns() -> Iterator[int]:
    """A UDP port where a DNS server should be, but whose queries nobody answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


async def test_mx_hosts_come_by_preference_equal_ones_in_random_order(
    dns_server: DNSServer,
) -> None:
    resolver = dns_server.resolver()
    seen: set[tuple[str, ...]] = set()
    for _ in range(40):  # both orders of the two equal ones: all but certain in 40 tries
        found = await resolver.destinations("multi.example.test")
        assert found[0] == Destination("mx-a.example.test", 2525)
        assert {d.host for d in found[1:]} == {"mx-b.example.test", "mx-c.example.test"}
        assert {d.port for d in found} == {2525}
        seen.add(tuple(d.host for d in found))
    assert len(seen) == 2
    assert await resolver.destinations("single.example.test") == [
        Destination("mail.single.example.test", 2525)
    ]


@pytest.mark.parametrize("domain", ["aonly.example.test", "v6only.example.test"])
async def test_a_domain_without_mx_is_its_own_mail_server(
    dns_server: DNSServer, domain: str
) -> None:
    assert await dns_server.resolver().destinations(domain) == [Destination(domain, 2525)]


@pytest.mark.parametrize(
    ("domain", "why"),
    [
        ("missing.example.test", "missing.example.test: no such domain"),
        (
            "nullmx.example.test",
            "nullmx.example.test: the domain accepts no mail (null MX, RFC 7505)",
        ),
        ("nomail.example.test", "nomail.example.test: no MX and no address records"),
    ],
)
async def test_domains_that_take_no_mail_fail_permanently(
    dns_server: DNSServer, domain: str, why: str
) -> None:
    with pytest.raises(PermanentFailure) as failed:
        await dns_server.resolver().destinations(domain)
    assert str(failed.value) == f"resolve: {why}"  # the step, the domain, why
    assert failed.value.step is Step.RESOLVE
    assert failed.value.reason is Reason.DNS_FAILED


async def test_a_refusing_server_is_a_temporary_failure(dns_server: DNSServer) -> None:
    with pytest.raises(TemporaryFailure) as failed:
        await dns_server.resolver().destinations("elsewhere.invalid")
    assert failed.value.step is Step.RESOLVE
    assert "REFUSED" in str(failed.value)


async def test_a_server_that_never_answers_is_a_temporary_failure_in_bounded_time(
    silent_dns: int,
) -> None:
    resolver = DNSResolver(nameservers=["127.0.0.1"], dns_port=silent_dns, lifetime=1.0)
    started = time.monotonic()
    with pytest.raises(TemporaryFailure) as failed:
        await resolver.destinations("multi.example.test")
    took = time.monotonic() - started
    assert 0.9 <= took < 3.0
    assert failed.value.step is Step.RESOLVE
    assert failed.value.reason is Reason.DNS_FAILED
    assert str(failed.value).startswith("resolve: multi.example.test: DNS lookup failed")


async def test_the_relay_worker_delivers_to_the_mx_it_looks_up(
    dns_server: DNSServer, relay_store: RelayStore, relay_cert: Path, ca: TestCA
) -> None:
    async with SMTPTestServer(tls="starttls", ca=ca) as mx:
        delivery = DeliveryOptions(
            ca_file=str(ca.ca_path),
            timeout=5,
            deadline=15,
            mx_port=mx.port,
            nameservers=(dns_server.host,),
            dns_port=dns_server.port,
        )
        config = RelayConfig(
            hostname="relay.example.com", domain="relay.example.com", delivery=delivery
        )
        service = RelayService(relay_store, config)
        _, device = service.add_device("site-1", ["@site.example.org"])
        content = (
            f"From: {SITE_SENDER}\r\nTo: ops@relayed.example.net\r\nSubject: Leak\r\n"
            "Message-ID: <dns-1@site.example.org>\r\n\r\nWater on the floor.\r\n"
        ).encode()
        envelope = Envelope(SITE_SENDER, ("ops@relayed.example.net",))
        await asyncio.to_thread(service.submit, device, envelope, content)
        options = serve_options(relay_cert, api=False)  # no resolver: the relay's own DNS
        relay = await asyncio.to_thread(InProcessRelay(service, options).start)
        try:
            for _ in range(300):
                if mx.messages:
                    break
                await asyncio.sleep(0.05)
        finally:
            await relay.astop()
    (message,) = mx.messages
    assert message.rcpt_tos == ("ops@relayed.example.net",)
    assert str(message.message()["Message-ID"]) == "<dns-1@site.example.org>"
