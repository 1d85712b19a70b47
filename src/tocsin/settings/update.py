"""Parsing one settings value as a face sends it (text from a form, JSON, a CLI ``--set``),
and :func:`apply_update`, which applies a whole update and checks the result."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any, Final

from tocsin.headers import UnsafeHeaderText, check_header_text, unsafe_character
from tocsin.secret import Secret
from tocsin.settings.checks import validate
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
from tocsin.validation import Issue, Level, Report

__all__ = ["KNOWN_FIELDS", "apply_update"]


# ---------------------------------------------------------------- parsing one value

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


class _Invalid(ValueError):
    def __init__(self, code: str, text_code: str = "", **params: object) -> None:
        super().__init__(code)
        self.code = code
        self.text_code = text_code
        self.params = {k: str(v) for k, v in params.items()}


_LINE_BREAKS: Final = frozenset("\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029")


def _unsafe_text_code(text: str) -> str:
    """The plain-words text for a value :func:`check_header_text` refused."""
    if any(char in _LINE_BREAKS for char in text):
        return "text_line_break"
    if unsafe_character(text) is not None:
        return "text_control"
    return "text_encoded_word"


def _bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise _Invalid("invalid_bool")


def _choice(enum: type[StrEnum]) -> Callable[[object], StrEnum]:
    def parse(value: object) -> StrEnum:
        try:
            return enum(str(value).strip().lower())
        except ValueError:
            raise _Invalid("invalid_choice", choices=", ".join(e.value for e in enum)) from None

    return parse


def _number(kind: type[int] | type[float], low: float, high: float) -> Callable[[object], Any]:
    def parse(value: object) -> int | float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise _Invalid("invalid_number", low=low, high=high)
        try:
            number = kind(value.strip() if isinstance(value, str) else value)
        except ValueError:
            raise _Invalid("invalid_number", low=low, high=high) from None
        if not low <= number <= high:  # NaN fails this comparison too
            raise _Invalid("invalid_number", low=low, high=high)
        return number

    return parse


def _text(limit: int) -> Callable[[object], str]:
    def parse(value: object) -> str:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise _Invalid("invalid_value", detail="Enter text.")
        text = value.strip()
        if len(text) > limit:
            raise _Invalid("too_long", limit=limit)
        try:
            check_header_text(text, what="The text")
        except UnsafeHeaderText as exc:
            raise _Invalid(
                "unsafe_text", detail=str(exc), text_code=_unsafe_text_code(text)
            ) from None
        return text

    return parse


_PARSERS: Final[Mapping[str, Callable[[object], Any]]] = {
    "enabled": _bool,
    "transport": _choice(TransportKind),
    "sender_address": _text(254),
    "sender_name": _text(100),
    "host": _text(253),
    "port": _number(int, 1, 65535),
    "encryption": _choice(Encryption),
    "username": _text(254),
    "allow_plaintext_auth": _bool,
    "tls_verify": _bool,
    "ca_file": _text(4096),
    "ehlo_name": _text(253),
    "timeout": _number(float, 1, 600),
    "deadline": _number(float, 1, 3600),
    "relay_url": _text(2048),
    "device_id": _text(100),
    "auth_method": _choice(AuthMethod),
    "oauth_provider": _choice(OAuthProvider),
    "oauth_flow": _choice(OAuthFlow),
    "oauth_tenant": _text(100),
    "oauth_client_id": _text(200),
    "oauth_authority": _text(2048),
    "oauth_token_url": _text(2048),
    "oauth_device_url": _text(2048),
    "oauth_authorize_url": _text(2048),
    "oauth_scope": _text(1000),
}
KNOWN_FIELDS: Final = (*_PARSERS, *SECRET_FIELDS)


# Entra ID's refresh tokens run to a few thousand characters; a password stays short.
_SECRET_LIMITS: Final = {
    "oauth_refresh_token": 16384,
    "oauth_client_secret": 4096,
    "oauth_service_account_key": 16384,
    "oauth_client_certificate": 32768,  # a 4096-bit key, the certificate and a chain
}


# Files of several lines (a JSON key, PEM blocks): line breaks and tabs are their own;
# they never go into a header, only into a signer.
_MULTILINE_SECRETS: Final = frozenset({"oauth_service_account_key", "oauth_client_certificate"})


def _parse_password(value: object, limit: int = 1024, *, multiline: bool = False) -> Secret | None:
    if value is None or value == "":
        return None  # an explicit clear
    text = value.reveal() if isinstance(value, Secret) else value
    if not isinstance(text, str):
        raise _Invalid("invalid_value", detail="Enter the secret as text.")
    checked = text.translate(dict.fromkeys(map(ord, "\r\n\t"))) if multiline else text
    if unsafe_character(checked) is not None:
        raise _Invalid(
            "unsafe_text",
            detail="The secret contains a control character.",
            text_code="text_line_break" if set(text) & _LINE_BREAKS else "text_control",
        )
    if len(text) > limit:
        raise _Invalid("too_long", limit=limit)
    return Secret(text)


# ---------------------------------------------------------------- update


def apply_update(
    current: EmailSettings, changes: Mapping[str, object]
) -> tuple[EmailSettings, Report]:
    """Apply ``changes`` to ``current``; return the new settings and the report.

    A key left out keeps its value; ``password: None`` (or ``""``) clears the
    password.  When the encryption changes and the port is not given, the port
    follows the new mode's default if it was still the old mode's default; a port
    the user chose stays.  Save the result only if ``report.ok``.
    """
    issues: list[Issue] = []
    values: dict[str, Any] = {}
    for key, raw in changes.items():
        try:
            if key in SECRET_FIELDS:
                values[key] = _parse_password(
                    raw, _SECRET_LIMITS.get(key, 1024), multiline=key in _MULTILINE_SECRETS
                )
            elif key in _PARSERS:
                values[key] = _PARSERS[key](raw)
            else:
                issues.append(
                    Issue(
                        key,
                        "unknown_field",
                        Level.ERROR,
                        {"field": key, "known": ", ".join(KNOWN_FIELDS)},
                    )
                )
        except _Invalid as exc:
            issues.append(Issue(key, exc.code, Level.ERROR, exc.params, exc.text_code))
    follows = current.port == DEFAULT_PORTS[current.encryption]
    if "encryption" in values and "port" not in changes and follows:
        values["port"] = DEFAULT_PORTS[values["encryption"]]
    updated = dataclasses.replace(current, **values)
    # Fields that failed to parse already have their error; don't pile more on them.
    failed = {i.field for i in issues}
    issues.extend(i for i in validate(updated).issues if i.field not in failed)
    return updated, Report.of(issues)
