"""Real local servers for settings discovery: dnsmasq (SRV, MX, A) and an HTTPS server.

Every name under ``example.test`` that discovery asks for resolves through dnsmasq on a
free loopback port; the autoconfig hosts resolve to 127.0.0.1, where one HTTPS server
(certificates from a TestCA, picked by SNI) answers per ``Host``:

- ``autoconfig.found.example.test``: a valid document (STARTTLS on 587, SSL on 465);
- ``wellknown.example.test``: a valid document at ``/.well-known/…`` only;
- ``autoconfig.moved.example.test``: a redirect to ``found``'s document;
- ``autoconfig.slow.example.test``: accepts, then never answers;
- ``autoconfig.badcert.example.test``: a certificate from a CA nobody trusts;
- ``autoconfig.garbage.example.test``: not XML;
- ``autoconfig.huge.example.test``: 1 MiB without a length;
- ``autoconfig.dtd.example.test``: an entity bomb;
- ``autoconfig.insecure.example.test``: a redirect to plain HTTP;
- ``autoconfig.loop.example.test``: a redirect to itself.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Iterator
from contextlib import suppress

import pytest
import trustme

from dnsmasq import DNSAddress, running_dnsmasq
from tocsin.providers.discovery import DiscoveryOptions
from tocsin.testing import TestCA, finish_loop

DOCUMENT = b"""<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="found.example.test">
    <domain>found.example.test</domain>
    <incomingServer type="imap"><hostname>imap.found.example.test</hostname>
      <port>993</port><socketType>SSL</socketType></incomingServer>
    <outgoingServer type="smtp">
      <hostname>smtp.%EMAILDOMAIN%</hostname><port>587</port><socketType>STARTTLS</socketType>
      <authentication>password-cleartext</authentication><username>%EMAILADDRESS%</username>
    </outgoingServer>
    <outgoingServer type="smtp">
      <hostname>smtp.found.example.test</hostname><port>465</port><socketType>SSL</socketType>
      <authentication>OAuth2</authentication>
    </outgoingServer>
  </emailProvider>
</clientConfig>
"""
BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">]>
<clientConfig><emailProvider>&lol2;</emailProvider></clientConfig>
"""
AUTOCONFIG_PATH = "/mail/config-v1.1.xml"
WELL_KNOWN_PATH = "/.well-known/autoconfig/mail/config-v1.1.xml"

HTTPS_HOSTS = [
    f"autoconfig.{name}.example.test"
    for name in (
        "found",
        "moved",
        "slow",
        "badcert",
        "garbage",
        "huge",
        "dtd",
        "srv",
        "m365",
        "insecure",
        "loop",
    )
] + ["wellknown.example.test"]
RECORDS = [
    *(f"--host-record={host},127.0.0.1" for host in HTTPS_HOSTS),
    # SRV: implicit TLS preferred by RFC 8314, STARTTLS as well; "slow" has one too.
    "--srv-host=_submissions._tcp.srv.example.test,mail.srv.example.test,465,0,1",
    "--srv-host=_submission._tcp.srv.example.test,mail.srv.example.test,587,10,1",
    "--srv-host=_submission._tcp.slow.example.test,smtp.slow.example.test,587,0,1",
    "--srv-host=_submissions._tcp.noservice.example.test",  # target ".": no such service
    # MX: Microsoft 365, Google Workspace, an unknown provider.
    "--mx-host=m365.example.test,m365-example-test.mail.protection.outlook.com,0",
    "--mx-host=gws.example.test,alt1.aspmx.l.google.com,5",
    "--mx-host=gws.example.test,aspmx.l.google.com,1",
    "--mx-host=plain.example.test,mx.plain.example.test,10",
    "--local=/example.test/",  # everything else under example.test: NXDOMAIN
]


# ---------------------------------------------------------------- dnsmasq
DNSServer = DNSAddress


# ---------------------------------------------------------------- HTTPS


