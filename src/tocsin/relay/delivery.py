"""The relay's outbound transport: per recipient domain, to its MX, STARTTLS required.

It reuses :class:`~tocsin.transports.smtp.SMTPTransport` for every destination with
``encryption=starttls`` and verified certificates: no STARTTLS offered means
:class:`~tocsin.errors.TLSRequired` and nothing is sent (RFC 3207, never a downgrade).
One SMTPTransport per destination keeps its connections open for reuse; a token bucket
per destination keeps the rate polite.

A problem with one recipient domain (no STARTTLS, a bad certificate, a refusing MX) is
that domain's recipients' outcome, never an exception: the outbox engine pauses on a
raised configuration problem, and one bad MX must not stop mail to every other domain.
Temporary failures come back as temporary outcomes; the outbox retries them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
import time
from collections.abc import Callable, Sequence

from tocsin.errors import (
    ConnectFailed,
    DeliveryError,
    DeliveryTimeout,
    Reason,
    ServerBusy,
    Step,
)
from tocsin.message import Mail
from tocsin.relay.config import DeliveryOptions, Smarthost
from tocsin.relay.mx import Destination, Resolver
from tocsin.settings import EmailSettings, Encryption
from tocsin.tlsinfo import make_tls_context
from tocsin.transports.base import DeliveryResult, Outcome, RecipientResult, Transport
from tocsin.transports.smtp import SMTPTransport

__all__ = ["MXTransport", "RateLimiter", "build_delivery_transport", "destination_settings"]


class RateLimiter:
    """A token bucket: ``rate`` per second, up to ``burst`` at once."""

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._at = clock()

    def reserve(self, max_wait: float) -> float | None:
        """Reserve one token; the seconds to wait for it, or None if that exceeds max_wait."""
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        wait = max(0.0, (1.0 - self._tokens) / self._rate)
        if wait > max_wait:
            return None
        self._tokens -= 1.0
        return wait


def destination_settings(
    destination: Destination, *, sender: str, ehlo_name: str, options: DeliveryOptions
) -> EmailSettings:
    """The SMTP settings for one destination: STARTTLS, verified, no login."""
    return EmailSettings(
        enabled=True,
        sender_address=sender,
        host=destination.host,
        port=destination.port,
        encryption=Encryption.STARTTLS,
        tls_verify=True,
        ca_file=options.ca_file,
        ehlo_name=ehlo_name,
        timeout=options.timeout,
        deadline=options.deadline,
    )


def _everyone(recipients: Sequence[str], error: DeliveryError) -> list[RecipientResult]:
    outcome = Outcome.TEMPORARY if error.temporary else Outcome.PERMANENT
    return [
        RecipientResult(r, outcome, error.reason, error.step, error.code, str(error))
        for r in recipients
    ]


def _domain(recipient: str) -> str:
    return recipient.rpartition("@")[2].lower()


class MXTransport:
    """Delivers each recipient domain to its MX hosts, trying them in order."""

    def __init__(
        self,
        resolver: Resolver,
        *,
        options: DeliveryOptions,
        ehlo_name: str,
        sender: str,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self._resolver = resolver
        self._sender = sender  # for the settings only: MAIL FROM is each mail's sender
        self._options = options
        self._ehlo_name = ehlo_name
        self._tls = tls_context or make_tls_context(verify=True, ca_file=options.ca_file)
        self._pools: dict[Destination, SMTPTransport] = {}
        self._limits: dict[Destination, RateLimiter] = {}
        self._used: dict[Destination, float] = {}

    async def send(self, mail: Mail) -> DeliveryResult:
        """One result per recipient; never raises for a destination's problem."""
        await self._sweep()
        groups: dict[str, list[str]] = {}
        for recipient in mail.recipients:
            groups.setdefault(_domain(recipient), []).append(recipient)
        outcomes = await asyncio.gather(
            *(self._send_domain(domain, mail, rcpts) for domain, rcpts in groups.items())
        )
        by_recipient = {r.recipient: r for results in outcomes for r in results}
        replies = [r.server_message for r in by_recipient.values() if r.outcome is Outcome.ACCEPTED]
        return DeliveryResult(
            tuple(by_recipient[r] for r in mail.recipients), replies[0] if replies else ""
        )

    async def _send_domain(
        self, domain: str, mail: Mail, recipients: list[str]
    ) -> list[RecipientResult]:
        try:
            destinations = await self._resolver.destinations(domain)
        except DeliveryError as error:
            return _everyone(recipients, error)
        part = Mail(mail.sender, tuple(recipients), mail.content, mail.message_id, mail.smtputf8)
        last: DeliveryError = ConnectFailed(
            f"{domain}: no server to try", step=Step.RESOLVE, reason=Reason.DNS_FAILED
        )
        for destination in destinations:
            try:
                await self._wait_turn(destination)
                result = await self._pool(destination).send(part)
            except (ConnectFailed, DeliveryTimeout) as error:
                last = error  # RFC 5321 §5.1: try the next MX host
                continue
            except DeliveryError as error:
                return _everyone(recipients, error)
            return [_no_pause(r) for r in result.recipients]
        return _everyone(recipients, last)

    async def _wait_turn(self, destination: Destination) -> None:
        opts = self._options
        limiter = self._limits.get(destination)
        if limiter is None:
            limiter = self._limits[destination] = RateLimiter(
                opts.rate_per_destination, opts.burst_per_destination
            )
        wait = limiter.reserve(opts.max_rate_wait)
        if wait is None:
            raise ServerBusy(
                f"{destination}: over the rate limit of {opts.rate_per_destination:g}/s",
                step=Step.CONNECT,
                reason=Reason.RATE_LIMITED,
            )
        if wait > 0:
            await asyncio.sleep(wait)

    def _pool(self, destination: Destination) -> SMTPTransport:
        self._used[destination] = time.monotonic()
        pool = self._pools.get(destination)
        if pool is None:
            settings = destination_settings(
                destination,
                sender=self._sender,
                ehlo_name=self._ehlo_name,
                options=self._options,
            )
            pool = self._pools[destination] = SMTPTransport(
                settings,
                max_connections=self._options.connections_per_destination,
                idle_timeout=self._options.idle_timeout,
                tls_context=self._tls,
            )
        return pool

    async def _sweep(self) -> None:
        """Close the connections of destinations idle for longer than the idle timeout."""
        limit = time.monotonic() - self._options.idle_timeout
        for destination in [d for d, at in self._used.items() if at < limit]:
            pool = self._pools.pop(destination, None)
            self._used.pop(destination, None)
            self._limits.pop(destination, None)
            if pool is not None:
                await pool.aclose()

    async def aclose(self) -> None:
        """Close every connection."""
        pools, self._pools = list(self._pools.values()), {}
        self._used.clear()
        for pool in pools:
            await pool.aclose()


