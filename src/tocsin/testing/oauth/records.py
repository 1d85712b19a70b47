"""What the local OAuth2 server knows: applications, grants, tokens, device codes.

The records behind `OAuthTestServer`, kept in one `Registry` under one lock, and the
settings its endpoints read (`AuthorityConfig`, which the server itself satisfies, so a
test that changes ``token_lifetime`` changes what the next token gets).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from cryptography import x509

__all__ = [
    "DEVICE_GRANT",
    "JWT_GRANT",
    "WAIT",
    "Access",
    "AuthorityConfig",
    "Client",
    "Device",
    "Grant",
    "OAuthError",
    "Registry",
    "TokenRequest",
    "unverified_issuer",
]

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
WAIT = 10.0
"""Seconds a silent client may hold a connection, and the server thread's end may take."""


@dataclass
class Client:
    """A registered application (or a service account, by its email)."""

    client_id: str
    secret: str | None  # None: a public client (device code sign-in needs no secret)
    enabled: bool = True
    secret_expired: bool = False
    consented: bool = True
    certificates: list[x509.Certificate] = field(default_factory=list)


@dataclass
class Grant:
    """A user's consent (or an app's own access): what refresh tokens stand for."""

    client_id: str
    user: str | None  # None: app-only (client credentials)
    scope: str
    revoked: bool = False


@dataclass
class Device:
    """One device authorization (RFC 8628 §3.2) and where the user's decision stands."""

    grant_client: str
    scope: str
    user_code: str
    expires_at: float
    interval: float
    last_poll: float | None = None
    decision: str = "pending"  # pending | approved | denied
    user: str | None = None
    issued: bool = False
    script: list[str] = field(default_factory=list)


@dataclass
class Access:
    """A live access token's grant and end."""

    grant: Grant
    expires_at: float


@dataclass(frozen=True)
class TokenRequest:
    """One request to the token endpoint: its grant type and the answer (``ok`` or the
    RFC 6749 error code)."""

    grant_type: str
    outcome: str


class OAuthError(Exception):
    """An OAuth error answer (RFC 6749 §5.2): HTTP status, error code, description."""

    def __init__(self, status: int, error: str, description: str = "") -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.description = description


class AuthorityConfig(Protocol):
    """The server's settings and addresses that the endpoints read at each request."""

    @property
    def tenant(self) -> str: ...
    @property
    def token_lifetime(self) -> float: ...
    @property
    def device_lifetime(self) -> float: ...
    @property
    def interval(self) -> float: ...
    @property
    def slow_down_step(self) -> float: ...
    @property
    def clock(self) -> Callable[[], float]: ...
    @property
    def token_url(self) -> str: ...
    @property
    def google_token_url(self) -> str: ...
    @property
    def verification_url(self) -> str: ...


@dataclass
class Registry:
    """Every record of the server; take ``lock`` around any use."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    clients: dict[str, Client] = field(default_factory=dict)
    refresh: dict[str, Grant] = field(default_factory=dict)
    access: dict[str, Access] = field(default_factory=dict)
    devices: dict[str, Device] = field(default_factory=dict)  # by device_code
    accounts: dict[str, tuple[Any, bool]] = field(default_factory=dict)
    """Service accounts: email → (public key, delegated)."""
    codes: dict[str, tuple[str, str, str, str, str]] = field(default_factory=dict)
    """Authorization codes: code → (client_id, redirect_uri, challenge, user, scope)."""
    token_requests: list[TokenRequest] = field(default_factory=list)
    assertions_accepted: int = 0

    def grants(self) -> list[Grant]:
        """Every grant a refresh or access token stands for, once each."""
        found = {id(g): g for g in self.refresh.values()}
        found.update({id(a.grant): a.grant for a in self.access.values()})
        return list(found.values())

    def device_by_user_code(self, user_code: str) -> Device:
        """The device authorization of ``user_code`` (any case, spaces around ignored).

        Raises:
            KeyError: no device authorization has that code.
        """
        wanted = user_code.strip().upper()
        for device in self.devices.values():
            if device.user_code == wanted:
                return device
        raise KeyError("no such user code")


def unverified_issuer(token: str) -> str:
    """The ``iss`` of a JWT before its signature is checked: it names the key to check with."""
    try:
        payload = token.split(".")[1]
        doc = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return ""
    return str(doc.get("iss", "")) if isinstance(doc, dict) else ""
