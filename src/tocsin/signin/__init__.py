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

The names below load their module on first use (PEP 562): importing one module of the
package (``sasl``, say) does not import authlib and httpx2 for the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tocsin import _lazy_exports

if TYPE_CHECKING:
    from tocsin.signin.device import (
        DeviceCode,
        SignedIn,
        finish_device_sign_in,
        start_device_sign_in,
    )
    from tocsin.signin.loopback import loopback_sign_in
    from tocsin.signin.providers import PROVIDERS, Flow, OAuthConfig, Provider, ProviderKind
    from tocsin.signin.sasl import Mechanism
    from tocsin.signin.smtp_auth import BearerLogin, login_for
    from tocsin.signin.tokens import AccessToken, TokenManager, shared_tokens

_EXPORTS: dict[str, tuple[str, ...]] = {
    "tocsin.signin.device": (
        "DeviceCode",
        "SignedIn",
        "finish_device_sign_in",
        "start_device_sign_in",
    ),
    "tocsin.signin.loopback": ("loopback_sign_in",),
    "tocsin.signin.providers": ("PROVIDERS", "Flow", "OAuthConfig", "Provider", "ProviderKind"),
    "tocsin.signin.sasl": ("Mechanism",),
    "tocsin.signin.smtp_auth": ("BearerLogin", "login_for"),
    "tocsin.signin.tokens": ("AccessToken", "TokenManager", "shared_tokens"),
}
"""Each public name's module (the same imports as under ``TYPE_CHECKING`` above)."""
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

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

# Type checkers see the imports above, and no catch-all.
if not TYPE_CHECKING:
    __getattr__, __dir__ = _lazy_exports(__name__, _MODULE_OF, __all__)
