"""Delegated sign-in with the device code flow (RFC 8628).

:func:`start_device_sign_in` asks for a code (§3.1/3.2); the person opens the
verification address on any device and enters it; :func:`finish_device_sign_in` polls the
token endpoint (§3.4) at the interval the provider set, slowing down when told (§3.5),
until the person has signed in (a refresh token to store), refused, or the code expired.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from tocsin.errors import DeliveryError, SignInFailed, SignInRefused
from tocsin.secret import Secret
from tocsin.signin.classify import classify
from tocsin.signin.client import oauth_client, token_call
from tocsin.signin.providers import OAuthConfig
from tocsin.signin.tokens import AccessToken

__all__ = ["DeviceCode", "SignedIn", "finish_device_sign_in", "start_device_sign_in"]

DEVICE_GRANT: Final = "urn:ietf:params:oauth:grant-type:device_code"
SLOW_DOWN_STEP: Final = 5.0  # RFC 8628 §3.5: add 5 seconds to the interval


@dataclass(frozen=True, slots=True)
class DeviceCode:
    """What to show the person: the code and where to enter it; the device code is secret."""

    user_code: str
    verification_uri: str
    expires_in: float
    interval: float
    device_code: Secret


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The outcome of a completed sign-in: the refresh token to store, the first token."""

    refresh_token: Secret
    access: AccessToken


def _refused(error: BaseException) -> SignInFailed:
    hint = error.hint if isinstance(error, SignInRefused) else ""
    return SignInFailed(f"the sign-in failed: {error}", code="refused", hint=hint)


async def start_device_sign_in(config: OAuthConfig) -> DeviceCode:
    """Ask the provider for a device code (RFC 8628 §3.1).

    Raises:
        SignInFailed: the provider refused (``code`` "refused", ``hint`` names the fix).
        DeliveryError: the provider was not reached (temporary).
    """
    async with oauth_client(config) as client:

        async def call() -> Any:
            return await client.request(
                "POST",
                config.device_endpoint,
                data={"client_id": config.client_id, "scope": config.scopes},
                withhold_token=True,
            )

        response = await token_call(call)
    try:
        doc = response.json()
    except ValueError:
        doc = {}
    if response.status_code != 200 or "device_code" not in doc:
        raise _refused(
            classify(
                str(doc.get("error", "")),
                str(doc.get("error_description", "")),
                status=response.status_code,
            )
        )
    return DeviceCode(
        user_code=str(doc["user_code"]),
        verification_uri=str(doc.get("verification_uri") or doc.get("verification_url", "")),
        expires_in=float(doc.get("expires_in") or 900),
        interval=float(doc.get("interval") if doc.get("interval") is not None else 5),
        device_code=Secret(str(doc["device_code"])),
    )


async def finish_device_sign_in(
    config: OAuthConfig,
    code: DeviceCode,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    slow_down_step: float = SLOW_DOWN_STEP,
) -> SignedIn:
    """Poll until the person has signed in; return the refresh token to store.

    Raises:
        SignInFailed: ``denied`` (the person refused), ``expired`` (no sign-in in time),
            ``refused`` (the provider refused the app; ``hint`` names the fix).
    """
    interval = code.interval
    deadline = clock() + code.expires_in
    async with oauth_client(config) as client:
        while True:
            await sleep(interval)
            if clock() >= deadline:
                raise SignInFailed("the code expired before anyone signed in", code="expired")
            try:
                answer: Any = await token_call(
                    lambda: client.fetch_token(
                        config.token_endpoint,
                        grant_type=DEVICE_GRANT,
                        device_code=code.device_code.reveal(),
                    )
                )
            except DeliveryError as exc:
                error = _oauth_error(exc)
                if error == "authorization_pending":
                    continue
                if error == "slow_down":
                    interval += slow_down_step
                    continue
                if error == "expired_token":
                    raise SignInFailed(
                        "the code expired before anyone signed in", code="expired"
                    ) from exc
                if error in ("access_denied", "authorization_declined"):
                    raise SignInFailed("the sign-in was declined", code="denied") from exc
                if isinstance(exc, SignInRefused):
                    raise _refused(exc) from exc
                raise
            break
    refresh = answer.get("refresh_token")
    if not refresh:
        raise SignInFailed(
            "the provider gave no refresh token (is offline_access in the scope?)",
            code="refused",
            hint="scope_invalid",
        )
    lifetime = float(answer.get("expires_in") or 3600)
    access = AccessToken(
        value=Secret(str(answer["access_token"])),
        expires_at=time.time() + lifetime,
        scope=str(answer.get("scope") or config.scopes),
    )
    return SignedIn(refresh_token=Secret(str(refresh)), access=access)


def _oauth_error(exc: BaseException) -> str:
    """The RFC 6749 error code behind a translated error, or ""."""
    cause = exc.__cause__
    return str(getattr(cause, "error", "") or "")
