"""Use cases for who may do what: admins, login sessions, API tokens."""

from __future__ import annotations

import functools
import os
import re
import secrets
import time

from tocsin.errors import TocsinError
from tocsin.i18n import available_languages
from tocsin.model import Admin, ApiToken, Session
from tocsin.security import (
    MIN_PASSWORD_LENGTH,
    LoginThrottle,
    client_key,
    hash_password,
    hash_token,
    new_token,
    verify_password,
)
from tocsin.store import SQLAccounts

__all__ = [
    "ENV_TOKEN_FAILURE_LIMIT",
    "SCOPES",
    "AccountsService",
    "LoginRefused",
    "LoginThrottled",
    "token_throttle_from_env",
]

ENV_TOKEN_FAILURE_LIMIT = "TOCSIN_TOKEN_FAILURE_LIMIT"  # noqa: S105 (a variable's name)
"""Failed API-token authentications allowed per client address per minute (default 20)."""
DEFAULT_TOKEN_FAILURE_LIMIT = 20
TOKEN_FAILURE_WINDOW = 60.0

SESSION_LIFETIME = 12 * 3600.0
SCOPES = ("admin", "events")
"""``events``: post events only (for devices); ``admin``: everything the API offers."""
_USERNAME = re.compile(r"[A-Za-z0-9._@-]{1,64}\Z")


@functools.cache
def _dummy_hash() -> str:
    """A real hash to verify against when the user does not exist, so a login for an
    unknown name takes as long as one with a wrong password (no user enumeration).
    Made on first need: hashing costs ≈0.15 s, which every CLI command paid at import."""
    return hash_password(secrets.token_hex(16))


class LoginRefused(TocsinError):
    """Wrong username or password (the message never says which)."""


class LoginThrottled(TocsinError):
    """Too many failed logins; ``retry_after`` seconds to wait."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many failed logins; try again in {int(retry_after) + 1} s")
        self.retry_after = retry_after


def token_throttle_from_env() -> LoginThrottle:
    """The API-token throttle: ``$TOCSIN_TOKEN_FAILURE_LIMIT`` failures (default 20) per
    client address within a minute.  Raises ``ValueError`` for a limit that is not a
    positive whole number."""
    raw = os.environ.get(ENV_TOKEN_FAILURE_LIMIT, "").strip() or str(DEFAULT_TOKEN_FAILURE_LIMIT)
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{ENV_TOKEN_FAILURE_LIMIT} is a whole number of at least 1: {raw!r}")
    return LoginThrottle(limit=int(raw), window=TOKEN_FAILURE_WINDOW)


class AccountsService:
    """Admins, sessions and API tokens over the store.

    ``throttle`` limits failed logins (per client and per username);
    ``token_throttle`` limits failed API-token authentications per client address.
    """

    def __init__(
        self,
        store: SQLAccounts,
        throttle: LoginThrottle | None = None,
        *,
        token_throttle: LoginThrottle | None = None,
    ) -> None:
        self._store = store
        self._throttle = throttle or LoginThrottle()
        self.token_throttle = token_throttle or LoginThrottle(
            limit=DEFAULT_TOKEN_FAILURE_LIMIT, window=TOKEN_FAILURE_WINDOW
        )

    def first_run(self) -> bool:
        """True while no admin exists (the first-run page creates one)."""
        return self._store.admin_count() == 0

    def create_admin(self, username: str, password: str, language: str = "en") -> Admin:
        """Create an admin; ``ValueError`` says what is wrong with the input."""
        if not _USERNAME.match(username):
            raise ValueError("the username takes 1-64 letters, digits and . _ @ -")
        if len(password) < MIN_PASSWORD_LENGTH:
            raise ValueError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
        if language not in available_languages():
            raise ValueError(f"the language is one of {', '.join(available_languages())}")
        return self._store.add_admin(username, hash_password(password), language, time.time())

    def change_password(self, admin: Admin, password: str) -> None:
        """Set a new password; every session of that admin ends."""
        if len(password) < MIN_PASSWORD_LENGTH:
            raise ValueError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
        self._store.set_admin_password(admin.id, hash_password(password))

    def login(self, username: str, password: str, *, client: str) -> tuple[str, Session]:
        """Check the credentials; return a new session id (for the cookie) and the session.

        Raises :class:`LoginThrottled` after too many failures from this client or
        for this username, :class:`LoginRefused` for wrong credentials.
        """
        keys = (client_key(client), f"user:{username.lower()}")
        wait = self._throttle.retry_after(*keys)
        if wait > 0:
            raise LoginThrottled(wait)
        found = self._store.admin_credentials(username)
        ok = verify_password(found[1] if found else _dummy_hash(), password)
        if found is None or not ok:
            self._throttle.failed(*keys)
            raise LoginRefused("wrong username or password")
        self._throttle.succeeded(*keys)
        session_id = new_token("tss")
        now = time.time()
        csrf = secrets.token_urlsafe(32)
        self._store.add_session(
            hash_token(session_id), found[0].id, csrf, now, now + SESSION_LIFETIME
        )
        return session_id, Session(found[0], csrf, now + SESSION_LIFETIME)

    def session(self, session_id: str) -> Session | None:
        """The live session for a cookie value, or None."""
        return self._store.get_session(hash_token(session_id), time.time())

    def logout(self, session_id: str) -> None:
        """End the session."""
        self._store.delete_session(hash_token(session_id))

    def create_token(
        self, name: str, scopes: tuple[str, ...] = ("events",)
    ) -> tuple[str, ApiToken]:
        """A new API token: the value (shown once, never stored) and its record."""
        name = name.strip()
        if not name or len(name) > 100 or any(ord(c) < 32 for c in name):
            raise ValueError("the token name takes 1-100 printable characters")
        unknown = set(scopes) - set(SCOPES)
        if unknown or not scopes:
            raise ValueError(f"scopes are one or more of: {', '.join(SCOPES)}")
        token = new_token("tcn")
        return token, self._store.add_token(name, hash_token(token), tuple(scopes), time.time())

    def authenticate_token(self, token: str, *, client: str | None = None) -> ApiToken | None:
        """The active token record for a presented token, or None.

        With ``client`` (the caller's address), failures count against that address;
        after too many, every further wrong token from it is refused with
        :class:`LoginThrottled` for a while, while other addresses go on as before.
        A valid token is still accepted from a throttled address: tokens are random
        256-bit values that no number of guesses finds, so refusing it would protect
        nothing and would let one misbehaving device behind a shared NAT or proxy
        block the alarms of every other.  A valid token does not reset the count:
        holding one token must not help guess another.
        """
        record = None
        if token.startswith("tcn_") and len(token) <= 100:
            record = self._store.use_token(hash_token(token), time.time())
        if record is not None or client is None:
            return record
        key = client_key(client)
        wait = self.token_throttle.retry_after(key)
        if wait > 0:
            raise LoginThrottled(wait)
        self.token_throttle.failed(key)
        return record

    def list_tokens(self) -> list[ApiToken]:
        """Every token's record (never the token values)."""
        return self._store.list_tokens()

    def revoke_token(self, token_id: int) -> bool:
        """Revoke at once; False if no such active token."""
        return self._store.revoke_token(token_id, time.time())
