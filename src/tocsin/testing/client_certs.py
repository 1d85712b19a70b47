"""Client certificates for app-only sign-in tests, and Entra ID's check of a client assertion.

`make_client_certificate` makes what an admin uploads to an app registration (the
certificate) and stores in Tocsin (key and certificate, PEM).  `check_client_assertion`
is what `OAuthTestServer` does with a ``client_assertion`` (RFC 7523 §2.2, §3): find the
registered certificate by the header's ``x5t#S256`` or ``x5t`` thumbprint, verify the
signature with its public key, then ``iss``/``sub``, ``aud`` and the time range, and
refuse as Entra ID does (``AADSTS700027``, ``AADSTS700021``, ``AADSTS700023``,
``AADSTS700024``, ``AADSTS50027``).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

__all__ = [
    "ASSERTION_TYPE",
    "AssertionRefused",
    "ClientCertificatePair",
    "check_client_assertion",
    "make_client_certificate",
]

ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_ALGORITHMS: Final = ["RS256", "PS256"]
_SKEW: Final = 300  # Entra allows five minutes of clock skew


@dataclass(frozen=True)
class ClientCertificatePair:
    """A key and its self-signed certificate: ``pem`` (key + certificate, what Tocsin
    stores) and ``certificate_pem`` (what the app registration holds)."""

    pem: str
    certificate_pem: bytes
    thumbprint_hex: str


def make_client_certificate(
    *, common_name: str = "tocsin-alarms", days: float = 365, key_size: int = 2048
) -> ClientCertificatePair:
    """A fresh RSA key and a self-signed certificate valid for ``days`` (negative: one
    that has already expired)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = min(now, now + datetime.timedelta(days=days)) - datetime.timedelta(days=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(now + datetime.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    der = cert.public_bytes(serialization.Encoding.DER)
    thumbprint = hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()
    return ClientCertificatePair((key_pem + cert_pem).decode("ascii"), cert_pem, thumbprint)


class AssertionRefused(Exception):
    """The token endpoint's refusal: HTTP ``status``, RFC 6749 ``error``, Entra's text."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(error)
        self.status, self.error, self.description = status, error, description


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _part(token: str, index: int) -> dict[str, Any]:
    try:
        text = token.split(".")[index]
        doc = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (IndexError, ValueError):
        doc = None
    if not isinstance(doc, dict):
        raise AssertionRefused(
            400, "invalid_request", "AADSTS50027: JWT token is invalid or malformed."
        )
    return doc


def _invalid_signature(reason: str, thumbprint: str, client_id: str) -> AssertionRefused:
    return AssertionRefused(
        401,
        "invalid_client",
        f"AADSTS700027: Client assertion contains an invalid signature. [Reason - {reason}, "
        f"Thumbprint of key used by client: '{thumbprint[:64]}', Please visit the Azure "
        "Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id "
        f"'{client_id[:60]}'.]",
    )


def _registered(
    header: dict[str, Any], certificates: list[x509.Certificate], client_id: str
) -> x509.Certificate:
    for cert in certificates:
        der = cert.public_bytes(serialization.Encoding.DER)
        sha256 = _b64(hashlib.sha256(der).digest())
        sha1 = _b64(hashlib.sha1(der, usedforsecurity=False).digest())
        if header.get("x5t#S256") == sha256 or header.get("x5t") == sha1:
            return cert
    used = str(header.get("x5t#S256") or header.get("x5t") or "")
    try:
        raw = base64.urlsafe_b64decode(used + "=" * (-len(used) % 4))
        shown = raw.hex().upper()
    except ValueError:
        shown = "unknown"
    raise _invalid_signature("The key was not found.", shown, client_id)


def check_client_assertion(
    assertion: str,
    *,
    client_id: str,
    certificates: list[x509.Certificate],
    audience: str,
    now: float,
) -> None:
    """Accept ``assertion`` for ``client_id`` as Entra ID would, or raise
    :class:`AssertionRefused` with Entra's code and text."""
    header = _part(assertion, 0)
    cert = _registered(header, certificates, client_id)
    thumbprint = hashlib.sha1(
        cert.public_bytes(serialization.Encoding.DER), usedforsecurity=False
    ).hexdigest()
    if cert.not_valid_after_utc.timestamp() <= now:
        raise _invalid_signature("The key used is expired.", thumbprint.upper(), client_id)
    public = cert.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    try:
        jws.deserialize_compact(assertion, RSAKey.import_key(public), algorithms=_ALGORITHMS)
    except (JoseError, ValueError):
        raise _invalid_signature(
            "The provided signature value did not match the expected signature value.",
            thumbprint.upper(),
            client_id,
        ) from None
    claims = _part(assertion, 1)
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise AssertionRefused(
            401,
            "invalid_client",
            "AADSTS700021: Client assertion application identifier doesn't match "
            "'client_id' parameter.",
        )
    if claims.get("aud") != audience:
        raise AssertionRefused(
            401,
            "invalid_client",
            "AADSTS700023: Client assertion audience claim does not match Realm issuer.",
        )
    _check_time(claims, now)


def _check_time(claims: dict[str, Any], now: float) -> None:
    try:
        expires = float(claims["exp"])
        starts = float(claims.get("nbf", claims.get("iat", now)))
    except (KeyError, TypeError, ValueError):
        expires = starts = 0.0
    if not starts - _SKEW <= now < expires + _SKEW:
        stamp = datetime.datetime.fromtimestamp(now, datetime.UTC).strftime("%m/%d/%Y %H:%M:%S")
        raise AssertionRefused(
            401,
            "invalid_client",
            f"AADSTS700024: Client assertion is not within its valid time range. Current "
            f"time: {stamp}Z, assertion valid from {int(starts)}, expiry time of assertion "
            f"{int(expires)}.",
        )
