"""Find the SMTP settings of a sender address: autoconfig, DNS SRV, MX, known domains.

"Find settings" asks, all at once and each within its own time:

1. the autoconfig document, ``https://autoconfig.<domain>/mail/config-v1.1.xml?emailaddress=…``
   and ``https://<domain>/.well-known/autoconfig/mail/config-v1.1.xml``, over HTTPS with
   verified certificates (httpx), parsed by :func:`~tocsin.providers.autoconfig.parse_autoconfig`;
2. DNS SRV records (RFC 6186, RFC 8314): ``_submissions._tcp`` (implicit TLS) and
   ``_submission._tcp`` (STARTTLS);
3. the domain's MX, to recognise the big providers (``*.mail.protection.outlook.com`` is
   Microsoft 365, Google's MX hosts are Google; the presets table has the list);
4. the presets table's own address domains (``gmail.com`` is Google).

It answers :class:`~tocsin.providers.presets.Discovered`: proposals best first, each with
where it came from, and what every source gave (found, nothing, failed, timeout).  It
saves nothing.  Names are resolved through the injected DNS servers (the system's by
default), HTTPS is verified against the injected CA file (the system store by default),
so tests point both at local servers.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote, urljoin, urlsplit

import dns.asyncresolver
import dns.exception
import dns.name
import dns.resolver
import httpx

from tocsin.address import parse_address
from tocsin.providers.autoconfig import MAX_DOCUMENT, AutoconfigError, parse_autoconfig
from tocsin.providers.presets import (
    Discovered,
    Proposal,
    Source,
    SourceReport,
    SourceStatus,
    by_address_domain,
    by_host,
    by_mx_host,
)
from tocsin.settings import Encryption

__all__ = ["Discovery", "DiscoveryOptions"]

_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_MAX_HOPS: Final = 2


@dataclass(frozen=True, kw_only=True, slots=True)
class DiscoveryOptions:
    """Where discovery asks and how long it waits.

    ``nameservers`` (addresses, asked on ``dns_port``) replace the system's resolvers;
    ``ca_file`` replaces the system's trust store for HTTPS; ``https_port`` is the port
    autoconfig hosts are asked on.  Each source gives up after ``source_timeout``
    seconds, the whole discovery after ``total_timeout``.
    """

    nameservers: tuple[str, ...] = ()
    dns_port: int = 53
    https_port: int = 443
    ca_file: str | None = None
    source_timeout: float = 4.0
    total_timeout: float = 6.0


class _Outcome(Exception):
    """A source's answer other than proposals: ``status`` and a technical ``detail``."""

    def __init__(self, status: SourceStatus, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


_WAITING: ContextVar[list[str] | None] = ContextVar("discovery_waiting", default=None)
"""What a source is waiting for, each as its own timeout would name it (see :func:`_waiting_on`)."""


@contextmanager
def _waiting_on(detail: str) -> Iterator[None]:
    """Note ``detail`` (how this lookup's own timeout names it) while the lookup runs.

    A lookup's own limit is a little under its source's, so that its timeout names
    what did not answer; on a machine too busy to run the event loop in that margin,
    the source's limit fires first, and names what was still noted instead."""
    waiting = _WAITING.get()
    if waiting is None:
        yield
        return
    waiting.append(detail)
    try:
        yield
    except asyncio.CancelledError:
        raise  # cancelled while waiting (the source's time is up): it stays noted
    except BaseException:
        waiting.remove(detail)
        raise
    waiting.remove(detail)


def _nothing(detail: str) -> _Outcome:
    return _Outcome(SourceStatus.NOTHING, detail)


def _failed(detail: str) -> _Outcome:
    return _Outcome(SourceStatus.FAILED, detail)


def _ascii_domain(domain: str) -> str:
    try:
        return domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return domain.lower()


_DNS_SILENT: Final = "{name}: the DNS server did not answer"


def _dns_problem(name: str, exc: dns.exception.DNSException) -> _Outcome:
    if isinstance(exc, dns.resolver.NXDOMAIN):
        return _nothing(f"{name}: no such name")
    if isinstance(exc, dns.resolver.NoAnswer):
        return _nothing(f"{name}: no records")
    if isinstance(exc, dns.exception.Timeout):
        return _Outcome(SourceStatus.TIMEOUT, _DNS_SILENT.format(name=name))
    if isinstance(exc, dns.resolver.NoNameservers):
        return _failed(f"{name}: no DNS server answered ({_first_line(exc)})")
    return _failed(f"{name}: {_first_line(exc)}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def _tls_problem(exc: httpx.HTTPError) -> str:
    text = _first_line(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return (
            "certificate not trusted: "
            + text.rpartition("certificate verify failed:")[2].strip(" ()").partition(" (_ssl")[0]
        )
    if isinstance(exc, httpx.ConnectError) and ("refused" in text.lower() or "111" in text):
        return "connection refused"
    return text


class Discovery:
    """Finds SMTP settings for sender addresses (one object serves every request)."""

    def __init__(self, options: DiscoveryOptions | None = None) -> None:
        self.options = options or DiscoveryOptions()

    # ------------------------------------------------------------ the whole

    async def discover(self, address: str) -> Discovered:
        """Ask every source concurrently; raises :class:`~tocsin.address.InvalidAddress`."""
        parsed = parse_address(address)
        text = parsed.ascii or parsed.text
        domain = _ascii_domain(parsed.domain)
        started = time.monotonic()
        sources: dict[Source, Callable[[], Awaitable[list[Proposal]]]] = {
            Source.AUTOCONFIG: lambda: self._autoconfig(domain, text),
            Source.SRV: lambda: self._srv(domain),
            Source.MX: lambda: self._mx(domain),
            Source.DOMAIN: lambda: self._known_domain(domain),
        }
        tasks = {
            source: asyncio.create_task(self._timed(source, run)) for source, run in sources.items()
        }
        await asyncio.wait(tasks.values(), timeout=self.options.total_timeout)
        reports: list[SourceReport] = []
        proposals: list[Proposal] = []
        for source, task in tasks.items():
            if not task.done():
                task.cancel()
                waited = time.monotonic() - started
                reports.append(
                    SourceReport(source, SourceStatus.TIMEOUT, "no answer in time", waited)
                )
                continue
            report, found = task.result()
            reports.append(report)
            proposals.extend(found)
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        return Discovered(
            address=parsed.text,
            domain=parsed.domain,
            proposals=_unique(proposals),
            sources=tuple(reports),
            seconds=time.monotonic() - started,
        )

    async def _timed(
        self, source: Source, run: Callable[[], Awaitable[list[Proposal]]]
    ) -> tuple[SourceReport, list[Proposal]]:
        started = time.monotonic()
        limit = self.options.source_timeout
        waiting: list[str] = []
        noted = _WAITING.set(waiting)  # the lookups' task copies this context
        try:
            found = await asyncio.wait_for(run(), timeout=limit)
        except _Outcome as outcome:
            taken = time.monotonic() - started
            return SourceReport(source, outcome.status, outcome.detail, taken), []
        except TimeoutError:
            taken = time.monotonic() - started
            detail = "; ".join(dict.fromkeys(waiting)) or "no answer in time"
            return SourceReport(source, SourceStatus.TIMEOUT, detail, taken), []
        finally:
            _WAITING.reset(noted)
        taken = time.monotonic() - started
        if not found:
            return SourceReport(source, SourceStatus.NOTHING, "nothing usable", taken), []
        origins = "; ".join(dict.fromkeys(p.origin for p in found))
        return SourceReport(source, SourceStatus.FOUND, origins, taken), found

    # ------------------------------------------------------------ DNS

    def _inner_timeout(self) -> float:
        """A lookup's own limit: a little under the source's, so its timeout names it."""
        return self.options.source_timeout * 0.9

    def _resolver(self) -> dns.asyncresolver.Resolver:
        options = self.options
        if options.nameservers:
            resolver = dns.asyncresolver.Resolver(configure=False)
            resolver.nameservers = list(options.nameservers)
            resolver.port = options.dns_port
        else:
            try:
                resolver = dns.asyncresolver.Resolver()
            except dns.exception.DNSException as exc:
                raise _failed(f"no DNS configuration ({_first_line(exc)})") from None
        resolver.lifetime = self._inner_timeout()
        resolver.timeout = self._inner_timeout()
        return resolver

    async def _resolve(self, name: str, kind: str) -> dns.resolver.Answer:
        try:
            with _waiting_on(_DNS_SILENT.format(name=name)):
                return await self._resolver().resolve(name, kind, search=False)
        except dns.exception.DNSException as exc:
            raise _dns_problem(name, exc) from None

    async def _srv(self, domain: str) -> list[Proposal]:
        names = (
            (f"_submissions._tcp.{domain}", Encryption.SSL),
            (f"_submission._tcp.{domain}", Encryption.STARTTLS),
        )
        answers = await asyncio.gather(
            *(self._resolve(name, "SRV") for name, _ in names), return_exceptions=True
        )
        proposals: list[Proposal] = []
        problems: list[_Outcome] = []
        for (name, encryption), answer in zip(names, answers, strict=True):
            if isinstance(answer, _Outcome):
                problems.append(answer)
                continue
            if isinstance(answer, BaseException):
                raise answer
            records = sorted(answer, key=lambda r: (r.priority, -r.weight))
            for record in records:
                target = record.target.to_text(omit_final_dot=True).lower()
                line = f"{name} SRV {record.priority} {record.weight} {record.port} {target}."
                if record.target == dns.name.root:  # RFC 2782/6186: no such service here
                    problems.append(_nothing(f"{name}: the domain offers no such service"))
                    continue
                proposals.append(
                    Proposal(
                        Source.SRV, line, target, record.port, encryption, preset=by_host(target)
                    )
                )
        if proposals:
            return proposals
        raise _combined(problems)

    async def _mx(self, domain: str) -> list[Proposal]:
        answer = await self._resolve(domain, "MX")
        hosts = [
            (record.preference, record.exchange.to_text(omit_final_dot=True).lower())
            for record in sorted(answer, key=lambda r: r.preference)
        ]
        proposals: list[Proposal] = []
        for preference, host in hosts:
            known = by_mx_host(host)
            if known is None or any(p.preset is known for p in proposals):
                continue
            origin = f"{domain} MX {preference} {host}."
            proposals.append(
                Proposal(
                    Source.MX, origin, known.host, known.port, known.encryption, known.auth, known
                )
            )
        if not proposals:
            listed = ", ".join(host for _, host in hosts[:3]) or "none"
            raise _nothing(f"MX {listed}: not a provider Tocsin knows")
        return proposals

    async def _known_domain(self, domain: str) -> list[Proposal]:
        known = by_address_domain(domain)
        if known is None:
            raise _nothing(f"{domain} is not in the presets table")
        origin = f"presets table: {domain} is {known.label('en')}"
        return [
            Proposal(
                Source.DOMAIN, origin, known.host, known.port, known.encryption, known.auth, known
            )
        ]

    # ------------------------------------------------------------ autoconfig over HTTPS

    async def _autoconfig(self, domain: str, address: str) -> list[Proposal]:
        urls = (
            f"https://autoconfig.{domain}/mail/config-v1.1.xml?emailaddress={quote(address)}",
            f"https://{domain}/.well-known/autoconfig/mail/config-v1.1.xml",
        )
        results = await asyncio.gather(
            *(self._document(url, address) for url in urls), return_exceptions=True
        )
        problems: list[_Outcome] = []
        for result in results:  # the first URL's answer wins
            if isinstance(result, _Outcome):
                problems.append(result)
            elif isinstance(result, BaseException):
                raise result
            elif result:
                return result
            else:
                problems.append(_nothing("the document names no usable SMTP server"))
        raise _combined(problems)

    async def _document(self, url: str, address: str) -> list[Proposal]:
        limit = self._inner_timeout()
        no_answer = f"{url}: no answer within {limit:.1f} s"
        try:
            with _waiting_on(no_answer):
                body, where = await asyncio.wait_for(self._fetch(url), timeout=limit)
        except TimeoutError:
            raise _Outcome(SourceStatus.TIMEOUT, no_answer) from None
        try:
            servers = parse_autoconfig(body, address)
        except AutoconfigError as exc:
            raise _failed(f"{where}: {exc}") from None
        return [
            Proposal(
                Source.AUTOCONFIG, where, s.host, s.port, s.encryption, s.auth, by_host(s.host)
            )
            for s in servers
        ]

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.options.ca_file)

    async def _address_of(self, host: str) -> str:
        found: list[_Outcome] = []
        for kind in ("A", "AAAA"):
            try:
                answer = await self._resolve(host, kind)
            except _Outcome as outcome:
                found.append(outcome)
                continue
            for record in answer:
                return str(record.address)
        raise _combined(found[:1])

    async def _fetch(self, url: str) -> tuple[bytes, str]:
        """The body of ``url`` (at most MAX_DOCUMENT bytes) and the URL it came from."""
        context = self._context()
        asked = url
        async with httpx.AsyncClient(
            verify=context,
            timeout=self.options.source_timeout,
            follow_redirects=False,
            trust_env=False,
        ) as client:
            for _ in range(_MAX_HOPS + 1):
                parts = urlsplit(url)
                host = (parts.hostname or "").lower()
                if parts.scheme != "https" or not host:
                    raise _failed(f"{asked}: redirected to {url}, but only HTTPS is followed")
                ip = await self._address_of(host)
                port = parts.port or self.options.https_port
                target = f"https://{f'[{ip}]' if ':' in ip else ip}:{port}{parts.path or '/'}"
                if parts.query:
                    target += "?" + parts.query
                try:
                    name = host if parts.port is None else f"{host}:{parts.port}"
                    body, status, location = await self._get(client, target, name, url)
                except httpx.HTTPError as exc:
                    raise _failed(f"{url}: {_tls_problem(exc)}") from None
                if status in _REDIRECTS and location:
                    url = urljoin(url, location)
                    continue
                if status in (404, 410):
                    raise _nothing(f"{url}: HTTP {status}")
                if status != 200:
                    raise _failed(f"{url}: HTTP {status}")
                return body, url
        raise _failed(f"{asked}: more than {_MAX_HOPS} redirects")

    async def _get(
        self, client: httpx.AsyncClient, target: str, host: str, url: str
    ) -> tuple[bytes, int, str]:
        headers = {"Host": host, "Accept": "application/xml, text/xml"}
        sni = host.rpartition(":")[0] if ":" in host else host
        async with client.stream(
            "GET", target, headers=headers, extensions={"sni_hostname": sni}
        ) as response:
            if response.status_code != 200:
                return b"", response.status_code, response.headers.get("location", "")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_DOCUMENT:
                raise _failed(f"{url}: larger than {MAX_DOCUMENT // 1024} KiB")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_raw():
                size += len(chunk)
                if size > MAX_DOCUMENT:
                    raise _failed(f"{url}: larger than {MAX_DOCUMENT // 1024} KiB")
                chunks.append(chunk)
            return b"".join(chunks), 200, ""


def _combined(problems: list[_Outcome]) -> _Outcome:
    """One outcome for several: failed if any failed, else timeout, else nothing."""
    if not problems:
        return _nothing("nothing usable")
    detail = "; ".join(dict.fromkeys(p.detail for p in problems))
    for status in (SourceStatus.FAILED, SourceStatus.TIMEOUT):
        if any(p.status is status for p in problems):
            return _Outcome(status, detail)
    return _nothing(detail)


def _unique(proposals: list[Proposal]) -> tuple[Proposal, ...]:
    """Best first (source order), each host/port/encryption once (its first source)."""
    order = list(Source)
    seen: set[tuple[str, int, Encryption]] = set()
    kept: list[Proposal] = []
    for proposal in sorted(proposals, key=lambda p: order.index(p.source)):
        key = (proposal.host, proposal.port, proposal.encryption)
        if key not in seen:
            seen.add(key)
            kept.append(proposal)
    return tuple(kept)
