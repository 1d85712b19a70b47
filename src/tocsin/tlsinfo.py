"""TLS contexts built from settings, and readable facts about a TLS session."""

from __future__ import annotations

import functools
import os
import ssl
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from cryptography import x509
from cryptography.x509.oid import NameOID

__all__ = ["CertificateFacts", "TLSFacts", "certificate_facts", "make_tls_context", "tls_facts"]


def make_tls_context(
    *, verify: bool = True, ca_file: str = "", protocol: Literal["smtp", "https"] = "smtp"
) -> ssl.SSLContext:
    """A client context: the system store (or ``ca_file``), TLS 1.2 or newer, verified.

    ``verify=False`` accepts any certificate; the settings call that insecure
    wherever it shows.

    Shared, so never change the context you get: building one reads the whole CA store
    (20–28 ms here), and every new transport did, so the first alarm after half a
    minute without mail (when the engine closes idle connections) waited for it.  A
    CA file or system store changed on disk since (its modification time) is read
    again.  Each ``protocol`` has its own: the HTTP client sets its ALPN protocol
    ("http/1.1") on the context it is given, which SMTP connections must not offer.
    """
    return _shared_context(verify, ca_file, protocol, _store_stamp(ca_file))


def _store_stamp(ca_file: str) -> tuple[int, ...]:
    """When the certificates a context would read last changed (0 where unreadable)."""
    if ca_file:
        places = [ca_file]
    else:
        default = ssl.get_default_verify_paths()
        places = [p for p in (default.cafile, default.capath) if p]
    stamps = []
    for place in places:
        try:
            stamps.append(os.stat(place).st_mtime_ns)
        except OSError:
            stamps.append(0)  # missing: creating the context says so, as before
    return tuple(stamps)


@functools.lru_cache(maxsize=8)
def _shared_context(
    verify: bool, ca_file: str, _protocol: str, _stamp: tuple[int, ...]
) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


@dataclass(frozen=True, slots=True)
class CertificateFacts:
    """What a person needs to know about a server certificate."""

    subject: str
    issuer: str
    names: tuple[str, ...]
    not_after: datetime
    self_signed: bool

    def describe(self) -> str:
        """One line: subject, issuer and expiry."""
        issuer = "itself (self-signed)" if self.self_signed else self.issuer
        return (
            f"certificate for {self.subject} (names: {', '.join(self.names) or 'none'}), "
            f"issued by {issuer}, valid until {self.not_after:%Y-%m-%d}"
        )


@dataclass(frozen=True, slots=True)
class TLSFacts:
    """The negotiated protocol and cipher, and the server's certificate."""

    version: str
    cipher: str
    certificate: CertificateFacts | None

    def describe(self) -> str:
        """One line for a transcript."""
        text = f"{self.version}, {self.cipher}"
        if self.certificate is not None:
            text += f"; {self.certificate.describe()}"
        return text


def _name(name: x509.Name) -> str:
    common = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return f"CN={common[0].value!s}" if common else name.rfc4514_string()


def certificate_facts(der: bytes) -> CertificateFacts:
    """Parse a DER certificate into :class:`CertificateFacts`."""
    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple(
            [str(n) for n in san.get_values_for_type(x509.DNSName)]
            + [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
        )
    except x509.ExtensionNotFound:
        names = ()
    return CertificateFacts(
        subject=_name(cert.subject),
        issuer=_name(cert.issuer),
        names=names,
        not_after=cert.not_valid_after_utc,
        self_signed=cert.issuer == cert.subject,
    )


def tls_facts(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> TLSFacts | None:
    """Facts about an established TLS session, or None without one."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    cipher = ssl_object.cipher()
    return TLSFacts(
        version=ssl_object.version() or "TLS",
        cipher=cipher[0] if cipher else "unknown cipher",
        certificate=certificate_facts(der) if der else None,
    )
