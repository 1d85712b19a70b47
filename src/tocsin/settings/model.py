"""The email settings' model: the enums, the one table of default ports, :class:`EmailSettings`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from tocsin.secret import Secret

__all__ = [
    "DEFAULT_PORTS",
    "SECRET_FIELDS",
    "AuthMethod",
    "EmailSettings",
    "Encryption",
    "OAuthFlow",
    "OAuthProvider",
    "TransportKind",
]


class Encryption(StrEnum):
    """How the SMTP connection is protected. No opportunistic mode: never a silent downgrade."""

    NONE = "none"
    SSL = "ssl"  # implicit TLS from the first byte (RFC 8314 §3.3)
    STARTTLS = "starttls"  # plain greeting, then mandatory upgrade (RFC 3207)


DEFAULT_PORTS: Final[Mapping[Encryption, int]] = {
    Encryption.NONE: 25,
    Encryption.SSL: 465,
    Encryption.STARTTLS: 587,
}
"""The one table of default ports, used by every face."""


class TransportKind(StrEnum):
    """Where mail goes: the site's own SMTP server or the hosted relay."""

    SMTP = "smtp"
    ONLINE = "online"


class AuthMethod(StrEnum):
    """How Tocsin logs in to the SMTP server."""

    NONE = "none"  # no AUTH (a relay that trusts the network)
    PASSWORD = "password"  # noqa: S105 (a method, not a password): PLAIN, LOGIN, CRAM-MD5
    OAUTH2 = "oauth2"  # an OAuth2 token (XOAUTH2 / OAUTHBEARER): Microsoft 365, Google


class OAuthProvider(StrEnum):
    """Who issues the OAuth2 tokens (see tocsin.signin.providers for their endpoints)."""

    MICROSOFT = "microsoft"
    GOOGLE = "google"
    GENERIC = "generic"


class OAuthFlow(StrEnum):
    """How Tocsin gets its OAuth2 tokens."""

    APP_ONLY = "app_only"  # client credentials: the app itself, for mailboxes it may use
    DEVICE_CODE = "device_code"  # a person signs in once (RFC 8628); a refresh token is kept
    SERVICE_ACCOUNT = "service_account"  # Google: a service account acting for the mailbox
    LOOPBACK = "loopback"  # a person signs in once in a browser on this machine (RFC 8252)


@dataclass(frozen=True, kw_only=True, slots=True)
class EmailSettings:
    """Everything needed to send email. Defaults are safe: off, STARTTLS, verified TLS."""

    enabled: bool = False
    transport: TransportKind = TransportKind.SMTP
    sender_address: str = ""
    sender_name: str = ""
    host: str = ""
    port: int = DEFAULT_PORTS[Encryption.STARTTLS]
    encryption: Encryption = Encryption.STARTTLS
    username: str = ""
    password: Secret | None = None
    auth_method: AuthMethod = AuthMethod.PASSWORD
    allow_plaintext_auth: bool = False
    tls_verify: bool = True
    ca_file: str = ""
    ehlo_name: str = ""
    timeout: float = 30.0
    deadline: float = 120.0
    # The online service (transport "online"): no SMTP fields are used then.
    relay_url: str = ""
    device_id: str = ""
    device_credential: Secret | None = None
    # OAuth2 (auth_method "oauth2"); the username is the mailbox the token acts for.
    oauth_provider: OAuthProvider = OAuthProvider.MICROSOFT
    oauth_flow: OAuthFlow = OAuthFlow.APP_ONLY
    oauth_tenant: str = ""
    oauth_client_id: str = ""
    oauth_client_secret: Secret | None = None
    oauth_refresh_token: Secret | None = None
    oauth_service_account_key: Secret | None = None
    # App-only with a certificate instead of a secret: the PEM private key and certificate.
    oauth_client_certificate: Secret | None = None
    oauth_authority: str = ""
    oauth_token_url: str = ""
    oauth_device_url: str = ""
    oauth_authorize_url: str = ""
    oauth_scope: str = ""

    def public(self) -> dict[str, Any]:
        """A JSON-ready view; every secret shows only as ``<name>_set``."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for name in SECRET_FIELDS:
            out[name] = None
            out[f"{name}_set"] = bool(getattr(self, name))
        return {k: (v.value if isinstance(v, StrEnum) else v) for k, v in out.items()}


SECRET_FIELDS: Final = (
    "password",
    "device_credential",
    "oauth_client_secret",
    "oauth_refresh_token",
    "oauth_service_account_key",
    "oauth_client_certificate",
)
"""Fields that hold secrets: write-only, never shown, never taken on a command line."""
