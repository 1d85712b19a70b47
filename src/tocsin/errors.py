"""Tocsin's exception tree, with the retry verdict built into the class.

::

    TocsinError
    ├── ConfigError                     settings that cannot be saved or used (carries .issues)
    │   └── MissingExtra                an optional part is not installed (names the extra)
    ├── SchemaError                     the database's schema does not fit this code
    │   └── SchemaTooNew                written by a newer Tocsin: refuse to start, never downgrade
    ├── StorageFull                     the disk under the database is full: nothing was
    │                                   written; try again later (.where, .retry_after)
    ├── SignInFailed                    an interactive OAuth2 sign-in ended without a token
    │                                   (denied, expired, refused; .code)
    └── DeliveryError                   nothing of this message was delivered (.step, .reason)
        ├── TemporaryFailure            try again later: the outbox retries with back-off
        │   ├── ConnectFailed           (also ConnectionError) refused, reset, unreachable
        │   ├── DeliveryTimeout         (also TimeoutError) a read or the attempt deadline
        │   └── ServerBusy              4xx / 421 for the whole session or message
        └── PermanentFailure            retrying the same message cannot help
            ├── MessageRejected         5xx to DATA, or a message too large
            └── ConfigurationProblem    the settings are wrong: every message would fail alike,
                │                       so the outbox pauses instead of spending attempts
                ├── AuthFailed          535, or AUTH not offered while credentials are set
                ├── TLSFailed           handshake or certificate verification failed
                ├── TLSRequired         STARTTLS chosen but not offered (never downgraded)
                ├── SignInRefused       the OAuth2 provider refuses the app or the grant for
                │                       good: revoked consent, wrong tenant, bad secret (.hint)
                ├── SenderRejected      5xx to MAIL FROM
                └── ServerRejected      5xx greeting or EHLO: not an SMTP service for us

A full disk is a condition, not a crash: the store translates its backend's "disk full"
(SQLite ``SQLITE_FULL``, PostgreSQL SQLSTATE 53100) into :class:`StorageFull` in one place
(:mod:`tocsin.store.errors`), and the faces answer it as "try again later".

A refused *recipient* is not an exception: transports report it per recipient in a
:class:`~tocsin.transports.DeliveryResult` (see CONVENTIONS: results are data).

Every delivery error names the :class:`Step` of the conversation that failed and a
:class:`Reason`; both are stable strings reused as metric labels and in the delivery log.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tocsin.validation import Issue

__all__ = [
    "AuthFailed",
    "ConfigError",
    "ConfigurationProblem",
    "ConnectFailed",
    "DeliveryError",
    "DeliveryTimeout",
    "FailureLog",
    "MessageRejected",
    "MissingExtra",
    "PermanentFailure",
    "Reason",
    "SchemaError",
    "SchemaTooNew",
    "SenderRejected",
    "ServerBusy",
    "ServerRejected",
    "SignInFailed",
    "SignInRefused",
    "Step",
    "StorageFull",
    "TLSFailed",
    "TLSRequired",
    "TemporaryFailure",
    "TocsinError",
]


class Step(StrEnum):
    """The step of a delivery that an outcome belongs to."""

    RESOLVE = "resolve"
    CONNECT = "connect"
    TLS = "tls"
    EHLO = "ehlo"
    STARTTLS = "starttls"
    AUTH = "auth"
    MAIL_FROM = "mail_from"
    RCPT_TO = "rcpt_to"
    DATA = "data"
    QUIT = "quit"
    RELAY = "relay"
    OAUTH = "oauth"  # the OAuth2 token endpoint, before the SMTP AUTH that uses its token


class Reason(StrEnum):
    """Why a delivery did not (fully) succeed; also a metric label."""

    DNS_FAILED = "dns_failed"
    CONNECT_REFUSED = "connect_refused"
    CONNECT_FAILED = "connect_failed"
    DISCONNECTED = "disconnected"
    TIMEOUT = "timeout"
    SERVER_BUSY = "server_busy"
    SERVER_REJECTED = "server_rejected"
    TLS_FAILED = "tls_failed"
    CERT_INVALID = "cert_invalid"
    TLS_REQUIRED = "tls_required"
    AUTH_FAILED = "auth_failed"
    AUTH_UNAVAILABLE = "auth_unavailable"
    AUTH_REQUIRED = "auth_required"
    SENDER_REJECTED = "sender_rejected"
    SENDER_DEFERRED = "sender_deferred"
    RECIPIENT_REJECTED = "recipient_rejected"
    RECIPIENT_DEFERRED = "recipient_deferred"
    MESSAGE_REJECTED = "message_rejected"
    MESSAGE_DEFERRED = "message_deferred"
    SMTPUTF8_UNSUPPORTED = "smtputf8_unsupported"
    RATE_LIMITED = "rate_limited"
    DISABLED = "disabled"
    NOT_CONFIGURED = "not_configured"
    OAUTH_REFUSED = "oauth_refused"


class TocsinError(Exception):
    """Base class of every error Tocsin raises on purpose."""


class ConfigError(TocsinError):
    """Settings that were refused; ``issues`` lists each problem by field."""

    def __init__(self, message: str, *, issues: tuple[Issue, ...] = ()) -> None:
        super().__init__(message)
        self.issues = issues


class MissingExtra(ConfigError):
    """A feature whose optional dependencies are not installed; ``extra`` names them.

    The message is the one line a user needs: which extra, and the pip command.
    """

    def __init__(self, feature: str, extra: str) -> None:
        super().__init__(f"{feature} needs the {extra} extra: pip install 'tocsin[{extra}]'")
        self.extra = extra


class SchemaError(TocsinError):
    """The database's schema does not fit this code, or its migrations are broken."""