class AutoconfigServer:
    """An HTTPS server on 127.0.0.1 (its own loop thread) answering per ``Host``."""

    def __init__(self, ca: TestCA) -> None:
        trusted = [h for h in HTTPS_HOSTS if "badcert" not in h]
        self._context = _context(ca.trustme_ca.issue_cert(*trusted))
        self._untrusted = _context(trustme.CA().issue_cert("autoconfig.badcert.example.test"))
        self._context.sni_callback = self._pick
        self.requests: list[tuple[str, str]] = []
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        self.port: int = self._server.sockets[0].getsockname()[1]

    def _run(self) -> None:
        self._loop.run_forever()
        finish_loop(self._loop, linger=0.5)

    def _pick(self, sock: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> None:
        if name == "autoconfig.badcert.example.test":
            sock.context = self._untrusted

    async def _start(self) -> asyncio.Server:
        self._stop = asyncio.Event()
        return await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self._context)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            target = lines[0].split(" ")[1]
            host = next(
                (
                    line.split(":", 1)[1].strip()
                    for line in lines
                    if line.lower().startswith("host:")
                ),
                "",
            )
            self.requests.append((host, target))
            await self._answer(host, target, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()
            with suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()

    async def _answer(self, host: str, target: str, writer: asyncio.StreamWriter) -> None:
        path = target.partition("?")[0]
        name = host.removeprefix("autoconfig.").partition(".")[0]
        body: bytes | None = None
        if name == "slow":
            await self._stop.wait()
            return
        if name == "moved" and path == AUTOCONFIG_PATH:
            location = f"https://autoconfig.found.example.test{target}"
            writer.write(
                f"HTTP/1.1 302 Found\r\nLocation: {location}\r\n"
                "Content-Length: 0\r\nConnection: close\r\n\r\n".encode()
            )
            return
        if name in ("insecure", "loop") and path == AUTOCONFIG_PATH:
            scheme = "http" if name == "insecure" else "https"
            location = f"{scheme}://autoconfig.{name}.example.test{target}"
            writer.write(
                f"HTTP/1.1 301 Moved\r\nLocation: {location}\r\n"
                "Content-Length: 0\r\nConnection: close\r\n\r\n".encode()
            )
            return
        if name == "huge":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nConnection: close\r\n\r\n")
            for _ in range(64):
                writer.write(b"<a>" + b"x" * 16380 + b"</a>")
                await writer.drain()
            return
        if (name in ("found", "srv") and path == AUTOCONFIG_PATH) or (
            host == "wellknown.example.test" and path == WELL_KNOWN_PATH
        ):
            body = DOCUMENT
        elif name == "garbage" and path == AUTOCONFIG_PATH:
            body = b"<<<this is not XML"
        elif name == "dtd" and path == AUTOCONFIG_PATH:
            body = BOMB
        if body is None:
            writer.write(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            return
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\nConnection: close\r\n\r\n"
            + body
        )
        await writer.drain()

    def close(self) -> None:
        async def stop() -> None:
            self._stop.set()
            self._server.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def _context(cert: trustme.LeafCert) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


# ---------------------------------------------------------------- fixtures (import them)


@pytest.fixture(scope="module")
def discovery_ca() -> Iterator[TestCA]:
    """The CA the autoconfig server's certificates come from (discovery trusts only it)."""
    with TestCA() as ca:
        yield ca


@pytest.fixture(scope="module")
def dns_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DNSServer]:
    """dnsmasq with RECORDS, for the module."""
    with running_dnsmasq(
        RECORDS, probe="gws.example.test", log_dir=tmp_path_factory.mktemp("dnsmasq")
    ) as server:
        yield server


@pytest.fixture(scope="module")
def https_server(discovery_ca: TestCA) -> Iterator[AutoconfigServer]:
    """The autoconfig HTTPS server, for the module."""
    server = AutoconfigServer(discovery_ca)
    yield server
    server.close()


@pytest.fixture
def discovery_options(
    dns_server: DNSServer, https_server: AutoconfigServer, discovery_ca: TestCA
) -> DiscoveryOptions:
    """Discovery options pointing at the local servers (1.5 s a source, 3 s in all)."""
    return options_for(
        dns_server, https_server, discovery_ca, source_timeout=1.5, total_timeout=3.0
    )


def options_for(
    dns_server: DNSServer, https: AutoconfigServer, ca: TestCA, **timeouts: float
) -> DiscoveryOptions:
    """Discovery asking these servers (and trusting only the test CA)."""
    return DiscoveryOptions(
        nameservers=(dns_server.host,),
        dns_port=dns_server.port,
        https_port=https.port,
        ca_file=str(ca.ca_path),
        **timeouts,
    )
