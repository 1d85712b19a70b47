"""SASL for OAuth2 bearer tokens: XOAUTH2 and OAUTHBEARER (RFC 7628), both ends.

The client side builds the initial responses an SMTP session sends with ``AUTH``; the
server side (the test SMTP server, and anyone checking a client) parses them back and
builds the error challenge of a refused token.  No I/O here: the SMTP session does the
talking and the token manager supplies the token.

The two mechanisms differ only in framing:

- ``XOAUTH2`` (Google's and Microsoft's): ``user=<user>^Aauth=Bearer <token>^A^A``; a
  refused token gets ``334 <base64 JSON>`` and the client answers with an empty line.
- ``OAUTHBEARER`` (RFC 7628 §3.1): a GS2 header ``n,a=<user>,`` then ``^A``-separated
  ``key=value`` pairs (``host``, ``port``, ``auth``) and a closing ``^A^A``; a refused
  token gets ``334 <base64 JSON>`` with ``"status": "invalid_token"`` (§3.2.2) and the
  client answers with a single ``^A`` (base64 ``AQ==``).

Either way the server then ends the exchange with a 5xx (Microsoft and Google: 535).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from tocsin.secret import Secret

__all__ = [
    "BearerCredentials",
    "Mechanism",
    "SASLSyntaxError",
    "abort_response",
    "choose_mechanism",
    "error_challenge",
    "initial_response",
    "parse_error_challenge",
    "parse_initial_response",
]

_KVSEP: Final = "\x01"
# RFC 6750 §2.1 b64token: what a bearer token may contain, so it cannot break the framing.
_B64TOKEN: Final = re.compile(r"[A-Za-z0-9\-._~+/]+=*\Z")


class Mechanism(StrEnum):
    """The SASL mechanisms that carry an OAuth2 bearer token."""

    OAUTHBEARER = "OAUTHBEARER"
    XOAUTH2 = "XOAUTH2"


# The standard one first: a server offering both gets RFC 7628.
_PREFERENCE: Final = (Mechanism.OAUTHBEARER, Mechanism.XOAUTH2)


class SASLSyntaxError(ValueError):
    """A SASL message that does not follow the mechanism's framing."""


@dataclass(frozen=True, slots=True)
class BearerCredentials:
    """What an initial response carries: the mailbox and the bearer token."""

    user: str
    token: Secret
    host: str = ""
    port: int | None = None


def choose_mechanism(offered: Iterable[str]) -> Mechanism | None:
    """The mechanism to use from the server's ``AUTH`` list (OAUTHBEARER first), or None."""
    names = {name.upper() for name in offered}
    return next((m for m in _PREFERENCE if m.value in names), None)


def _check_user(user: str) -> None:
    if not user or any(ord(c) < 0x20 or ord(c) == 0x7F for c in user):
        raise SASLSyntaxError("the user name is empty or contains a control character")
    try:
        user.encode("utf-8")
    except UnicodeEncodeError:
        raise SASLSyntaxError("the user name is not valid Unicode") from None


def _check_token(token: str) -> None:
    if not _B64TOKEN.match(token):
        raise SASLSyntaxError("the access token contains characters a bearer token may not")


def _saslname(user: str) -> str:
    # RFC 5801 §4 (GS2): "," and "=" are escaped in the authzid.
    return user.replace("=", "=3D").replace(",", "=2C")


def initial_response(
    mechanism: Mechanism, *, user: str, token: Secret, host: str = "", port: int | None = None
) -> bytes:
    """The raw initial response (before base64) for ``AUTH <mechanism>``.

    Raises:
        SASLSyntaxError: the user has a control character or the token is not a b64token.
    """
    _check_user(user)
    value = token.reveal()
    _check_token(value)
    if mechanism is Mechanism.XOAUTH2:
        text = f"user={user}{_KVSEP}auth=Bearer {value}{_KVSEP}{_KVSEP}"
    else:
        pairs = []
        if host:
            pairs.append(f"host={host}")
        if port is not None:
            pairs.append(f"port={port}")
        pairs.append(f"auth=Bearer {value}")
        text = f"n,a={_saslname(user)},{_KVSEP}{_KVSEP.join(pairs)}{_KVSEP}{_KVSEP}"
    return text.encode("utf-8")


def abort_response(mechanism: Mechanism) -> bytes:
    """What the client answers to an error challenge before the server's final 5xx."""
    return b"" if mechanism is Mechanism.XOAUTH2 else _KVSEP.encode()


def parse_initial_response(mechanism: Mechanism, data: bytes) -> BearerCredentials:
    """The user and token of a raw initial response (after base64 decoding).

    Raises:
        SASLSyntaxError: the framing is wrong, or a field is missing.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SASLSyntaxError("the response is not UTF-8") from None
    if not text.endswith(_KVSEP * 2):
        raise SASLSyntaxError("the response does not end with two ^A")
    if mechanism is Mechanism.XOAUTH2:
        head, pairs = "", text[:-2].split(_KVSEP)
    else:
        head, sep, rest = text.partition(_KVSEP)
        if not sep:
            raise SASLSyntaxError("the GS2 header is not followed by ^A")
        pairs = rest[:-2].split(_KVSEP) if rest[:-2] else []
    fields: dict[str, str] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise SASLSyntaxError(f"not a key=value pair: {key[:20]!r}")
        fields[key] = value
    user = fields.get("user", "") if mechanism is Mechanism.XOAUTH2 else _parse_gs2_user(head)
    auth = fields.get("auth", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise SASLSyntaxError("no 'auth=Bearer <token>' field")
    _check_user(user)
    _check_token(token)
    port = fields.get("port")
    if port is not None and not port.isdigit():
        raise SASLSyntaxError("the port is not a number")
    return BearerCredentials(
        user=user,
        token=Secret(token),
        host=fields.get("host", ""),
        port=int(port) if port is not None else None,
    )


def _parse_gs2_user(head: str) -> str:
    # gs2-header = gs2-cb-flag "," [gs2-authzid] "," ; only "n" (no channel binding).
    parts = head.split(",")
    if len(parts) != 3 or parts[0] not in ("n", "y") or parts[2] != "":
        raise SASLSyntaxError("the GS2 header is not 'n,a=<user>,'")
    if not parts[1].startswith("a="):
        raise SASLSyntaxError("the GS2 header names no user (a=)")
    escaped = parts[1][2:]
    if re.search(r"=(?!2C|3D)", escaped):
        raise SASLSyntaxError("a bad escape in the GS2 user name")
    return escaped.replace("=2C", ",").replace("=3D", "=")


def error_challenge(mechanism: Mechanism, *, scope: str = "", configuration: str = "") -> bytes:
    """The JSON a server sends (base64, after ``334``) when it refuses a token."""
    doc: dict[str, str]
    if mechanism is Mechanism.XOAUTH2:
        doc = {"status": "401", "schemes": "bearer"}
    else:
        doc = {"status": "invalid_token"}
    if scope:
        doc["scope"] = scope
    if configuration:
        doc["openid-configuration"] = configuration
    return json.dumps(doc, separators=(",", ":")).encode()


def parse_error_challenge(challenge: str) -> dict[str, str]:
    """The fields of a server's error challenge (the text after ``334 ``); {} if none."""
    try:
        doc = json.loads(base64.b64decode(challenge.strip(), validate=True))
    except (binascii.Error, ValueError):
        return {}
    if not isinstance(doc, dict):
        return {}
    return {str(k): str(v) for k, v in doc.items()}
