"""The OAuth2 providers Tocsin signs in to, as data: endpoints, scopes, flows.

A provider is one row of :data:`PROVIDERS`; an :class:`OAuthConfig` is one site's choice
(provider, flow, tenant, client, secrets) with the endpoints worked out.  Nothing here
talks to the network.

- ``microsoft`` (Entra ID / Microsoft 365): app-only sign-in with the client credentials
  grant (a client secret, or a certificate whose key signs a client assertion; scope
  ``https://outlook.office365.com/.default``, the app needs the ``SMTP.SendAsApp``
  permission and an Exchange service principal), or delegated sign-in
  for one mailbox with the device code flow (RFC 8628; scope ``SMTP.Send`` and
  ``offline_access`` for a refresh token).  ``authority`` is the cloud's login host
  (``https://login.microsoftonline.com``; national clouds differ).
- ``google`` (Gmail / Workspace): a service account with domain-wide delegation (a signed
  JWT, RFC 7523, acting for the mailbox), or delegated sign-in, whose refresh token is
  stored like Microsoft's.  Google's device flow does not allow the ``https://mail.google.com/``
  scope, so its delegated sign-in is the authorization code flow with a loopback redirect.
- ``generic``: any OAuth2 token endpoint (and device endpoint), with the scope given.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Final

from tocsin.secret import Secret
from tocsin.settings import EmailSettings, OAuthFlow, OAuthProvider

__all__ = [
    "PROVIDERS",
    "Flow",
    "OAuthConfig",
    "Provider",
    "ProviderKind",
    "oauth_config",
]


# The settings' own enums (core), under the names this package uses.
ProviderKind = OAuthProvider
Flow = OAuthFlow


@dataclass(frozen=True, slots=True)
class Provider:
    """One provider's endpoints and scopes; ``{authority}`` and ``{tenant}`` are filled in."""

    token_url: str
    device_url: str
    app_scope: str
    delegated_scope: str
    flows: tuple[Flow, ...]
    authorize_url: str = ""
    default_authority: str = ""
    needs_tenant: bool = False


PROVIDERS: Final[Mapping[ProviderKind, Provider]] = {
    ProviderKind.MICROSOFT: Provider(
        token_url="{authority}/{tenant}/oauth2/v2.0/token",  # noqa: S106 (a URL)
        device_url="{authority}/{tenant}/oauth2/v2.0/devicecode",
        app_scope="https://outlook.office365.com/.default",
        delegated_scope="https://outlook.office.com/SMTP.Send offline_access",
        flows=(Flow.APP_ONLY, Flow.DEVICE_CODE, Flow.LOOPBACK),
        authorize_url="{authority}/{tenant}/oauth2/v2.0/authorize",
        default_authority="https://login.microsoftonline.com",
        needs_tenant=True,
    ),
    ProviderKind.GOOGLE: Provider(
        token_url="{authority}/token",  # noqa: S106 (a URL)
        device_url="{authority}/device/code",
        app_scope="https://mail.google.com/",
        delegated_scope="https://mail.google.com/",
        flows=(Flow.SERVICE_ACCOUNT, Flow.LOOPBACK),
        # Google's browser sign-in lives on another host than its token endpoint.
        authorize_url="https://accounts.google.com/o/oauth2/v2/auth",
        default_authority="https://oauth2.googleapis.com",
    ),
    ProviderKind.GENERIC: Provider(
        token_url="",
        device_url="",
        app_scope="",
        delegated_scope="",
        flows=(Flow.APP_ONLY, Flow.DEVICE_CODE, Flow.LOOPBACK),
    ),
}
"""The one table of providers."""


@dataclass(frozen=True, kw_only=True, slots=True)
class OAuthConfig:
    """One site's sign-in: provider, flow and credentials.  Secrets print as ``<secret>``.

    ``token_url``, ``device_url`` and ``scope`` override the provider's (``generic`` needs
    the token URL); ``authority`` overrides the provider's login host (national clouds).
    ``ca_file`` adds a CA to the system store for the token endpoint's certificate.
    """

    provider: ProviderKind
    flow: Flow
    client_id: str
    client_secret: Secret | None = None
    refresh_token: Secret | None = None
    service_account_key: Secret | None = None  # Google: the JSON key file's text
    client_certificate: Secret | None = None  # app-only: PEM private key and certificate
    tenant: str = ""
    authority: str = ""
    token_url: str = ""
    device_url: str = ""
    authorize_url: str = ""
    scope: str = ""
    mailbox: str = ""
    ca_file: str = ""
    timeout: float = 30.0

    @property
    def spec(self) -> Provider:
        """The provider's row of :data:`PROVIDERS`."""
        return PROVIDERS[self.provider]

    def _fill(self, template: str) -> str:
        authority = (self.authority or self.spec.default_authority).rstrip("/")
        return template.format(authority=authority, tenant=self.tenant)

    @property
    def token_endpoint(self) -> str:
        """Where tokens come from."""
        return self.token_url or self._fill(self.spec.token_url)

    @property
    def device_endpoint(self) -> str:
        """Where a device code sign-in starts (RFC 8628 §3.1)."""
        return self.device_url or self._fill(self.spec.device_url)

    @property
    def authorize_endpoint(self) -> str:
        """Where a browser sign-in starts (RFC 6749 §4.1)."""
        return self.authorize_url or self._fill(self.spec.authorize_url)

    @property
    def scopes(self) -> str:
        """The scope asked for: given, or the provider's for this flow."""
        if self.scope:
            return self.scope
        if self.flow in (Flow.DEVICE_CODE, Flow.LOOPBACK):
            return self.spec.delegated_scope
        return self.spec.app_scope

    def fingerprint(self) -> str:
        """A digest of everything that makes a token (secrets included, never shown), so
        one process shares one token per sign-in and a changed setting gets a new one.

        The refresh token is left out: the provider rotates it (see ``shared_tokens``)."""
        digest = hashlib.sha256()
        for f in fields(self):
            if f.name == "refresh_token":
                continue
            value = getattr(self, f.name)
            text = value.reveal() if isinstance(value, Secret) else str(value)
            digest.update(f"{f.name}={text}\x00".encode())
        return digest.hexdigest()


def oauth_config(settings: EmailSettings) -> OAuthConfig:
    """The sign-in that ``settings`` describe (``username`` is the mailbox)."""
    return OAuthConfig(
        provider=settings.oauth_provider,
        flow=settings.oauth_flow,
        client_id=settings.oauth_client_id,
        client_secret=settings.oauth_client_secret,
        refresh_token=settings.oauth_refresh_token,
        service_account_key=settings.oauth_service_account_key,
        client_certificate=settings.oauth_client_certificate,
        tenant=settings.oauth_tenant,
        authority=settings.oauth_authority,
        token_url=settings.oauth_token_url,
        device_url=settings.oauth_device_url,
        authorize_url=settings.oauth_authorize_url,
        scope=settings.oauth_scope,
        mailbox=settings.username,
        ca_file=settings.ca_file,
        timeout=settings.timeout,
    )
