"""DKIM signing (RFC 6376), and the DNS record that publishes the key.

The relay signs every message once, when it is accepted, so every retry sends the
same signed bytes.  Canonicalisation is relaxed/relaxed (§3.4.2, §3.4.4): receiving
MTAs that refold or re-space headers (and Postfix adding its trace headers) do not
break the signature.

The signer is our own ~60 lines: dkimpy does RSA in pure Python (about 13 ms per
signature with a 2048-bit key), ``cryptography`` takes about 1 ms, and signing sits on
the submission path.  dkimpy stays the independent verifier in the tests.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tocsin.errors import ConfigError

__all__ = ["DKIMKey", "generate_private_key"]

# RFC 6376 §5.4.1 recommends these; From is required.  Absent ones are not signed.
_SIGNED_HEADERS = (
    b"from",
    b"reply-to",
    b"subject",
    b"date",
    b"to",
    b"cc",
    b"message-id",
    b"mime-version",
    b"content-type",
    b"content-transfer-encoding",
    b"auto-submitted",
    b"in-reply-to",
    b"references",
)


def generate_private_key(bits: int = 2048) -> bytes:
    """A new RSA private key as PEM (PKCS #8, unencrypted: keep the file mode 0600)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


_WSP = re.compile(rb"[ \t]+")
_FOLD = re.compile(rb"\r\n(?=[ \t])")


def _relaxed_header(field_bytes: bytes) -> bytes:
    """§3.4.2: name lower case, unfolded, runs of WSP to one SP, none around the colon."""
    name, _, value = field_bytes.partition(b":")
    value = _WSP.sub(b" ", _FOLD.sub(b"", value.rstrip(b"\r\n"))).strip(b" ")
    return name.strip(b" \t").lower() + b":" + value


def _relaxed_body(body: bytes) -> bytes:
    """§3.4.4: runs of WSP to one SP, none at line ends, no empty lines at the end."""
    lines = [_WSP.sub(b" ", line).rstrip(b" ") for line in body.split(b"\r\n")]
    while lines and not lines[-1]:
        lines.pop()
    return b"".join(line + b"\r\n" for line in lines)


def _fold_b64(value: str, first: int) -> str:
    chunks = [value[:first]] + [value[i : i + 72] for i in range(first, len(value), 72)]
    return "\r\n\t".join(c for c in chunks if c)


@dataclass(frozen=True)
class DKIMKey:
    """A signing key for ``domain`` published under ``selector._domainkey.domain``."""

    domain: str
    selector: str
    private_key: bytes = field(repr=False)

    @classmethod
    def load(cls, path: Path | str, *, domain: str, selector: str) -> DKIMKey:
        """Read a PEM private key; ``ConfigError`` if it cannot be read or parsed."""
        try:
            pem = Path(path).read_bytes()
            serialization.load_pem_private_key(pem, password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise ConfigError(f"cannot use the DKIM key {path}: {exc}") from None
        return cls(domain.lower().rstrip("."), selector, pem)

    @property
    def record_name(self) -> str:
        """The DNS name of the TXT record: ``selector._domainkey.domain``."""
        return f"{self.selector}._domainkey.{self.domain}"

    def dns_record(self) -> str:
        """The TXT record's value: ``v=DKIM1; k=rsa; p=<public key>``."""
        key = serialization.load_pem_private_key(self.private_key, password=None)
        der = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode('ascii')}"

    @cached_property
    def _key(self) -> rsa.RSAPrivateKey:
        key = serialization.load_pem_private_key(self.private_key, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ConfigError("the DKIM key must be an RSA key")
        return key

    def sign(self, content: bytes, *, now: float | None = None) -> bytes:
        """``content`` (CRLF line ends) with a DKIM-Signature header in front (§5)."""
        head, _, body = content.partition(b"\r\n\r\n")
        fields = _unfolded_fields(head)
        by_name: dict[bytes, list[bytes]] = {}
        for f in fields:
            by_name.setdefault(f.partition(b":")[0].strip().lower(), []).append(f)
        names: list[bytes] = []
        chosen: list[bytes] = []
        for name in _SIGNED_HEADERS:
            for f in reversed(by_name.get(name, [])):  # §5.4.2: from the bottom up
                names.append(name)
                chosen.append(f)
        names.append(b"from")  # over-signed: a From added later breaks the signature
        body_hash = base64.b64encode(hashlib.sha256(_relaxed_body(body)).digest()).decode()
        stamp = int(time.time() if now is None else now)
        value = (
            f" v=1; a=rsa-sha256; c=relaxed/relaxed; d={self.domain}; s={self.selector};"
            f"\r\n\tt={stamp}; h={':'.join(n.decode() for n in names)};\r\n\tbh={body_hash};"
            "\r\n\tb="
        )
        unsigned = b"DKIM-Signature:" + value.encode("ascii")
        digest_input = b"".join(_relaxed_header(f) + b"\r\n" for f in chosen)
        digest_input += _relaxed_header(unsigned)  # §3.7: without its trailing CRLF
        signature = self._key.sign(digest_input, padding.PKCS1v15(), hashes.SHA256())
        b64 = base64.b64encode(signature).decode("ascii")
        return unsigned + _fold_b64(b64, 70).encode("ascii") + b"\r\n" + content


def _unfolded_fields(head: bytes) -> list[bytes]:
    """The header block's fields, each with its continuation lines (no final CRLF)."""
    fields: list[bytes] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\r\n" + line
        elif line:
            fields.append(line)
    return fields