def _no_pause(result: RecipientResult) -> RecipientResult:
    """A remote MX asking for a login is that recipient's failure, not a relay setting."""
    if result.reason is Reason.AUTH_REQUIRED:
        return RecipientResult(
            result.recipient,
            Outcome.PERMANENT,
            Reason.RECIPIENT_REJECTED,
            result.step,
            result.code,
            result.server_message,
        )
    return result


def build_delivery_transport(
    options: DeliveryOptions,
    *,
    resolver: Resolver,
    ehlo_name: str,
    sender: str,
    tls_context: ssl.SSLContext | None = None,
) -> Transport:
    """The smarthost's SMTP transport when one is set (its errors pause the relay, as they
    concern every message), else the MX transport."""
    smarthost: Smarthost | None = options.smarthost
    if smarthost is None:
        return MXTransport(
            resolver,
            options=options,
            ehlo_name=ehlo_name,
            sender=sender,
            tls_context=tls_context,
        )
    settings = destination_settings(
        Destination(smarthost.host, smarthost.port),
        sender=sender,
        ehlo_name=ehlo_name,
        options=options,
    )
    settings = dataclasses.replace(
        settings, username=smarthost.username, password=smarthost.password
    )
    return SMTPTransport(
        settings,
        max_connections=options.connections_per_destination,
        idle_timeout=options.idle_timeout,
        tls_context=tls_context,
    )
