"""Signed, expiring tokens for the "Acknowledge" link in alarm emails.

A token names one event and one recipient and carries its expiry::

    base64url(payload) "." base64url(HMAC-SHA256(key, "tocsin-ack-v1." payload))

where ``payload`` is compact JSON ``{"e": event id, "u": user id, "x": expiry (Unix
seconds), "n": 8 random bytes}``.  The MAC is ``cryptography``'s HMAC, checked in
constant time (``verify``) before the payload is even parsed, so an altered token
tells an attacker nothing.  The key (32 random bytes) is a file of its own in the data
directory (:mod:`tocsin.store.ackkey`), apart from the database.  Single use is the
store's part: it records the :func:`token_digest` of each token used.

Why not itsdangerous: it is not a dependency of Tocsin, and ``cryptography`` (one
already) gives the same primitive; the format above is all we need of it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.hmac import HMAC

__all__ = [
    "DEFAULT_LIFETIME",
    "AckClaim",
    "AckSigner",
    "TokenExpired",
    "TokenInvalid",
    "TokenRefused",
    "token_digest",
]

DEFAULT_LIFETIME: Final = 72 * 3600.0
"""Three days: a weekend's alarm can still be acknowledged on Monday morning."""
_DOMAIN: Final = b"tocsin-ack-v1."  # keeps these MACs apart from any other use of the key
_MAX_TOKEN: Final = 600
_KEY_BYTES: Final = 32


class TokenRefused(ValueError):
    """The token cannot be used (base of the two reasons)."""


class TokenInvalid(TokenRefused):
    """Not a token this installation signed: altered, cut, or from another key."""


class TokenExpired(TokenRefused):
    """A genuine token past its expiry; ``claim`` says whose it was (for the page's language)."""

    def __init__(self, message: str, claim: AckClaim) -> None:
        super().__init__(message)
        self.claim = claim


@dataclass(frozen=True, slots=True)
class AckClaim:
    """What a genuine token says: event, recipient, expiry."""

    event_id: str
    user_id: str
    expires_at: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text or not text.isascii():
        raise TokenInvalid("not a token")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise TokenInvalid("not a token") from None


def token_digest(token: str) -> str:
    """The SHA-256 of ``token`` (hex): what the store keeps of a used token."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


class AckSigner:
    """Signs and checks acknowledgement tokens with ``key`` (at least 32 bytes).

    ``lifetime`` is how long a new token is valid (seconds); ``clock`` gives Unix time.
    """

    def __init__(
        self,
        key: bytes,
        *,
        lifetime: float = DEFAULT_LIFETIME,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if len(key) < _KEY_BYTES:
            raise ValueError(f"the acknowledgement key must have {_KEY_BYTES} bytes or more")
        if lifetime <= 0:
            raise ValueError("the token lifetime must be positive")
        self._key = key
        self.lifetime = lifetime
        self._clock = clock

    def _mac(self, payload: bytes) -> HMAC:
        mac = HMAC(self._key, hashes.SHA256())
        mac.update(_DOMAIN + payload)
        return mac

    def sign(self, event_id: str, user_id: str) -> str:
        """A new token for ``user_id`` to acknowledge ``event_id``, valid for ``lifetime``."""
        claim = {
            "e": event_id,
            "u": user_id,
            "x": int(self._clock() + self.lifetime),
            "n": secrets.token_hex(8),
        }
        payload = json.dumps(claim, separators=(",", ":"), sort_keys=True).encode("utf-8")
        return f"{_b64(payload)}.{_b64(self._mac(payload).finalize())}"

    def verify(self, token: str) -> AckClaim:
        """The claim of a genuine, unexpired token.

        Raises :class:`TokenInvalid` for anything this key did not sign (checked in
        constant time first) and :class:`TokenExpired` for a genuine token past its time.
        """
        if len(token) > _MAX_TOKEN or token.count(".") != 1:
            raise TokenInvalid("not a token")
        head, _, tail = token.partition(".")
        payload, signature = _unb64(head), _unb64(tail)
        try:
            self._mac(payload).verify(signature)
        except InvalidSignature:
            raise TokenInvalid("signature does not match") from None
        # Past the MAC the payload is ours; still parse it defensively.
        try:
            claim = json.loads(payload)
            event_id, user_id, expires = str(claim["e"]), str(claim["u"]), float(claim["x"])
        except (ValueError, KeyError, TypeError):
            raise TokenInvalid("malformed claim") from None
        claim_of = AckClaim(event_id, user_id, expires)
        if self._clock() >= expires:
            raise TokenExpired("the link has expired", claim_of)
        return claim_of
