"""Access tokens: fetched when needed, refreshed before they expire, one per process.

A :class:`TokenManager` holds the current access token of one sign-in; every SMTP
connection of the process asks it (:func:`shared_tokens` gives the same manager for the
same settings), so a token is fetched once and reused until ``margin`` seconds before it
expires.  A server that refuses a token (535) calls :meth:`TokenManager.after_rejection`
once: a new token, unless another connection already got one.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from tocsin.errors import SignInRefused
from tocsin.secret import Secret
from tocsin.signin.client import oauth_client, token_call
from tocsin.signin.providers import Flow, OAuthConfig
from tocsin.signin.service_account import JWT_BEARER, KeyProblem, assertion, parse_key

__all__ = ["AccessToken", "TokenManager", "shared_tokens"]

_log = logging.getLogger(__name__)

DEFAULT_MARGIN: Final = 300.0
"""Refresh this many seconds before the token expires (Entra: tokens live 60-90 min)."""


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A bearer token, when it expires (``clock`` seconds) and the scope it carries."""

    value: Secret
    expires_at: float
    scope: str


class TokenManager:
    """The current access token of one sign-in, refreshed before it expires.

    ``on_refresh_token`` receives a new refresh token when the provider rotates it (store
    it: the old one may stop working).  ``clock`` is ``time.time`` by default.
    """

    def __init__(
        self,
        config: OAuthConfig,
        *,
        margin: float = DEFAULT_MARGIN,
        clock: Callable[[], float] = time.time,
        on_refresh_token: Callable[[Secret], None] | None = None,
    ) -> None:
        self.config = config
        self._margin = margin
        self._clock = clock
        self._on_refresh_token = on_refresh_token
        self._refresh = config.refresh_token
        self._current: AccessToken | None = None
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._guard = threading.Lock()
        self.fetches = 0
        """How many tokens were fetched (for tests and metrics)."""

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        with self._guard:
            lock = self._locks.get(loop)
            if lock is None:
                lock = self._locks[loop] = asyncio.Lock()
            return lock

    def _fresh(self, token: AccessToken | None) -> bool:
        return token is not None and token.expires_at - self._margin > self._clock()

    async def token(self) -> AccessToken:
        """The current access token, fetched first if there is none or it expires soon.

        Raises:
            SignInRefused: the provider refuses (a configuration problem).
            ServerBusy, DeliveryTimeout, ConnectFailed, TLSFailed: see ``token_call``.
        """
        current = self._current
        if self._fresh(current):
            assert current is not None
            return current
        async with self._lock():
            current = self._current  # another caller may have fetched meanwhile
            if self._fresh(current):
                assert current is not None
                return current
            return await self._fetch()

    async def after_rejection(self, rejected: AccessToken) -> AccessToken:
        """A server refused ``rejected``: a new token, fetched at most once for it.

        If another connection replaced the token already, that one is returned without
        asking the provider again.  Raises as :meth:`token`.
        """
        async with self._lock():
            current = self._current
            if current is not None and current is not rejected and self._fresh(current):
                return current
            return await self._fetch()

    @property
    def refresh_tokens(self) -> tuple[Secret | None, ...]:
        """The refresh token it started with and the one it uses now (after rotation)."""
        return (self.config.refresh_token, self._refresh)

    async def _service_account(self, client: Any) -> Any:
        config = self.config
        try:
            key = parse_key(
                config.service_account_key.reveal() if config.service_account_key else ""
            )
        except KeyProblem as exc:
            raise SignInRefused(
                f"the service account key is not usable: {exc}", hint="key_invalid"
            ) from None
        url = config.token_url or key.token_uri
        signed = assertion(key, mailbox=config.mailbox, scope=config.scopes, audience=url)
        return await token_call(
            lambda: client.fetch_token(url, grant_type=JWT_BEARER, assertion=signed)
        )

    def forget(self) -> None:
        """Drop the current token (the next :meth:`token` fetches one)."""
        self._current = None

    async def _fetch(self) -> AccessToken:
        config = self.config
        url = config.token_endpoint
        async with oauth_client(config) as client:
            if config.flow is Flow.APP_ONLY:
                # Entra wants the client id beside a client assertion (not with a secret).
                extra = {"client_id": config.client_id} if config.client_certificate else {}
                answer: Any = await token_call(
                    lambda: client.fetch_token(url, grant_type="client_credentials", **extra)
                )
            elif config.flow in (Flow.DEVICE_CODE, Flow.LOOPBACK):
                refresh = self._refresh
                if not refresh:
                    raise SignInRefused(
                        "no one has signed in yet: run the sign-in (tocsin settings oauth sign-in)",
                        hint="grant_revoked",
                    )
                answer = await token_call(
                    lambda: client.refresh_token(url, refresh_token=refresh.reveal())
                )
            else:
                answer = await self._service_account(client)
        self.fetches += 1
        new_refresh = answer.get("refresh_token")
        if new_refresh and (self._refresh is None or new_refresh != self._refresh.reveal()):
            self._refresh = Secret(str(new_refresh))
            if self._on_refresh_token is not None:
                try:
                    self._on_refresh_token(self._refresh)
                except Exception:
                    # The old refresh token stays valid for its lifetime (Entra: 90 days).
                    _log.exception("storing the rotated refresh token failed")
        lifetime = float(answer.get("expires_in") or 3600)
        token = AccessToken(
            value=Secret(str(answer["access_token"])),
            expires_at=self._clock() + lifetime,
            scope=str(answer.get("scope") or config.scopes),
        )
        self._current = token
        _log.info("OAuth2 token obtained (scope %s, expires in %.0f s)", token.scope, lifetime)
        return token


_SHARED_MAX: Final = 4  # settings change rarely; old sign-ins are let go
_shared: dict[str, TokenManager] = {}
_shared_guard = threading.Lock()


def shared_tokens(
    config: OAuthConfig, *, on_refresh_token: Callable[[Secret], None] | None = None
) -> TokenManager:
    """The process's one :class:`TokenManager` for ``config`` (made on first use).

    Settings that differ in anything (a new secret, a new sign-in) get a new manager; a
    refresh token the manager itself rotated (and the settings then stored) does not.
    """
    key = config.fingerprint()
    with _shared_guard:
        manager = _shared.get(key)
        if manager is not None and config.refresh_token not in manager.refresh_tokens:
            manager = None  # a new sign-in: its grant, not the old one's tokens
        if manager is None:
            _shared.pop(key, None)
            manager = _shared[key] = TokenManager(config, on_refresh_token=on_refresh_token)
            while len(_shared) > _SHARED_MAX:
                del _shared[next(iter(_shared))]
        return manager
