"""Credentials stored for OAuth2 sign-in, read and checked (no I/O): a client
certificate (the private key and its certificate) and a Google service account key.

Microsoft Entra ID lets an application prove itself with a certificate instead of a
client secret: the app signs a short JWT (RFC 7523 client assertion) with its private
key, and Entra checks it against the certificate uploaded to the app registration,
found by the SHA-256 (or SHA-1) thumbprint in the JWT's header.  Tocsin stores both as
one PEM text (key and certificate, in any order), encrypted like a password.

This module only reads that text (no I/O): is it PEM, is the key readable and RSA, does
the certificate belong to the key, when does it expire.  Each problem is one code the
catalogs word (``oauth_certificate_<code>``); the signing itself is in
``tocsin.signin.certificate``.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from tocsin.secret import Secret

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import rsa

# cryptography's x509 and key loading are imported by the functions that read a key or
# a certificate: the settings checks import this module for every settings load, and
# most sites sign in with a password (loading them costs tens of milliseconds).

__all__ = [
    "EXPIRING_DAYS",
    "CertificateProblem",
    "ClientCertificate",
    "expiry_state",
    "parse_client_certificate",
    "service_account_problem",
]

EXPIRING_DAYS: Final = 30
"""A certificate that ends within this many days is worth a warning."""

_BLOCK: Final = re.compile(
    r"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)\r?\n?-----END \1-----", re.DOTALL
)
_KEY_KINDS: Final = ("PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY")
_ENCRYPTED: Final = "ENCRYPTED PRIVATE KEY"


class CertificateProblem(ValueError):
    """Why a text is not a usable key and certificate; ``code`` names it for the catalogs:
    ``not_pem``, ``no_key``, ``no_certificate``, ``key_encrypted``, ``key_unreadable``,
    ``key_not_rsa``, ``certificate_unreadable`` or ``mismatch``."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class ClientCertificate:
    """A readable key and the certificate that belongs to it.  Only the key is secret."""

    private_key_pem: Secret
    certificate_der: bytes
    not_after: datetime.datetime
    subject: str

    @property
    def thumbprint_sha256(self) -> str:
        """The ``x5t#S256`` header value: base64url of the DER's SHA-256 (RFC 7515 §4.1.8)."""
        return _b64url(hashlib.sha256(self.certificate_der).digest())

    @property
    def thumbprint_sha1(self) -> str:
        """The ``x5t`` header value: base64url of the DER's SHA-1 (RFC 7515 §4.1.7)."""
        return _b64url(hashlib.sha1(self.certificate_der, usedforsecurity=False).digest())

    @property
    def thumbprint_hex(self) -> str:
        """The SHA-1 thumbprint as the Entra portal shows it (upper-case hex)."""
        return hashlib.sha1(self.certificate_der, usedforsecurity=False).hexdigest().upper()


def _load_key(kind: str, block: str) -> rsa.RSAPrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    if kind == _ENCRYPTED:
        raise CertificateProblem("key_encrypted")
    try:
        key = serialization.load_pem_private_key(block.encode("ascii"), password=None)
    except TypeError:  # a passphrase-protected traditional PEM
        raise CertificateProblem("key_encrypted") from None
    except (ValueError, UnicodeError):
        raise CertificateProblem("key_unreadable") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CertificateProblem("key_not_rsa")
    return key


def _public(key: rsa.RSAPublicKey | rsa.RSAPrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def parse_client_certificate(text: str) -> ClientCertificate:
    """The key and its certificate from one PEM text (a chain may follow the certificate).

    Raises:
        CertificateProblem: see its ``code``; the message never quotes the text.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    blocks = [(m.group(1), m.group(0)) for m in _BLOCK.finditer(text or "")]
    if not blocks:
        raise CertificateProblem("not_pem")
    keys = [(kind, block) for kind, block in blocks if kind in (*_KEY_KINDS, _ENCRYPTED)]
    certs = [block for kind, block in blocks if kind == "CERTIFICATE"]
    if not keys:
        raise CertificateProblem("no_key")
    if not certs:
        raise CertificateProblem("no_certificate")
    key = _load_key(*keys[0])
    wanted = _public(key)
    for block in certs:
        try:
            cert = x509.load_pem_x509_certificate(block.encode("ascii"))
        except (ValueError, UnicodeError):
            raise CertificateProblem("certificate_unreadable") from None
        public = cert.public_key()
        if isinstance(public, rsa.RSAPublicKey) and _public(public) == wanted:
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode("ascii")
            return ClientCertificate(
                private_key_pem=Secret(pem),
                certificate_der=cert.public_bytes(serialization.Encoding.DER),
                not_after=cert.not_valid_after_utc,
                subject=cert.subject.rfc4514_string()[:200],
            )
    raise CertificateProblem("mismatch")


def expiry_state(cert: ClientCertificate, now: datetime.datetime | None = None) -> str | None:
    """``"expired"``, ``"expiring"`` (within :data:`EXPIRING_DAYS`) or None."""
    now = now or datetime.datetime.now(datetime.UTC)
    if cert.not_after <= now:
        return "expired"
    if cert.not_after - now <= datetime.timedelta(days=EXPIRING_DAYS):
        return "expiring"
    return None


_ACCOUNT_FIELDS: Final = ("client_email", "private_key", "token_uri")


def service_account_problem(text: str) -> tuple[str, dict[str, str]] | None:
    """Why ``text`` is not a Google service account's JSON key, or None: a code for the
    catalogs (``oauth_sakey_<code>``) and its parameters.  Codes: ``not_json``,
    ``not_service_account``, ``missing`` (``fields``), ``key_unreadable``."""
    try:
        doc = json.loads(text)
    except ValueError:
        return ("not_json", {})
    if not isinstance(doc, dict) or doc.get("type") != "service_account":
        return ("not_service_account", {})
    missing = [f for f in _ACCOUNT_FIELDS if not isinstance(doc.get(f), str) or not doc[f]]
    if missing:
        return ("missing", {"fields": ", ".join(missing)})
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        key = serialization.load_pem_private_key(doc["private_key"].encode(), password=None)
    except (ValueError, TypeError, UnicodeError):
        return ("key_unreadable", {})
    if not isinstance(key, rsa.RSAPrivateKey):
        return ("key_unreadable", {})
    return None
