"""Per-device policy, as pure decisions: who may send as whom, how much, how fast.

The relay is never an open relay: a device sends only from the addresses or domains
its operator allowed, only messages up to its size limit, and only as many emails
per hour as its quota allows, with bursts (a token bucket).  Nothing here touches the
network or the database; the store keeps the bucket and calls :func:`take_tokens`
inside the transaction that enqueues the message.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from tocsin.address import InvalidAddress, parse_address

__all__ = [
    "MAX_MESSAGE_SIZE",
    "BucketState",
    "DevicePolicy",
    "normalise_sender_rule",
    "sender_allowed",
    "take_tokens",
]

MAX_MESSAGE_SIZE = 32 * 1024 * 1024
"""The relay's hard cap on one message, over HTTP or SMTP, before any device policy."""


@dataclass(frozen=True, slots=True)
class DevicePolicy:
    """What one device may do.

    ``senders`` holds addresses (``alarm@site.example``) and domains (``@site.example``:
    any address in that domain, subdomains excluded).  ``quota_per_hour`` emails (one
    per recipient) refill the bucket evenly over the hour; ``burst`` is its size.
    """

    senders: tuple[str, ...]
    max_size: int = 1024 * 1024
    quota_per_hour: int = 600
    burst: int = 60

    def __post_init__(self) -> None:
        if self.max_size < 1 or self.quota_per_hour < 1 or self.burst < 1:
            raise ValueError("max_size, quota_per_hour and burst must be at least 1")


def normalise_sender_rule(rule: str) -> str:
    """``alarm@Site.Example`` → ``alarm@site.example``; ``site.example`` → ``@site.example``.

    Raises ``ValueError`` for a rule that is neither an address nor a domain.
    """
    text = rule.strip()
    if not text:
        raise ValueError("an allowed sender must not be empty")
    domain_only = text.startswith("@") or "@" not in text
    probe = "x" + (text if text.startswith("@") else "@" + text) if domain_only else text
    try:
        address = parse_address(probe)
    except InvalidAddress as exc:
        raise ValueError(f"'{rule}' is neither an address nor a domain: {exc}") from None
    domain = (address.ascii or address.text).rpartition("@")[2].lower()
    if domain_only:
        return "@" + domain
    local = (address.ascii or address.text).rpartition("@")[0]
    return f"{local}@{domain}"


def sender_allowed(sender: str, rules: Iterable[str]) -> bool:
    """True when ``sender`` matches an address or domain rule (domains case-insensitively)."""
    try:
        address = parse_address(sender)
    except InvalidAddress:
        return False
    wire = address.ascii or address.text
    local, _, domain = wire.rpartition("@")
    domain = domain.lower()
    for rule in rules:
        if rule.startswith("@"):
            if domain == rule[1:].lower():
                return True
        elif rule.rpartition("@")[0] == local and rule.rpartition("@")[2].lower() == domain:
            return True
    return False


@dataclass(frozen=True, slots=True)
class BucketState:
    """The quota bucket of one device: tokens left at time ``at`` (seconds)."""

    tokens: float
    at: float


def take_tokens(
    state: BucketState, *, cost: int, now: float, quota_per_hour: int, burst: int
) -> tuple[BucketState, float]:
    """Refill the bucket up to ``now`` and take ``cost`` tokens.

    Returns the new state and 0.0, or — when there are not enough tokens — the refilled
    state (nothing taken) and the seconds until there will be (for ``Retry-After``).
    A cost above ``burst`` can never be paid; it returns ``math.inf``.
    """
    rate = quota_per_hour / 3600.0
    elapsed = max(0.0, now - state.at)
    tokens = min(float(burst), state.tokens + elapsed * rate)
    if cost > burst:
        return BucketState(tokens, now), math.inf
    if tokens >= cost:
        return BucketState(tokens - cost, now), 0.0
    return BucketState(tokens, now), (cost - tokens) / rate
