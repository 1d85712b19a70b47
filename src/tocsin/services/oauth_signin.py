"""Use case: sign in a mailbox with the device code flow and store the refresh token.

The faces (``tocsin settings oauth sign-in``, later the page) show the code and the
verification address through ``show`` and wait; the refresh token goes straight into the
encrypted settings and is never returned.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable

from tocsin.errors import ConfigError
from tocsin.services.context import Services
from tocsin.settings import AuthMethod, EmailSettings, OAuthFlow, OAuthProvider
from tocsin.signin import DeviceCode, finish_device_sign_in, start_device_sign_in
from tocsin.signin.providers import oauth_config
from tocsin.validation import Issue, Level

__all__ = ["device_sign_in", "sign_in_issues"]


def sign_in_issues(settings: EmailSettings) -> tuple[Issue, ...]:
    """What the settings lack before a device code sign-in can start (field-named)."""
    if settings.auth_method is not AuthMethod.OAUTH2 or settings.oauth_flow is not (
        OAuthFlow.DEVICE_CODE
    ):
        return (Issue("oauth_flow", "oauth_device_flow_not_chosen", Level.ERROR),)
    needed = ["oauth_client_id"]
    if settings.oauth_provider is OAuthProvider.MICROSOFT:
        needed.append("oauth_tenant")
    if settings.oauth_provider is OAuthProvider.GENERIC:
        needed += ["oauth_token_url", "oauth_device_url"]
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
    settings = services.settings.load()
    issues = sign_in_issues(settings)
    if issues:
        raise ConfigError("the settings are not ready for a sign-in", issues=issues)
    config = oauth_config(dataclasses.replace(settings, oauth_refresh_token=None))
    code = await start_device_sign_in(config)
    show(code)
    signed = await finish_device_sign_in(config, code, sleep=sleep)
    _, report, saved = services.settings.update({"oauth_refresh_token": signed.refresh_token})
    if not saved:
        raise ConfigError("the refresh token could not be stored", issues=report.issues)
    return settings.username
