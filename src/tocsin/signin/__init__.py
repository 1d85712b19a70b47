"""Signing in to mail providers with OAuth2, for SMTP AUTH XOAUTH2 / OAUTHBEARER.

- ``providers``: the provider table (Microsoft, Google, generic) and a site's `OAuthConfig`.
- ``client``: authlib's httpx client for a config; its failures as Tocsin's errors.
- ``classify``: what a token endpoint's refusal means (hint codes, temporary or not).
- ``tokens``: `TokenManager`, one access token per process, refreshed before expiry.
- ``device``: the device code sign-in (RFC 8628).
- ``loopback``: the browser sign-in on this machine (authorization code, PKCE, RFC 8252).
- ``service_account``: Google service accounts (RFC 7523 JWT bearer).
- ``certificate``: app-only with a certificate: authlib's ``private_key_jwt`` client
  assertion (RFC 7523 §2.2) with the ``x5t#S256`` / ``x5t`` thumbprints Entra ID looks up.
- ``sasl``: the XOAUTH2 / OAUTHBEARER strings, client and server side (RFC 7628).
- ``smtp_auth``: `BearerLogin`, what an SMTP session calls to log in with a token.
"""

from tocsin.signin.device import DeviceCode, SignedIn, finish_device_sign_in, start_device_sign_in
from tocsin.signin.loopback import loopback_sign_in
from tocsin.signin.providers import PROVIDERS, Flow, OAuthConfig, Provider, ProviderKind
from tocsin.signin.sasl import Mechanism
from tocsin.signin.smtp_auth import BearerLogin, login_for
from tocsin.signin.tokens import AccessToken, TokenManager, shared_tokens

__all__ = [
    "PROVIDERS",
    "AccessToken",
    "BearerLogin",
    "DeviceCode",
    "Flow",
    "Mechanism",
    "OAuthConfig",
    "Provider",
    "ProviderKind",
    "SignedIn",
    "TokenManager",
    "finish_device_sign_in",
    "login_for",
    "loopback_sign_in",
    "shared_tokens",
    "start_device_sign_in",
]
