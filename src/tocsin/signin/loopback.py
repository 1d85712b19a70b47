"""Delegated sign-in in a browser on this machine: the authorization code flow with PKCE
(RFC 7636) and a loopback redirect (RFC 8252 §7.3), as Google's desktop clients sign in.

Tocsin listens on ``127.0.0.1`` on a free port for the one redirect, shows the address to
open, and trades the code (with its verifier) for a refresh token.  The ``state`` value
ties the answer to this sign-in; a redirect with another state is refused.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import time
import urllib.parse
from collections.abc import Callable
from typing import Any, Final

from tocsin.errors import SignInFailed, SignInRefused
from tocsin.secret import Secret
from tocsin.signin.client import oauth_client, token_call
from tocsin.signin.device import SignedIn
from tocsin.signin.providers import OAuthConfig
from tocsin.signin.tokens import AccessToken

__all__ = ["loopback_sign_in"]

_PAGE: Final = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"
    b"Content-Length: 52\r\n\r\nTocsin: the sign-in is done; close this window now.\n"
)
_MAX_REQUEST: Final = 16384


async def loopback_sign_in(
    config: OAuthConfig, *, show: Callable[[str], None], timeout: float = 300.0
) -> SignedIn:
    """Show the address to open in a browser here; wait for the redirect; return the
    refresh token to store.

    Raises:
        SignInFailed: ``denied``, ``expired`` (nobody signed in within ``timeout``) or
            ``refused`` (with a ``hint``).
        DeliveryError: the token endpoint could not be reached.
    """
    answer: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()
    state = secrets.token_urlsafe(24)

    async def redirected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            target = head.split(b" ", 2)[1].decode("ascii", "replace")[:_MAX_REQUEST]
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(target).query)
            fields = {k: v[0] for k, v in query.items()}
            if fields.get("state") == state and not answer.done():
                answer.set_result(fields)
            writer.write(_PAGE)
            await writer.drain()
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(redirected, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        redirect_uri = f"http://127.0.0.1:{port}/"
        verifier = secrets.token_urlsafe(64)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        params = {
            "client_id": config.client_id,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "scope": config.scopes,
            "state": state,
            "code_challenge": challenge.rstrip(b"=").decode(),
            "code_challenge_method": "S256",
            "access_type": "offline",  # Google: a refresh token
            "prompt": "consent",
        }
        show(f"{config.authorize_endpoint}?{urllib.parse.urlencode(params)}")
        try:
            fields = await asyncio.wait_for(answer, timeout)
        except TimeoutError:
            raise SignInFailed("nobody signed in in time", code="expired") from None
    finally:
        server.close()
        await server.wait_closed()
    if "code" not in fields:
        if fields.get("error") == "access_denied":
            raise SignInFailed("the sign-in was declined", code="denied")
        raise SignInFailed(
            f"the sign-in failed: {fields.get('error', 'no code')[:60]}", code="refused"
        )
    return await _redeem(config, fields["code"], verifier, redirect_uri)


async def _redeem(config: OAuthConfig, code: str, verifier: str, redirect_uri: str) -> SignedIn:
    async with oauth_client(config) as client:
        try:
            answer: Any = await token_call(
                lambda: client.fetch_token(
                    config.token_endpoint,
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=verifier,
                    redirect_uri=redirect_uri,
                )
            )
        except SignInRefused as exc:
            raise SignInFailed(f"the sign-in failed: {exc}", code="refused", hint=exc.hint) from exc
    refresh = answer.get("refresh_token")
    if not refresh:
        raise SignInFailed(
            "the provider gave no refresh token", code="refused", hint="scope_invalid"
        )
    lifetime = float(answer.get("expires_in") or 3600)
    access = AccessToken(
        value=Secret(str(answer["access_token"])),
        expires_at=time.time() + lifetime,
        scope=str(answer.get("scope") or config.scopes),
    )
    return SignedIn(refresh_token=Secret(str(refresh)), access=access)
