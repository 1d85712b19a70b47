"""A faithful local OAuth2 authorization server for tests: `OAuthTestServer`.

Real HTTP over TLS (a `TestCA` certificate for ``localhost``) on its own thread, so sync
code, async code and subprocesses (the CLI) all reach it alike.  It speaks what Microsoft
Entra ID and Google speak to a mail client, with Microsoft's paths and error texts:

- ``POST /{tenant}/oauth2/v2.0/token``: ``client_credentials``, ``refresh_token`` and the
  device code grant (RFC 8628 §3.4), client authentication by HTTP Basic or in the form;
  errors as RFC 6749 §5.2 JSON (``invalid_client``, ``invalid_grant``, ...) with AADSTS
  codes in ``error_description`` as Entra ID writes them.
- client authentication with a certificate: a ``client_assertion`` (RFC 7523 §2.2) whose
  signature, thumbprint (``x5t#S256`` / ``x5t``), ``iss``/``sub``, ``aud`` and time range
  are checked against the certificates registered with `add_certificate`, refused with
  Entra's ``AADSTS7000xx`` texts (see ``tocsin.testing.client_certs``).
- ``POST /token`` (Google's form): the JWT bearer grant (RFC 7523) of a service account
  with domain-wide delegation (`add_service_account`), the signature checked against
  its public key; without delegation Google's ``unauthorized_client``.
- ``GET /authorize`` and the ``authorization_code`` grant with PKCE (RFC 7636) to a
  loopback redirect (RFC 8252 §7.3), as Google's desktop sign-in; the test's "browser"
  adds ``user=`` and ``decision=approve|deny`` and follows the redirect.
- ``POST /{tenant}/oauth2/v2.0/devicecode`` (RFC 8628 §3.1/3.2), and the polling answers
  ``authorization_pending``, ``slow_down`` (a poll sooner than the interval; the interval
  then grows by `slow_down_step`), ``expired_token`` and ``access_denied`` (§3.5).
- ``POST /device``: the page the user opens (the verification URI); a test plays the user
  with ``user_code``, ``user`` and ``decision=approve|deny`` (or `approve` / `deny`).
- ``POST /revoke`` (RFC 7009) revokes a refresh token and its whole grant.
- ``POST /introspect`` (RFC 7662) and `check` (in process): is an access token active,
  and for which mailbox.  The test SMTP server calls `check`.

Access tokens expire after `token_lifetime` seconds.  Every token request is recorded in
`token_requests` (grant type and outcome, never a token).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socket import socket
from typing import Any, Self

from cryptography import x509
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from tocsin.testing.certs import TestCA
from tocsin.testing.client_certs import ASSERTION_TYPE, AssertionRefused, check_client_assertion

__all__ = ["OAuthTestServer", "TokenRequest"]

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_WAIT = 10.0


@dataclass
class _Client:
    client_id: str
    secret: str | None  # None: a public client (device code sign-in needs no secret)
    enabled: bool = True
    secret_expired: bool = False
    consented: bool = True
    certificates: list[x509.Certificate] = field(default_factory=list)


@dataclass
class _Grant:
    """A user's consent (or an app's own access): what refresh tokens stand for."""

    client_id: str
    user: str | None  # None: app-only (client credentials)
    scope: str
    revoked: bool = False


@dataclass
class _Device:
    grant_client: str
    scope: str
    user_code: str
    expires_at: float
    interval: float
    last_poll: float | None = None
    decision: str = "pending"  # pending | approved | denied
    user: str | None = None
    issued: bool = False
    script: list[str] = field(default_factory=list)


@dataclass
class _Access:
    grant: _Grant
    expires_at: float


@dataclass(frozen=True)
class TokenRequest:
    """One request to the token endpoint: its grant type and the answer (``ok`` or the
    RFC 6749 error code)."""

    grant_type: str
    outcome: str


class _Error(Exception):
    def __init__(self, status: int, error: str, description: str = "") -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.description = description


class OAuthTestServer:
    """A local OAuth2 server over HTTPS for one tenant.  See the module docstring.

    Options (keyword-only):
        ca: the `TestCA` whose ``localhost`` certificate it presents (made if left out).
        tenant: the tenant in the paths; another tenant gets Entra's AADSTS90002.
        token_lifetime: seconds an access token lives.
        device_lifetime: seconds a device code lives (``expires_in``).
        interval: seconds a device-code client must wait between polls (may be a
            fraction, to keep tests quick).
        slow_down_step: how much a ``slow_down`` adds to the interval (RFC 8628: 5 s).
        clock: the time source (seconds), ``time.time`` by default.
        scope_hint: the scope the test SMTP server names in its RFC 7628 error challenge.
    """

    def __init__(
        self,
        *,
        ca: TestCA | None = None,
        tenant: str = "contoso-tenant",
        token_lifetime: float = 3600.0,
        device_lifetime: float = 900.0,
        interval: float = 0.2,
        slow_down_step: float = 5.0,
        clock: Callable[[], float] = time.time,
        scope_hint: str = "https://outlook.office365.com/.default",
    ) -> None:
        self.ca = ca if ca is not None else TestCA()
        self.tenant = tenant
        self.token_lifetime = token_lifetime
        self.device_lifetime = device_lifetime
        self.interval = interval
        self.slow_down_step = slow_down_step
        self.clock = clock
        self.scope_hint = scope_hint
        self.token_requests: list[TokenRequest] = []
        """Every token request, in order (no token values)."""
        self.assertions_accepted = 0
        """How many client assertions (certificate sign-ins) were accepted."""
        self._lock = threading.Lock()
        self._clients: dict[str, _Client] = {}
        self._refresh: dict[str, _Grant] = {}
        self._access: dict[str, _Access] = {}
        self._devices: dict[str, _Device] = {}  # by device_code
        self._accounts: dict[str, tuple[Any, bool]] = {}  # email: (public key, delegated)
        self._codes: dict[str, tuple[str, str, str, str, str]] = {}
        # code: (client_id, redirect_uri, challenge, user, scope)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- set-up by tests
    def add_client(
        self, client_id: str, secret: str | None = None, *, certificate: bytes | None = None
    ) -> None:
        """Register an application; ``secret`` None makes it a public client unless a
        ``certificate`` (PEM) is registered: then it signs client assertions with its key."""
        with self._lock:
            self._clients[client_id] = _Client(client_id, secret)
        if certificate is not None:
            self.add_certificate(client_id, certificate)

    def add_certificate(self, client_id: str, certificate: bytes) -> None:
        """Upload another certificate (PEM) to the application's registration."""
        with self._lock:
            self._clients[client_id].certificates.append(
                x509.load_pem_x509_certificate(certificate)
            )

    def add_service_account(self, email: str, public_pem: bytes, *, delegated: bool = True) -> None:
        """Register a Google service account by its public key; ``delegated`` False: no
        domain-wide delegation for the mail scope (Google refuses its tokens)."""
        with self._lock:
            self._accounts[email] = (RSAKey.import_key(public_pem), delegated)
            self._clients[email] = _Client(email, None)

    @property
    def authorization_url(self) -> str:
        """The authorization endpoint (browser sign-in, RFC 6749 §4.1)."""
        return f"{self.base_url}/authorize"

    @property
    def google_token_url(self) -> str:
        """Google's form of the token endpoint (no tenant), for service accounts."""
        return f"{self.base_url}/token"

    def disable_client(self, client_id: str) -> None:
        """The application is disabled in the tenant: every token request is refused."""
        with self._lock:
            self._clients[client_id].enabled = False

    def expire_secret(self, client_id: str) -> None:
        """The application's client secret has passed its end date (Entra AADSTS7000222)."""
        with self._lock:
            self._clients[client_id].secret_expired = True

    def withdraw_consent(self, client_id: str) -> None:
        """No one has granted the application the mail permission (Entra AADSTS65001)."""
        with self._lock:
            self._clients[client_id].consented = False

    def set_secret(self, client_id: str, secret: str) -> None:
        """Rotate the application's secret (the old one is refused from now on)."""
        with self._lock:
            self._clients[client_id].secret = secret

    def approve(self, user_code: str, user: str) -> None:
        """Play the user: sign in as ``user`` and approve the device code."""
        self._decide(user_code, "approved", user)

    def deny(self, user_code: str) -> None:
        """Play the user: refuse the device code."""
        self._decide(user_code, "denied", None)

    def script_device(self, user_code: str, *answers: str) -> None:
        """The next polls of this device code get these error codes first, in order."""
        with self._lock:
            self._device_by_user_code(user_code).script.extend(answers)

    def revoke_user(self, user: str | None, *, access_tokens: bool = False) -> None:
        """Revoke every grant of ``user`` (None: the app-only grants), as an admin who
        withdraws consent does; ``access_tokens`` also ends the live access tokens."""
        with self._lock:
            for grant in self._grants():
                if grant.user == user:
                    grant.revoked = True
            if access_tokens:
                for value, access in list(self._access.items()):
                    if access.grant.user == user:
                        del self._access[value]

    def expire_access_tokens(self) -> None:
        """Every access token issued so far expires now."""
        with self._lock:
            self._access.clear()

    def check(self, token: str, user: str | None = None) -> bool:
        """True if ``token`` is an active access token (and, given ``user``, may act for
        that mailbox: a delegated token for its own user, an app-only token for any)."""
        with self._lock:
            access = self._access.get(token)
            if access is None or access.expires_at <= self.clock() or access.grant.revoked:
                return False
            if not self._clients[access.grant.client_id].enabled:
                return False
            owner = access.grant.user
            return user is None or owner is None or owner.lower() == user.lower()

    @property
    def issued_secrets(self) -> list[str]:
        """Every access and refresh token issued so far, so a test can prove that none
        of them shows in an output, a log or a database file."""
        with self._lock:
            return [*self._refresh, *self._access]

    @property
    def last_user_code(self) -> str:
        """The user code of the newest device authorization."""
        with self._lock:
            return list(self._devices.values())[-1].user_code

    # ---------------------------------------------------------------- addresses
    @property
    def port(self) -> int:
        """The listening port.  Raises RuntimeError before the server has started."""
        if self._httpd is None:
            raise RuntimeError("the server is not running")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """``https://localhost:<port>``."""
        return f"https://localhost:{self.port}"

    @property
    def authority(self) -> str:
        """The tenant's base, like ``https://login.microsoftonline.com/<tenant>``."""
        return f"{self.base_url}/{self.tenant}"

    @property
    def token_url(self) -> str:
        """The token endpoint."""
        return f"{self.authority}/oauth2/v2.0/token"

    @property
    def device_url(self) -> str:
        """The device authorization endpoint (RFC 8628 §3.1)."""
        return f"{self.authority}/oauth2/v2.0/devicecode"

    @property
    def verification_url(self) -> str:
        """Where the user enters the code."""
        return f"{self.base_url}/device"

    @property
    def revocation_url(self) -> str:
        """The revocation endpoint (RFC 7009)."""
        return f"{self.base_url}/revoke"

    @property
    def introspection_url(self) -> str:
        """The introspection endpoint (RFC 7662)."""
        return f"{self.base_url}/introspect"

    # ---------------------------------------------------------------- life cycle
    def start(self) -> Self:
        """Listen on 127.0.0.1 and a free port, on a thread of its own."""
        if self._httpd is not None:
            raise RuntimeError("the server is already running")
        httpd = _TLSServer(("127.0.0.1", 0), _Handler, self)
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, name="tocsin-oauth-test-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and end the thread; a no-op when not running."""
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        httpd.shutdown()
        httpd.server_close()
        thread.join(_WAIT)
        self._httpd = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- the endpoints
    def _grants(self) -> list[_Grant]:
        found = {id(g): g for g in self._refresh.values()}
        found.update({id(a.grant): a.grant for a in self._access.values()})
        return list(found.values())

    def _decide(self, user_code: str, decision: str, user: str | None) -> None:
        with self._lock:
            device = self._device_by_user_code(user_code)
            device.decision = decision
            device.user = user

    def _device_by_user_code(self, user_code: str) -> _Device:
        wanted = user_code.strip().upper()
        for device in self._devices.values():
            if device.user_code == wanted:
                return device
        raise KeyError("no such user code")

    def handle(self, path: str, form: dict[str, str], basic: tuple[str, str] | None) -> Any:
        """Answer one POST; raises `_Error` for an OAuth error answer."""
        with self._lock:
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
                raise _Error(404, "not_found")
            if tenant != self.tenant:
                raise _Error(
                    400,
                    "invalid_request",
                    f"AADSTS90002: Tenant '{tenant[:60]}' not found. Check to make sure you "
                    "have the correct tenant ID and are signing into the correct cloud.",
                )
            if rest.endswith("devicecode"):
                return self._device_authorization(form)
            grant_type = form.get("grant_type", "")
            return self._recorded(grant_type, lambda: self._token(grant_type, form, basic))

    def _recorded(self, grant_type: str, answer: Callable[[], Any]) -> Any:
        try:
            result = answer()
        except _Error as exc:
            self.token_requests.append(TokenRequest(grant_type, exc.error))
            raise
        self.token_requests.append(TokenRequest(grant_type, "ok"))
        return result

    def _jwt_bearer(self, form: dict[str, str]) -> dict[str, Any]:
        if form.get("grant_type") != JWT_GRANT:
            raise _Error(400, "unsupported_grant_type", "Invalid grant_type.")
        token = form.get("assertion", "")
        issuer = _unverified_issuer(token)
        account = self._accounts.get(issuer)
        if account is None:
            raise _Error(400, "invalid_grant", "Invalid JWT Signature.")
        key, delegated = account
        try:
            claims = jwt.decode(token, key).claims
        except (JoseError, ValueError):
            raise _Error(400, "invalid_grant", "Invalid JWT Signature.") from None
        now = self.clock()
        if claims.get("aud") != self.google_token_url or not (
            int(claims.get("iat", 0)) - 300 <= now < int(claims.get("exp", 0))
        ):
            raise _Error(
                400,
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                "reasonable timeframe. Check your iat and exp values in the JWT claim.",
            )
        if not delegated or not claims.get("sub"):
            raise _Error(
                401,
                "unauthorized_client",
                "Client is unauthorized to retrieve access tokens using this method, or "
                "client not authorized for any of the scopes requested.",
            )
        grant = _Grant(issuer, str(claims["sub"]), str(claims.get("scope", "")))
        return self._issue(grant, False)

    def _client(self, form: dict[str, str], basic: tuple[str, str] | None) -> _Client:
        if "client_assertion" in form or "client_assertion_type" in form:
            return self._asserted_client(form)
        client_id, secret = basic if basic else (form.get("client_id", ""), None)
        if basic is None and "client_secret" in form:
            secret = form["client_secret"]
        client = self._clients.get(client_id)
        if client is None:
            raise _Error(
                400,
                "unauthorized_client",
                f"AADSTS700016: Application with identifier '{client_id[:60]}' was not found "
                f"in the directory '{self.tenant}'.",
            )
        if client.secret is not None and secret != client.secret:
            raise _Error(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
        if client.secret is not None and client.secret_expired:
            raise _Error(
                401,
                "invalid_client",
                f"AADSTS7000222: The provided client secret keys for app '{client_id[:60]}' "
                "are expired.",
            )
        if not client.enabled:
            raise _Error(400, "unauthorized_client", "AADSTS7000112: Application is disabled.")
        if not client.consented:
            raise _Error(
                400,
                "invalid_grant",
                "AADSTS65001: The user or administrator has not consented to use the "
                f"application with ID '{client_id[:60]}'.",
            )
        return client

    def _asserted_client(self, form: dict[str, str]) -> _Client:
        """A client that authenticates with a signed client assertion (RFC 7523 §2.2)."""
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise _Error(
                400,
                "invalid_request",
                f"AADSTS700008: The client_assertion_type must be '{ASSERTION_TYPE}'.",
            )
        assertion = form.get("client_assertion", "")
        client_id = form.get("client_id") or _unverified_issuer(assertion)
        client = self._clients.get(client_id)
        if client is None:
            raise _Error(
                400,
                "unauthorized_client",
                f"AADSTS700016: Application with identifier '{client_id[:60]}' was not found "
                f"in the directory '{self.tenant}'.",
            )
        try:
            check_client_assertion(
                assertion,
                client_id=client.client_id,
                certificates=client.certificates,
                audience=self.token_url,
                now=self.clock(),
            )
        except AssertionRefused as exc:
            raise _Error(exc.status, exc.error, exc.description) from None
        if not client.enabled:
            raise _Error(400, "unauthorized_client", "AADSTS7000112: Application is disabled.")
        if not client.consented:
            raise _Error(
                400,
                "invalid_grant",
                "AADSTS65001: The user or administrator has not consented to use the "
                f"application with ID '{client_id[:60]}'.",
            )
        self.assertions_accepted += 1
        return client

    def _token(
        self, grant_type: str, form: dict[str, str], basic: tuple[str, str] | None
    ) -> dict[str, Any]:
        client = self._client(form, basic)
        if grant_type == "client_credentials":
            if client.secret is None and "client_assertion" not in form:
                raise _Error(
                    401,
                    "invalid_client",
                    "AADSTS7000218: The request body must contain the following parameter: "
                    "'client_assertion' or 'client_secret'.",
                )
            return self._issue(_Grant(client.client_id, None, form.get("scope", "")), False)
        if grant_type == "refresh_token":
            grant = self._refresh.get(form.get("refresh_token", ""))
            if grant is None or grant.client_id != client.client_id:
                raise _Error(
                    400,
                    "invalid_grant",
                    "AADSTS9002313: Invalid request. Request is malformed or invalid.",
                )
            if grant.revoked:
                raise _Error(
                    400,
                    "invalid_grant",
                    "AADSTS50173: The provided grant has expired due to it being revoked, a "
                    "fresh auth token is needed.",
                )
            return self._issue(grant, True)
        if grant_type == DEVICE_GRANT:
            return self._poll(client, form.get("device_code", ""))
        if grant_type == "authorization_code":
            return self._redeem(client, form)
        raise _Error(400, "unsupported_grant_type", "AADSTS70003: unsupported grant type.")

    def _issue(self, grant: _Grant, refresh: bool) -> dict[str, Any]:
        access = secrets.token_urlsafe(32)
        self._access[access] = _Access(grant, self.clock() + self.token_lifetime)
        answer: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": access,
            "expires_in": int(self.token_lifetime)
            if self.token_lifetime == int(self.token_lifetime)
            else self.token_lifetime,
            "scope": grant.scope,
        }
        if refresh:
            token = secrets.token_urlsafe(48)
            self._refresh[token] = grant
            answer["refresh_token"] = token
        return answer

    def authorize(self, query: dict[str, str]) -> str:
        """``GET /authorize``: where the browser goes next (the loopback redirect)."""
        with self._lock:
            client = self._clients.get(query.get("client_id", ""))
            redirect = query.get("redirect_uri", "")
            loopback = redirect.startswith(("http://127.0.0.1:", "http://[::1]:"))
            if client is None or not loopback or query.get("response_type") != "code":
                raise _Error(400, "invalid_request", "Error 400: invalid_request")
            if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
                raise _Error(400, "invalid_request", "PKCE (S256) is required")
            state = urllib.parse.quote(query.get("state", ""), safe="")
            if query.get("decision") == "deny":
                return f"{redirect}?error=access_denied&state={state}"
            code = secrets.token_urlsafe(24)
            self._codes[code] = (
                client.client_id,
                redirect,
                query["code_challenge"],
                query.get("user", ""),
                query.get("scope", ""),
            )
            return f"{redirect}?code={code}&state={state}"

    def _redeem(self, client: _Client, form: dict[str, str]) -> dict[str, Any]:
        entry = self._codes.pop(form.get("code", ""), None)
        if entry is None or entry[0] != client.client_id:
            raise _Error(400, "invalid_grant", "Malformed auth code.")
        _, redirect, challenge, user, scope = entry
        verifier = form.get("code_verifier", "")
        digest = hashlib.sha256(verifier.encode()).digest()
        expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        if form.get("redirect_uri") != redirect or not hmac.compare_digest(expected, challenge):
            raise _Error(400, "invalid_grant", "Bad Request: code verifier or redirect")
        return self._issue(_Grant(client.client_id, user or None, scope), True)

    def _device_authorization(self, form: dict[str, str]) -> dict[str, Any]:
        client = self._client(form, None)
        code = secrets.token_urlsafe(32)
        user_code = "".join(secrets.choice("BCDFGHJKLMNPQRSTVWXZ") for _ in range(8))
        self._devices[code] = _Device(
            grant_client=client.client_id,
            scope=form.get("scope", ""),
            user_code=user_code,
            expires_at=self.clock() + self.device_lifetime,
            interval=self.interval,
        )
        return {
            "device_code": code,
            "user_code": user_code,
            "verification_uri": self.verification_url,
            "expires_in": int(self.device_lifetime),
            "interval": self.interval,
            "message": f"To sign in, open {self.verification_url} and enter the code "
            f"{user_code} to authenticate.",
        }

    def _poll(self, client: _Client, device_code: str) -> dict[str, Any]:
        device = self._devices.get(device_code)
        if device is None or device.grant_client != client.client_id or device.issued:
            raise _Error(400, "invalid_grant", "AADSTS70000: The device code is not valid.")
        now = self.clock()
        if now >= device.expires_at:
            raise _Error(
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
                device.interval += self.slow_down_step
            raise _Error(400, error, f"scripted {error}")
        if too_soon:
            device.interval += self.slow_down_step
            raise _Error(400, "slow_down", "AADSTS70000: polling too fast; slow down.")
        if device.decision == "pending":
            raise _Error(
                400,
                "authorization_pending",
                "AADSTS70016: OAuth 2.0 device flow error. Authorization is pending.",
            )
        if device.decision == "denied":
            raise _Error(400, "access_denied", "AADSTS70000: The user declined to sign in.")
        device.issued = True
        return self._issue(_Grant(client.client_id, device.user, device.scope), True)

    def _device_page(self, form: dict[str, str]) -> dict[str, Any]:
        try:
            device = self._device_by_user_code(form.get("user_code", ""))
        except KeyError:
            raise _Error(400, "invalid_request", "no such code") from None
        if form.get("decision") == "deny":
            device.decision = "denied"
        else:
            device.decision = "approved"
            device.user = form.get("user") or None
        return {"decision": device.decision}

    def _introspect(self, form: dict[str, str]) -> dict[str, Any]:
        token = form.get("token", "")
        access = self._access.get(token)
        if access is None or access.expires_at <= self.clock() or access.grant.revoked:
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
        grant = self._refresh.get(form.get("token", ""))
        if grant is not None:
            grant.revoked = True
        return {}


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], owner: Any
    ) -> None:
        super().__init__(address, handler)
        self.owner: OAuthTestServer = owner
        self.context: ssl.SSLContext = owner.ca.server_context()

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The handshake runs on the request's own thread, so a silent client blocks nobody.
        sock: socket = request
        sock.settimeout(_WAIT)
        try:
            tls = self.context.wrap_socket(sock, server_side=True)
        except (OSError, ssl.SSLError):
            sock.close()
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            tls.close()


class _Handler(BaseHTTPRequestHandler):
    server: _TLSServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a test server prints nothing (and never a token)."""

    def do_GET(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(parts.query).items()}
        if parts.path != "/authorize":
            self.send_error(404)
            return
        try:
            location = self.server.owner.authorize(query)
        except _Error as exc:
            data = exc.description.encode()
            self.send_response(exc.status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace")
        form = {k: v[0] for k, v in urllib.parse.parse_qs(body).items()}
        basic = _basic(self.headers.get("Authorization", ""))
        path = urllib.parse.urlsplit(self.path).path
        try:
            answer, status = self.server.owner.handle(path, form, basic), 200
        except _Error as exc:
            answer, status = {"error": exc.error, "error_description": exc.description}, exc.status
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _unverified_issuer(token: str) -> str:
    """The ``iss`` of a JWT before its signature is checked: it names the key to check with."""
    try:
        payload = token.split(".")[1]
        doc = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return ""
    return str(doc.get("iss", "")) if isinstance(doc, dict) else ""


def _basic(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(value).decode().partition(":")
    except ValueError:
        return None
    # RFC 6749 §2.3.1: both are form-urlencoded before Basic encoding.
    return urllib.parse.unquote_plus(user), urllib.parse.unquote_plus(password)
