"""Use case: sign in a mailbox (device code or browser flow) and store the refresh token.

The faces (``tocsin settings oauth sign-in``, the page) show the code and the
verification address, or the browser address, through ``show`` and wait; the refresh
token goes straight into the encrypted settings and is never returned.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
from collections.abc import Awaitable, Callable
from typing import Final

from tocsin.errors import ConfigError
from tocsin.secret import Secret
from tocsin.services.context import Services
from tocsin.settings import AuthMethod, EmailSettings, OAuthFlow, OAuthProvider
from tocsin.signin import (
    DeviceCode,
    OAuthConfig,
    finish_device_sign_in,
    loopback_sign_in,
    start_device_sign_in,
)
from tocsin.signin.providers import oauth_config
from tocsin.validation import Issue, Level

__all__ = ["browser_is_elsewhere", "browser_sign_in", "device_sign_in", "sign_in_issues"]

_LOOPBACK_NAMES: Final = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def browser_is_elsewhere(client_host: str | None, url_host: str | None) -> bool:
    """True when the browser that asks for a sign-in is (or may be) on another machine
    than Tocsin: it came from another address, or reached Tocsin by a name other than
    the loopback (a reverse proxy shows 127.0.0.1 as the client, but not as the name).
    The loopback redirect (RFC 8252 §7.3) would then land on the browser's machine."""
    for host in (client_host, url_host):
        if not host:
            return True
        name = host.lower()
        if name in _LOOPBACK_NAMES:
            continue
        try:
            if not ipaddress.ip_address(name.strip("[]")).is_loopback:
                return True
        except ValueError:
            return True
    return False


def sign_in_issues(settings: EmailSettings) -> tuple[Issue, ...]:
    """What the settings lack before a person's sign-in (device code or browser) can
    start (field-named)."""
    flow = settings.oauth_flow
    if settings.auth_method is not AuthMethod.OAUTH2 or flow not in (
        OAuthFlow.DEVICE_CODE,
        OAuthFlow.LOOPBACK,
    ):
        return (Issue("oauth_flow", "oauth_device_flow_not_chosen", Level.ERROR),)
    needed = ["oauth_client_id"]
    if settings.oauth_provider is OAuthProvider.MICROSOFT:
        needed.append("oauth_tenant")
    if settings.oauth_provider is OAuthProvider.GENERIC:
        needed.append("oauth_token_url")
        needed.append(
            "oauth_device_url" if flow is OAuthFlow.DEVICE_CODE else "oauth_authorize_url"
        )
    return tuple(
        Issue(f, "oauth_sign_in_field_missing", Level.ERROR, {"field": f})
        for f in needed
        if not getattr(settings, f)
    )


async def device_sign_in(
    services: Services,
    *,
    show: Callable[[DeviceCode], None],
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> str:
    """Run the device code sign-in for the configured mailbox; store its refresh token.

    Returns the mailbox (the ``username``) signed in for.

    Raises:
        ConfigError: the settings are not ready for it (``issues`` names the fields).
        SignInFailed: ``denied``, ``expired`` or ``refused`` (with a ``hint``).
        DeliveryError: the provider could not be reached.
    """
    settings, config = _ready(services)
    code = await start_device_sign_in(config)
    show(code)
    signed = await finish_device_sign_in(config, code, sleep=sleep)
    _store(services, signed.refresh_token)
    return settings.username


async def browser_sign_in(
    services: Services, *, show: Callable[[str], None], timeout: float = 300.0
) -> str:
    """Run the browser sign-in (loopback redirect) for the mailbox; store its refresh
    token.  ``show`` gets the address to open in a browser on this machine.

    Raises: as :func:`device_sign_in`.
    """
    settings, config = _ready(services)
    signed = await loopback_sign_in(config, show=show, timeout=timeout)
    _store(services, signed.refresh_token)
    return settings.username


def _ready(services: Services) -> tuple[EmailSettings, OAuthConfig]:
    settings = services.settings.load()
    issues = sign_in_issues(settings)
    if issues:
        raise ConfigError("the settings are not ready for a sign-in", issues=issues)
    return settings, oauth_config(dataclasses.replace(settings, oauth_refresh_token=None))


def _store(services: Services, refresh_token: Secret) -> None:
    _, report, saved = services.settings.update({"oauth_refresh_token": refresh_token})
    if not saved:
        raise ConfigError("the refresh token could not be stored", issues=report.issues)
