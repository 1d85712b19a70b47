"""The token endpoint's client: authlib's async client, and its failures translated.

authlib (over httpx2, the continuation of httpx that authlib 1.8+ uses) speaks RFC 6749
for us: client
authentication, the grants, the error answers.  This module only builds the client for
an :class:`OAuthConfig` and maps what can go wrong onto Tocsin's error tree, at this one
boundary, keeping the cause (``raise ... from``).
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx2
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError

from tocsin.errors import ConnectFailed, DeliveryTimeout, Reason, Step, TLSFailed
from tocsin.signin.certificate import certificate_auth
from tocsin.signin.classify import classify
from tocsin.signin.providers import Flow, OAuthConfig

__all__ = ["oauth_client", "token_call"]

T = TypeVar("T")


def tls_context(ca_file: str) -> ssl.SSLContext:
    """The system store, plus ``ca_file`` when given; always verified, TLS 1.2 or newer."""
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


@asynccontextmanager
async def oauth_client(config: OAuthConfig) -> AsyncIterator[Any]:
    """An authlib ``AsyncOAuth2Client`` for ``config``, closed on leaving.

    App-only with a client certificate authenticates with a signed client assertion
    (``private_key_jwt``); the certificate wins over a secret also stored.

    Raises:
        SignInRefused: the stored client certificate is not usable.
    """
    secret: Any = config.client_secret.reveal() if config.client_secret else None
    # A public client (device code sign-in without a secret) sends its id in the form.
    method: Any = "client_secret_basic" if secret else "none"
    if config.client_certificate is not None and config.flow is Flow.APP_ONLY:
        secret, method = certificate_auth(config.client_certificate, config.token_endpoint)
    client = AsyncOAuth2Client(
        client_id=config.client_id or None,
        client_secret=secret,
        token_endpoint_auth_method=method,
        scope=config.scopes,
        verify=tls_context(config.ca_file),
        timeout=config.timeout,
        follow_redirects=False,
    )
    async with client:
        yield client


async def token_call(call: Callable[[], Awaitable[T]]) -> T:
    """Run one request to the token endpoint; its failures as Tocsin's errors.

    Raises:
        SignInRefused: the provider refused for good (a configuration problem).
        ServerBusy: the endpoint answered 429 / 5xx / ``temporarily_unavailable``.
        DeliveryTimeout, ConnectFailed: the endpoint was not reached in time, or at all.
        TLSFailed: its certificate was not trusted.
    """
    try:
        return await call()
    except OAuthError as exc:
        raise classify(str(exc.error), str(exc.description or "")) from exc
    except httpx2.HTTPStatusError as exc:
        raise classify("", status=exc.response.status_code) from exc
    except httpx2.TimeoutException as exc:
        raise DeliveryTimeout(
            "the sign-in service did not answer in time", step=Step.OAUTH, reason=Reason.TIMEOUT
        ) from exc
    except httpx2.TransportError as exc:
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, ssl.SSLError):
            cause = cause.__cause__ or cause.__context__
        if isinstance(cause, ssl.SSLCertVerificationError):
            raise TLSFailed(
                f"the sign-in service's certificate was not accepted: {cause.verify_message}",
                step=Step.OAUTH,
                reason=Reason.CERT_INVALID,
            ) from exc
        raise ConnectFailed(
            f"the sign-in service could not be reached ({type(exc).__name__})",
            step=Step.OAUTH,
            reason=Reason.CONNECT_FAILED,
        ) from exc
    except ValueError as exc:  # a 4xx whose body is not JSON (authlib's own check)
        raise classify("", str(exc)) from exc
