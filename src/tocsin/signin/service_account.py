"""Google service accounts with domain-wide delegation: a signed JWT (RFC 7523).

The service account's JSON key (``client_email``, ``private_key``, ``token_uri``) signs
an assertion that names the mailbox as ``sub``; Google's token endpoint answers with an
access token for that mailbox, if a Workspace admin allowed the account the scope
``https://mail.google.com/`` (domain-wide delegation).  joserfc (authlib's own JOSE
library) signs; the key is a secret, stored encrypted like the password.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Final

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from tocsin.secret import Secret

__all__ = ["JWT_BEARER", "KeyProblem", "ServiceAccountKey", "assertion", "parse_key"]

JWT_BEARER: Final = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_LIFETIME: Final = 3600  # Google accepts assertions for at most an hour


class KeyProblem(ValueError):
    """The service account key file is not one Google issues."""


@dataclass(frozen=True, slots=True)
class ServiceAccountKey:
    """What Tocsin uses of a JSON key: who signs, with what, and where tokens come from."""

    client_email: str
    private_key: Secret
    token_uri: str


def parse_key(text: str) -> ServiceAccountKey:
    """The key from a service account's JSON key file.

    Raises:
        KeyProblem: not JSON, not a service account key, or the private key unreadable.
    """
    try:
        doc: Any = json.loads(text)
    except ValueError:
        raise KeyProblem("the key file is not JSON") from None
    if not isinstance(doc, dict) or doc.get("type") != "service_account":
        raise KeyProblem('the key file is not a service account key ("type": "service_account")')
    fields = ("client_email", "private_key", "token_uri")
    missing = [f for f in fields if not isinstance(doc.get(f), str) or not doc[f]]
    if missing:
        raise KeyProblem(f"the key file lacks {', '.join(missing)}")
    try:
        RSAKey.import_key(doc["private_key"])
    except (JoseError, ValueError, TypeError):
        raise KeyProblem("the private key in the key file cannot be read") from None
    return ServiceAccountKey(doc["client_email"], Secret(doc["private_key"]), doc["token_uri"])


def assertion(
    key: ServiceAccountKey, *, mailbox: str, scope: str, audience: str, now: float | None = None
) -> str:
    """The signed JWT (RS256) that asks for a token acting for ``mailbox`` (RFC 7523 §3)."""
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": key.client_email,
        "sub": mailbox,
        "scope": scope,
        "aud": audience,
        "iat": issued,
        "exp": issued + _LIFETIME,
    }
    signer = RSAKey.import_key(key.private_key.reveal())
    return jwt.encode({"alg": "RS256", "typ": "JWT"}, claims, signer)
