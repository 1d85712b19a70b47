"""What an SMTP session calls to log in with an OAuth2 token: :class:`BearerLogin`.

The session owns the wire; this owns the token and the SASL strings.  One
``BearerLogin`` per SMTP session, all sharing the process's :class:`TokenManager`::

    login = BearerLogin(tokens, user=settings.username)
    mechanism = login.mechanism(offered)            # from the EHLO's AUTH list
    while True:
        reply = AUTH <mechanism> <await login.initial_response(mechanism, host, port)>
        if reply.code == 334:                      # RFC 7628 §3.2.2 error challenge
            reply = <send login.abort_response(mechanism)>
        if reply.code == 235: break                # logged in
        if not await login.rejected(reply.code, reply.message): raise login.failure(...)

A 535 refreshes the token once and the session tries once more (a token revoked or
expired early); a second refusal is :class:`~tocsin.errors.AuthFailed`.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable

from tocsin.errors import AuthFailed, Reason, Step
from tocsin.secret import Secret
from tocsin.settings import AuthMethod, EmailSettings
from tocsin.signin.providers import oauth_config
from tocsin.signin.sasl import Mechanism, abort_response, choose_mechanism, initial_response
from tocsin.signin.tokens import AccessToken, TokenManager, shared_tokens

__all__ = ["BearerLogin", "login_for"]


class BearerLogin:
    """The OAuth2 side of one SMTP session's AUTH (XOAUTH2 or OAUTHBEARER)."""

    def __init__(self, tokens: TokenManager, *, user: str) -> None:
        self._tokens = tokens
        self._user = user
        self._used: AccessToken | None = None
        self._retried = False
        self.scope = ""
        """The scope of the token last sent (for the test email's report)."""
        self.expires_at = 0.0
        """When that token expires (``time.time`` seconds)."""

    @property
    def endpoint(self) -> str:
        """The token endpoint's address (no secret in it), for the test email's report."""
        return self._tokens.config.token_endpoint

    async def prepare(self) -> bool:
        """Have a token ready before AUTH; True if the token endpoint was asked for it
        (False: the process's current token is still fresh).  Raises as
        :meth:`initial_response`."""
        before = self._tokens.fetches
        token = await self._tokens.token()
        self.scope, self.expires_at = token.scope, token.expires_at
        return self._tokens.fetches != before

    def mechanism(self, offered: Iterable[str]) -> Mechanism:
        """OAUTHBEARER or XOAUTH2, whichever the server offers (the standard one first).

        Raises:
            AuthFailed: the server offers neither (``auth_unavailable``).
        """
        offered = list(offered)
        chosen = choose_mechanism(offered)
        if chosen is None:
            listed = " ".join(offered) or "none"
            raise AuthFailed(
                f"the server offers no OAuth2 login (XOAUTH2 or OAUTHBEARER); it offers: {listed}",
                step=Step.AUTH,
                reason=Reason.AUTH_UNAVAILABLE,
            )
        return chosen

    async def initial_response(self, mechanism: Mechanism, *, host: str, port: int) -> str:
        """The base64 text to send as ``AUTH <mechanism> <text>`` (RFC 4954 §4).

        Raises:
            SignInRefused: the provider refuses a token (pause: configuration problem).
            ServerBusy, DeliveryTimeout, ConnectFailed, TLSFailed: the token endpoint.
        """
        token = await self._tokens.token()
        self._used = token
        self.scope, self.expires_at = token.scope, token.expires_at
        raw = initial_response(mechanism, user=self._user, token=token.value, host=host, port=port)
        return base64.b64encode(raw).decode("ascii")

    @staticmethod
    def abort_response(mechanism: Mechanism) -> str:
        """The base64 answer to an error challenge (``334 <json>``) before the final 5xx."""
        return base64.b64encode(abort_response(mechanism)).decode("ascii")

    async def rejected(self, code: int, message: str) -> bool:
        """The server refused the token (``code`` 535 or another 5xx).

        True, once per session on a 535: a fresh token is ready, send AUTH again.  False:
        give up and raise :meth:`failure`.  Raises as :meth:`initial_response` when the
        refresh itself is refused.
        """
        if code != 535 or self._retried or self._used is None:
            return False
        self._retried = True
        await self._tokens.after_rejection(self._used)
        return True

    def failure(self, code: int, message: str) -> AuthFailed:
        """The error to raise when the server refused the token for good."""
        return AuthFailed(
            "the server refused the OAuth2 token",
            step=Step.AUTH,
            reason=Reason.AUTH_FAILED,
            code=code,
            server_message=message,
        )


def login_for(
    settings: EmailSettings, *, on_refresh_token: Callable[[Secret], None] | None = None
) -> BearerLogin | None:
    """The OAuth2 login for one SMTP session under ``settings``, or None when the settings
    do not use OAuth2.  Every session of the process shares one token per sign-in.

    ``on_refresh_token`` stores a refresh token the provider rotated (the services pass
    the settings store's writer; the transport must not write settings itself).
    """
    if settings.auth_method is not AuthMethod.OAUTH2:
        return None
    tokens = shared_tokens(oauth_config(settings), on_refresh_token=on_refresh_token)
    return BearerLogin(tokens, user=settings.username)
