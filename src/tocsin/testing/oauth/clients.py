"""Client authentication at the local OAuth2 server, with Entra ID's refusals.

A client proves itself with its secret (HTTP Basic or in the form, RFC 6749 §2.3.1),
with a signed client assertion (RFC 7523 §2.2, checked by
``tocsin.testing.client_certs``), or not at all (a public client).
"""

from __future__ import annotations

from tocsin.testing.client_certs import ASSERTION_TYPE, AssertionRefused, check_client_assertion
from tocsin.testing.oauth.records import (
    AuthorityConfig,
    Client,
    OAuthError,
    Registry,
    unverified_issuer,
)

__all__ = ["authenticate"]


def authenticate(
    registry: Registry,
    config: AuthorityConfig,
    form: dict[str, str],
    basic: tuple[str, str] | None,
) -> Client:
    """The application a token or device request comes from (the caller holds the lock).

    Raises:
        OAuthError: unknown, wrong secret, expired secret, bad assertion, disabled, or
            without consent, each with Entra's AADSTS text.
    """
    if "client_assertion" in form or "client_assertion_type" in form:
        return _asserted_client(registry, config, form)
    client_id, secret = basic if basic else (form.get("client_id", ""), None)
    if basic is None and "client_secret" in form:
        secret = form["client_secret"]
    client = _known(registry, config, client_id)
    if client.secret is not None and secret != client.secret:
        raise OAuthError(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
    if client.secret is not None and client.secret_expired:
        raise OAuthError(
            401,
            "invalid_client",
            f"AADSTS7000222: The provided client secret keys for app '{client_id[:60]}' "
            "are expired.",
        )
    _check_standing(client)
    return client


def _asserted_client(registry: Registry, config: AuthorityConfig, form: dict[str, str]) -> Client:
    """A client that authenticates with a signed client assertion (RFC 7523 §2.2)."""
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise OAuthError(
            400,
            "invalid_request",
            f"AADSTS700008: The client_assertion_type must be '{ASSERTION_TYPE}'.",
        )
    assertion = form.get("client_assertion", "")
    client_id = form.get("client_id") or unverified_issuer(assertion)
    client = _known(registry, config, client_id)
    try:
        check_client_assertion(
            assertion,
            client_id=client.client_id,
            certificates=client.certificates,
            audience=config.token_url,
            now=config.clock(),
        )
    except AssertionRefused as exc:
        raise OAuthError(exc.status, exc.error, exc.description) from None
    _check_standing(client)
    registry.assertions_accepted += 1
    return client


def _known(registry: Registry, config: AuthorityConfig, client_id: str) -> Client:
    client = registry.clients.get(client_id)
    if client is None:
        raise OAuthError(
            400,
            "unauthorized_client",
            f"AADSTS700016: Application with identifier '{client_id[:60]}' was not found "
            f"in the directory '{config.tenant}'.",
        )
    return client


def _check_standing(client: Client) -> None:
    """A disabled application, or one nobody consented to, gets no token."""
    if not client.enabled:
        raise OAuthError(400, "unauthorized_client", "AADSTS7000112: Application is disabled.")
    if not client.consented:
        raise OAuthError(
            400,
            "invalid_grant",
            "AADSTS65001: The user or administrator has not consented to use the "
            f"application with ID '{client.client_id[:60]}'.",
        )
