"""`OAuthTestServer`: the local OAuth2 server as tests hold it (see the package docstring).

Its set-up (applications, certificates, service accounts, the user's decisions), its
addresses and its life cycle; the answers come from ``grants``, over ``wire``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Self

from cryptography import x509
from joserfc.jwk import RSAKey

from tocsin.testing.certs import TestCA
from tocsin.testing.oauth.grants import Endpoints
from tocsin.testing.oauth.records import WAIT, Client, Registry, TokenRequest
from tocsin.testing.oauth.wire import TLSServer

__all__ = ["OAuthTestServer"]


class OAuthTestServer:
    """A local OAuth2 server over HTTPS for one tenant.  See the package docstring.

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
        self._records = Registry()
        self.token_requests: list[TokenRequest] = self._records.token_requests
        """Every token request, in order (no token values)."""
        self._endpoints = Endpoints(self, self._records)
        self._httpd: TLSServer | None = None
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- set-up by tests
    def add_client(
        self, client_id: str, secret: str | None = None, *, certificate: bytes | None = None
    ) -> None:
        """Register an application; ``secret`` None makes it a public client unless a
        ``certificate`` (PEM) is registered: then it signs client assertions with its key."""
        with self._records.lock:
            self._records.clients[client_id] = Client(client_id, secret)
        if certificate is not None:
            self.add_certificate(client_id, certificate)

    def add_certificate(self, client_id: str, certificate: bytes) -> None:
        """Upload another certificate (PEM) to the application's registration."""
        with self._records.lock:
            self._records.clients[client_id].certificates.append(
                x509.load_pem_x509_certificate(certificate)
            )

    def add_service_account(self, email: str, public_pem: bytes, *, delegated: bool = True) -> None:
        """Register a Google service account by its public key; ``delegated`` False: no
        domain-wide delegation for the mail scope (Google refuses its tokens)."""
        with self._records.lock:
            self._records.accounts[email] = (RSAKey.import_key(public_pem), delegated)
            self._records.clients[email] = Client(email, None)

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
        with self._records.lock:
            self._records.clients[client_id].enabled = False

    def expire_secret(self, client_id: str) -> None:
        """The application's client secret has passed its end date (Entra AADSTS7000222)."""
        with self._records.lock:
            self._records.clients[client_id].secret_expired = True

    def withdraw_consent(self, client_id: str) -> None:
        """No one has granted the application the mail permission (Entra AADSTS65001)."""
        with self._records.lock:
            self._records.clients[client_id].consented = False

    def set_secret(self, client_id: str, secret: str) -> None:
        """Rotate the application's secret (the old one is refused from now on)."""
        with self._records.lock:
            self._records.clients[client_id].secret = secret

    def approve(self, user_code: str, user: str) -> None:
        """Play the user: sign in as ``user`` and approve the device code."""
        self._decide(user_code, "approved", user)

    def deny(self, user_code: str) -> None:
        """Play the user: refuse the device code."""
        self._decide(user_code, "denied", None)

    def script_device(self, user_code: str, *answers: str) -> None:
        """The next polls of this device code get these error codes first, in order."""
        with self._records.lock:
            self._records.device_by_user_code(user_code).script.extend(answers)

    def revoke_user(self, user: str | None, *, access_tokens: bool = False) -> None:
        """Revoke every grant of ``user`` (None: the app-only grants), as an admin who
        withdraws consent does; ``access_tokens`` also ends the live access tokens."""
        with self._records.lock:
            for grant in self._records.grants():
                if grant.user == user:
                    grant.revoked = True
            if access_tokens:
                for value, access in list(self._records.access.items()):
                    if access.grant.user == user:
                        del self._records.access[value]

    def expire_access_tokens(self) -> None:
        """Every access token issued so far expires now."""
        with self._records.lock:
            self._records.access.clear()

    def check(self, token: str, user: str | None = None) -> bool:
        """True if ``token`` is an active access token (and, given ``user``, may act for
        that mailbox: a delegated token for its own user, an app-only token for any)."""
        with self._records.lock:
            access = self._records.access.get(token)
            if access is None or access.expires_at <= self.clock() or access.grant.revoked:
                return False
            if not self._records.clients[access.grant.client_id].enabled:
                return False
            owner = access.grant.user
            return user is None or owner is None or owner.lower() == user.lower()

    @property
    def issued_secrets(self) -> list[str]:
        """Every access and refresh token issued so far, so a test can prove that none
        of them shows in an output, a log or a database file."""
        with self._records.lock:
            return [*self._records.refresh, *self._records.access]

    @property
    def last_user_code(self) -> str:
        """The user code of the newest device authorization."""
        with self._records.lock:
            return list(self._records.devices.values())[-1].user_code

    @property
    def assertions_accepted(self) -> int:
        """How many client assertions (certificate sign-ins) were accepted."""
        with self._records.lock:
            return self._records.assertions_accepted

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
        httpd = TLSServer(("127.0.0.1", 0), self._endpoints, self.ca.server_context())
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
        thread.join(WAIT)
        self._httpd = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- the endpoints
    def handle(self, path: str, form: dict[str, str], basic: tuple[str, str] | None) -> Any:
        """Answer one POST (a JSON-ready dict), as the HTTP handler does.

        Raises:
            OAuthError: the OAuth error answer.
        """
        return self._endpoints.handle(path, form, basic)

    def authorize(self, query: dict[str, str]) -> str:
        """``GET /authorize``: where the browser goes next (the loopback redirect).

        Raises:
            OAuthError: an unknown client, a redirect off loopback, no PKCE (S256).
        """
        return self._endpoints.authorize(query)

    def _decide(self, user_code: str, decision: str, user: str | None) -> None:
        with self._records.lock:
            device = self._records.device_by_user_code(user_code)
            device.decision = decision
            device.user = user
