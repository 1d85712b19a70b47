"""Password hashing, random tokens and login throttling: the primitives, no storage.

Passwords are hashed with Argon2id (argon2-cffi's defaults, RFC 9106's second
recommended profile).  API tokens and session ids are 256-bit random values; only
their SHA-256 is stored, which is enough for values that cannot be guessed (a slow
KDF protects low-entropy human passwords, not random tokens).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from argon2 import PasswordHasher

__all__ = [
    "LoginThrottle",
    "client_key",
    "hash_password",
    "hash_token",
    "new_token",
    "password_needs_rehash",
    "tokens_equal",
    "verify_password",
]

MIN_PASSWORD_LENGTH = 10


@functools.cache
def _hasher() -> PasswordHasher:
    # argon2-cffi is loaded on the first password, not with every module that imports
    # this one (the account service, so every command that opens the data directory).
    from argon2 import PasswordHasher

    return PasswordHasher()


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password`` (salted; safe to store)."""
    return _hasher().hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """True when ``password`` matches ``stored_hash``; never raises for a mismatch."""
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    try:
        return _hasher().verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_needs_rehash(stored_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    return _hasher().check_needs_rehash(stored_hash)


def new_token(prefix: str) -> str:
    """A new random token like ``tcn_…`` (prefix helps secret scanners find leaks)."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def hash_token(token: str) -> str:
    """The stored form of a token: hex SHA-256."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def tokens_equal(a: str, b: str) -> bool:
    """Constant-time comparison of two token strings."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def client_key(address: str) -> str:
    """The throttle key for a client address: ``client:<address>``, an IPv6 one by its /64.

    One IPv6 host usually holds a whole /64 and could give each guess an address of
    its own; an IPv4-mapped IPv6 address counts as the IPv4 address it maps.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"client:{address}"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"client:{ip.ipv4_mapped}"
        return f"client:{ipaddress.IPv6Network((ip, 64), strict=False)}"
    return f"client:{ip}"


_MAX_KEYS = 10_000


@dataclass
class LoginThrottle:
    """Allows at most ``limit`` failed attempts per key within ``window`` seconds.

    Kept in memory per process: a restart forgets, which only ever loosens the
    limit for a moment.  Keys are e.g. ``"ip:203.0.113.5"`` and ``"user:admin"``.
    """

    limit: int = 5
    window: float = 300.0

    def __post_init__(self) -> None:
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self.failed_total = 0
        """Failed attempts recorded so far (for a metrics counter)."""
        self.throttled_total = 0
        """Checks answered with a wait so far (for a metrics counter)."""

    @property
    def tracked(self) -> int:
        """How many keys it holds failures for (bounded, whatever the spray)."""
        return len(self._failures)

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def retry_after(self, *keys: str, now: float | None = None) -> float:
        """Seconds until another attempt is allowed for all ``keys`` (0: allowed now)."""
        now = time.monotonic() if now is None else now
        wait = 0.0
        with self._lock:
            for key in keys:
                failures = self._recent(key, now)
                if len(failures) >= self.limit:
                    wait = max(wait, failures[0] + self.window - now)
            if wait > 0:
                self.throttled_total += 1
        return wait

    def failed(self, *keys: str, now: float | None = None) -> None:
        """Record a failed attempt under each of ``keys``."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self.failed_total += 1
            for key in keys:
                self._recent(key, now).append(now)
            if len(self._failures) > _MAX_KEYS:  # bounded memory under a spray of keys
                for stale in [k for k, v in self._failures.items() if not v]:
                    del self._failures[stale]
                # Still too many: forget the keys that failed first (the dict keeps
                # insertion order), which loosens the limit for them, like a restart.
                for oldest in list(self._failures)[: len(self._failures) - _MAX_KEYS]:
                    del self._failures[oldest]

    def succeeded(self, *keys: str) -> None:
        """Forget the failures of ``keys`` after a successful login."""
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)
