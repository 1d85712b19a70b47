"""The local OAuth2 server's endpoints: what each request gets, as Entra ID and Google
answer it.  The HTTP side is in ``wire``; the records in ``records``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import urllib.parse
from collections.abc import Callable
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError

from tocsin.testing.oauth.clients import authenticate
from tocsin.testing.oauth.records import (
    DEVICE_GRANT,
    JWT_GRANT,
    Access,
    AuthorityConfig,
    Client,
    Device,
    Grant,
    OAuthError,
    Registry,
    TokenRequest,
    unverified_issuer,
)

__all__ = ["Endpoints"]


class Endpoints:
    """Answers the server's requests from ``registry``, reading ``config`` each time."""

    def __init__(self, config: AuthorityConfig, registry: Registry) -> None:
        self.config = config
        self.registry = registry

    def handle(self, path: str, form: dict[str, str], basic: tuple[str, str] | None) -> Any:
        """Answer one POST (a JSON-ready dict).

        Raises:
            OAuthError: the OAuth error answer (status, code, description).
        """
        with self.registry.lock:
            if path == "/device":
                return self._device_page(form)
            if path == "/introspect":
                return self._introspect(form)
            if path == "/revoke":
                return self._revoke(form)
            if path == "/token":
                grant = form.get("grant_type", "")
                if grant == JWT_GRANT:
                    return self._recorded(grant, lambda: self._jwt_bearer(form))
                return self._recorded(grant, lambda: self._token(grant, form, basic))
            tenant, _, rest = path.lstrip("/").partition("/")
            if rest not in ("oauth2/v2.0/token", "oauth2/v2.0/devicecode"):
                raise OAuthError(404, "not_found")
            if tenant != self.config.tenant:
                raise OAuthError(
                    400,
                    "invalid_request",
                    f"AADSTS90002: Tenant '{tenant[:60]}' not found. Check to make sure you "
                    "have the correct tenant ID and are signing into the correct cloud.",
                )
            if rest.endswith("devicecode"):
                return self._device_authorization(form)
            grant_type = form.get("grant_type", "")
            return self._recorded(grant_type, lambda: self._token(grant_type, form, basic))

    def authorize(self, query: dict[str, str]) -> str:
        """``GET /authorize``: where the browser goes next (the loopback redirect).

        Raises:
            OAuthError: an unknown client, a redirect off loopback, no PKCE (S256).
        """
        with self.registry.lock:
            client = self.registry.clients.get(query.get("client_id", ""))
            redirect = query.get("redirect_uri", "")
            loopback = redirect.startswith(("http://127.0.0.1:", "http://[::1]:"))
            if client is None or not loopback or query.get("response_type") != "code":
                raise OAuthError(400, "invalid_request", "Error 400: invalid_request")
            if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
                raise OAuthError(400, "invalid_request", "PKCE (S256) is required")
            state = urllib.parse.quote(query.get("state", ""), safe="")
            if query.get("decision") == "deny":
                return f"{redirect}?error=access_denied&state={state}"
            code = secrets.token_urlsafe(24)
            self.registry.codes[code] = (
                client.client_id,
                redirect,
                query["code_challenge"],
                query.get("user", ""),
                query.get("scope", ""),
            )
            return f"{redirect}?code={code}&state={state}"

    # ---------------------------------------------------------------- the token endpoint
    def _recorded(self, grant_type: str, answer: Callable[[], Any]) -> Any:
        try:
            result = answer()
        except OAuthError as exc:
            self.registry.token_requests.append(TokenRequest(grant_type, exc.error))
            raise
        self.registry.token_requests.append(TokenRequest(grant_type, "ok"))
        return result

    def _jwt_bearer(self, form: dict[str, str]) -> dict[str, Any]:
        if form.get("grant_type") != JWT_GRANT:
            raise OAuthError(400, "unsupported_grant_type", "Invalid grant_type.")
        token = form.get("assertion", "")
        issuer = unverified_issuer(token)
        account = self.registry.accounts.get(issuer)
        if account is None:
            raise OAuthError(400, "invalid_grant", "Invalid JWT Signature.")
        key, delegated = account
        try:
            claims = jwt.decode(token, key).claims
        except (JoseError, ValueError):
            raise OAuthError(400, "invalid_grant", "Invalid JWT Signature.") from None
        now = self.config.clock()
        if claims.get("aud") != self.config.google_token_url or not (
            int(claims.get("iat", 0)) - 300 <= now < int(claims.get("exp", 0))
        ):
            raise OAuthError(
                400,
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                "reasonable timeframe. Check your iat and exp values in the JWT claim.",
            )
        if not delegated or not claims.get("sub"):
            raise OAuthError(
                401,
                "unauthorized_client",
                "Client is unauthorized to retrieve access tokens using this method, or "
                "client not authorized for any of the scopes requested.",
            )
        grant = Grant(issuer, str(claims["sub"]), str(claims.get("scope", "")))
        return self._issue(grant, False)

    def _token(
        self, grant_type: str, form: dict[str, str], basic: tuple[str, str] | None
    ) -> dict[str, Any]:
        client = authenticate(self.registry, self.config, form, basic)
        if grant_type == "client_credentials":
            if client.secret is None and "client_assertion" not in form:
                raise OAuthError(
                    401,
                    "invalid_client",
                    "AADSTS7000218: The request body must contain the following parameter: "
                    "'client_assertion' or 'client_secret'.",
                )
            return self._issue(Grant(client.client_id, None, form.get("scope", "")), False)
        if grant_type == "refresh_token":
            return self._refreshed(client, form.get("refresh_token", ""))
        if grant_type == DEVICE_GRANT:
            return self._poll(client, form.get("device_code", ""))
        if grant_type == "authorization_code":
            return self._redeem(client, form)
        raise OAuthError(400, "unsupported_grant_type", "AADSTS70003: unsupported grant type.")

    def _refreshed(self, client: Client, token: str) -> dict[str, Any]:
        grant = self.registry.refresh.get(token)
        if grant is None or grant.client_id != client.client_id:
            raise OAuthError(
                400,
                "invalid_grant",
                "AADSTS9002313: Invalid request. Request is malformed or invalid.",
            )
        if grant.revoked:
            raise OAuthError(
                400,
                "invalid_grant",
                "AADSTS50173: The provided grant has expired due to it being revoked, a "
                "fresh auth token is needed.",
            )
        return self._issue(grant, True)

    def _issue(self, grant: Grant, refresh: bool) -> dict[str, Any]:
        lifetime = self.config.token_lifetime
        access = secrets.token_urlsafe(32)
        self.registry.access[access] = Access(grant, self.config.clock() + lifetime)
        answer: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": access,
            "expires_in": int(lifetime) if lifetime == int(lifetime) else lifetime,
            "scope": grant.scope,
        }
        if refresh:
            token = secrets.token_urlsafe(48)
            self.registry.refresh[token] = grant
            answer["refresh_token"] = token
        return answer

    def _redeem(self, client: Client, form: dict[str, str]) -> dict[str, Any]:
        entry = self.registry.codes.pop(form.get("code", ""), None)
        if entry is None or entry[0] != client.client_id:
            raise OAuthError(400, "invalid_grant", "Malformed auth code.")
        _, redirect, challenge, user, scope = entry
        verifier = form.get("code_verifier", "")
        digest = hashlib.sha256(verifier.encode()).digest()
        expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        if form.get("redirect_uri") != redirect or not hmac.compare_digest(expected, challenge):
            raise OAuthError(400, "invalid_grant", "Bad Request: code verifier or redirect")
        return self._issue(Grant(client.client_id, user or None, scope), True)

    # ---------------------------------------------------------------- the device code flow
    def _device_authorization(self, form: dict[str, str]) -> dict[str, Any]:
        config = self.config
        client = authenticate(self.registry, config, form, None)
        code = secrets.token_urlsafe(32)
        user_code = "".join(secrets.choice("BCDFGHJKLMNPQRSTVWXZ") for _ in range(8))
        self.registry.devices[code] = Device(
            grant_client=client.client_id,
            scope=form.get("scope", ""),
            user_code=user_code,
            expires_at=config.clock() + config.device_lifetime,
            interval=config.interval,
        )
        return {
            "device_code": code,
            "user_code": user_code,
            "verification_uri": config.verification_url,
            "expires_in": int(config.device_lifetime),
            "interval": config.interval,
            "message": f"To sign in, open {config.verification_url} and enter the code "
            f"{user_code} to authenticate.",
        }

    def _poll(self, client: Client, device_code: str) -> dict[str, Any]:
        device = self.registry.devices.get(device_code)
        if device is None or device.grant_client != client.client_id or device.issued:
            raise OAuthError(400, "invalid_grant", "AADSTS70000: The device code is not valid.")
        now = self.config.clock()
        if now >= device.expires_at:
            raise OAuthError(
                400,
                "expired_token",
                "AADSTS70020: The provided value for the input "
                "parameter 'device_code' is not valid. This device code has expired.",
            )
        too_soon = device.last_poll is not None and now - device.last_poll < device.interval
        device.last_poll = now
        if device.script:
            error = device.script.pop(0)
            if error == "slow_down":
                device.interval += self.config.slow_down_step
            raise OAuthError(400, error, f"scripted {error}")
        if too_soon:
            device.interval += self.config.slow_down_step
            raise OAuthError(400, "slow_down", "AADSTS70000: polling too fast; slow down.")
        if device.decision == "pending":
            raise OAuthError(
                400,
                "authorization_pending",
                "AADSTS70016: OAuth 2.0 device flow error. Authorization is pending.",
            )
        if device.decision == "denied":
            raise OAuthError(400, "access_denied", "AADSTS70000: The user declined to sign in.")
        device.issued = True
        return self._issue(Grant(client.client_id, device.user, device.scope), True)

    def _device_page(self, form: dict[str, str]) -> dict[str, Any]:
        try:
            device = self.registry.device_by_user_code(form.get("user_code", ""))
        except KeyError:
            raise OAuthError(400, "invalid_request", "no such code") from None
        if form.get("decision") == "deny":
            device.decision = "denied"
        else:
            device.decision = "approved"
            device.user = form.get("user") or None
        return {"decision": device.decision}

    # ---------------------------------------------------------------- introspection, revocation
    def _introspect(self, form: dict[str, str]) -> dict[str, Any]:
        token = form.get("token", "")
        access = self.registry.access.get(token)
        if access is None or access.expires_at <= self.config.clock() or access.grant.revoked:
            return {"active": False}
        out: dict[str, Any] = {
            "active": True,
            "client_id": access.grant.client_id,
            "scope": access.grant.scope,
            "exp": int(access.expires_at),
        }
        if access.grant.user:
            out["sub"] = access.grant.user
        return out

    def _revoke(self, form: dict[str, str]) -> dict[str, Any]:
        # RFC 7009 §2.2: 200 whether or not the token was known.
        grant = self.registry.refresh.get(form.get("token", ""))
        if grant is not None:
            grant.revoked = True
        return {}
