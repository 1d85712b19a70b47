"""Email settings: the one model, the one table of default ports, the one validator.

The REST API, the web page and the CLI all go through :func:`apply_update`, so a
value refused in one face is refused in every face, with the same field-named
errors and advice.  Transports trust a validated :class:`EmailSettings`.
"""

from __future__ import annotations

from tocsin.settings.checks import host_problem, relay_url_problem, validate
from tocsin.settings.model import (
    DEFAULT_PORTS,
    SECRET_FIELDS,
    AuthMethod,
    EmailSettings,
    Encryption,
    OAuthFlow,
    OAuthProvider,
    TransportKind,
)
from tocsin.settings.update import KNOWN_FIELDS, apply_update

__all__ = [
    "DEFAULT_PORTS",
    "KNOWN_FIELDS",
    "SECRET_FIELDS",
    "AuthMethod",
    "EmailSettings",
    "Encryption",
    "OAuthFlow",
    "OAuthProvider",
    "TransportKind",
    "apply_update",
    "host_problem",
    "relay_url_problem",
    "validate",
]