class SchemaTooNew(SchemaError):
    """The database is at a schema version this code does not know (a newer Tocsin wrote it).

    ``found`` is the database's version, ``known`` the newest this code knows.
    """

    def __init__(self, what: str, *, found: int, known: int) -> None:
        super().__init__(
            f"{what} is at schema version {found}, but this Tocsin knows versions up to "
            f"{known} only: upgrade Tocsin (it never downgrades a database)."
        )
        self.found = found
        self.known = known


class SignInFailed(TocsinError):
    """An interactive OAuth2 sign-in (the device code flow) ended without a token.

    ``code`` is stable: ``denied`` (the user refused), ``expired`` (nobody signed in in
    time), or ``refused`` (the provider refused the app; see ``hint``).
    """

    def __init__(self, message: str, *, code: str, hint: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.hint = hint


class StorageFull(TocsinError):
    """The disk under the database is full (or below the space Tocsin keeps free).

    Nothing of the write was stored.  ``where`` names the place for people ("the data
    directory", "the database server's disk"); the text says so without a path.
    ``retry_after`` is the seconds a client should wait before trying again.
    """

    def __init__(self, message: str, *, where: str, retry_after: int = 60) -> None:
        super().__init__(message)
        self.where = where
        self.retry_after = retry_after


class FailureLog:
    """Logs the failures of a loop that retries: a bug with its traceback every time, a
    full disk (:class:`StorageFull`, a condition) as one line at most every ``every`` s.

    Call :meth:`failed` inside the ``except`` block.
    """

    def __init__(
        self,
        logger: logging.Logger,
        *,
        every: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._every = every
        self._clock = clock
        self._last: dict[str, float] = {}

    def failed(self, message: str, *args: object) -> None:
        """Log ``message % args`` for the exception being handled."""
        exc = sys.exc_info()[1]
        if not isinstance(exc, StorageFull):
            self._logger.exception(message, *args)
            return
        now = self._clock()
        if now - self._last.get(message, -self._every) >= self._every:
            self._last[message] = now
            self._logger.warning(message + ": %s", *args, exc)


class DeliveryError(TocsinError):
    """A message could not be delivered to any recipient.

    ``step`` is where the conversation failed, ``reason`` the classified cause,
    ``code`` and ``server_message`` the server's reply when there was one.
    The text never contains a credential: it is built from the step, the reason
    and the server's reply only.
    """

    temporary: bool = False

    def __init__(
        self,
        message: str,
        *,
        step: Step,
        reason: Reason,
        code: int | None = None,
        server_message: str = "",
    ) -> None:
        super().__init__(message)
        self.step = step
        self.reason = reason
        self.code = code
        self.server_message = server_message

    def describe(self) -> str:
        """What went wrong, with the server's reply, without the step's name."""
        text = str(self.args[0])
        if self.code is not None:
            text = f"{text}: {self.code} {self.server_message}".rstrip()
        return text

    def __str__(self) -> str:
        return f"{self.step.value}: {self.describe()}"


class TemporaryFailure(DeliveryError):
    """Try again later."""

    temporary = True


class ConnectFailed(TemporaryFailure, ConnectionError):
    """The TCP connection could not be made, or was lost."""


class DeliveryTimeout(TemporaryFailure, TimeoutError):
    """The server did not answer in time, or the attempt's deadline passed."""


class ServerBusy(TemporaryFailure):
    """A 4xx reply (421 included) for the session or the whole message."""


class PermanentFailure(DeliveryError):
    """Retrying this message as it is cannot succeed."""


class MessageRejected(PermanentFailure):
    """The server refused the message itself (5xx to DATA, too large, ...)."""


class ConfigurationProblem(PermanentFailure):
    """The settings are wrong: every message would fail the same way until they change."""


class AuthFailed(ConfigurationProblem):
    """The server refused the credentials, or offers no way to log in."""


class TLSFailed(ConfigurationProblem):
    """The TLS handshake failed or the certificate was not trusted."""


class TLSRequired(ConfigurationProblem):
    """STARTTLS was chosen but the server does not offer it; nothing was sent in clear."""


class SenderRejected(ConfigurationProblem):
    """The server refused the sender address (MAIL FROM)."""


class ServerRejected(ConfigurationProblem):
    """The server refused the session at its greeting or at EHLO."""


class SignInRefused(ConfigurationProblem):
    """The OAuth2 provider refuses to give a token, and will until the settings change.

    ``hint`` is a stable code naming the fix (``grant_revoked``, ``wrong_tenant``,
    ``wrong_client``, ``secret_invalid``, ``secret_expired``, ``client_disabled``,
    ``consent_missing``, ``scope_invalid``, ``refused``); the text never holds a token or
    a secret, only the provider's error code.
    """

    def __init__(self, message: str, *, hint: str, server_message: str = "") -> None:
        super().__init__(
            message, step=Step.OAUTH, reason=Reason.OAUTH_REFUSED, server_message=server_message
        )
        self.hint = hint
