"""Read an autoconfig document (Thunderbird's ``config-v1.1.xml``): its SMTP servers.

Safe by construction: the document is at most :data:`MAX_DOCUMENT` bytes, a DTD (and so
any entity) is refused before parsing, and only the ``outgoingServer`` elements of type
``smtp`` are read; each becomes settings only if its host name, port and socket type
are valid.  Pure: the fetching is :mod:`tocsin.providers.discovery`'s.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Final

from tocsin.providers.presets import AuthMethod, is_host_name
from tocsin.settings import Encryption

__all__ = ["MAX_DOCUMENT", "AutoconfigError", "SMTPServer", "parse_autoconfig"]

MAX_DOCUMENT: Final = 64 * 1024
"""The largest document read; a provider's is a few kilobytes."""

_SOCKET: Final = {"ssl": Encryption.SSL, "starttls": Encryption.STARTTLS, "plain": Encryption.NONE}
_AUTH: Final = {
    "password-cleartext": AuthMethod.PASSWORD,
    "password-encrypted": AuthMethod.PASSWORD,
    "plain": AuthMethod.PASSWORD,
    "secure": AuthMethod.PASSWORD,
    "oauth2": AuthMethod.OAUTH2,
    "none": AuthMethod.NONE,
}
_DTD = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)


class AutoconfigError(ValueError):
    """The document is not a usable autoconfig document (the message says why)."""


@dataclass(frozen=True, slots=True)
class SMTPServer:
    """One ``outgoingServer`` of the document."""

    host: str
    port: int
    encryption: Encryption
    auth: AuthMethod | None


def _substitute(text: str, address: str) -> str:
    local, _, domain = address.rpartition("@")
    return (
        text.replace("%EMAILADDRESS%", address)
        .replace("%EMAILLOCALPART%", local)
        .replace("%EMAILDOMAIN%", domain)
    )


def _server(element: ET.Element, address: str) -> SMTPServer | None:
    host = _substitute((element.findtext("hostname") or "").strip(), address).lower()
    port_text = (element.findtext("port") or "").strip()
    socket = (element.findtext("socketType") or "").strip().lower()
    if not is_host_name(host) or not port_text.isdigit() or socket not in _SOCKET:
        return None
    port = int(port_text)
    if not 0 < port < 65536:
        return None
    methods = [(a.text or "").strip().lower() for a in element.findall("authentication")]
    known = [_AUTH[m] for m in methods if m in _AUTH]
    return SMTPServer(host, port, _SOCKET[socket], known[0] if known else None)


def parse_autoconfig(document: bytes, address: str) -> list[SMTPServer]:
    """The SMTP servers ``document`` names for ``address``, encrypted ones first.

    Raises :class:`AutoconfigError` for an oversized document, a DTD, XML that does not
    parse, or a root that is not ``clientConfig``.  An empty list: the document is valid
    but names no usable SMTP server.
    """
    if len(document) > MAX_DOCUMENT:
        raise AutoconfigError(f"larger than {MAX_DOCUMENT // 1024} KiB")
    if _DTD.search(document):
        raise AutoconfigError("the document has a DTD, which is refused")
    try:
        root = ET.fromstring(document)  # noqa: S314 - size-limited, DTDs refused above
    except ET.ParseError as exc:
        raise AutoconfigError(f"not XML ({exc})") from None
    if root.tag != "clientConfig":
        raise AutoconfigError(f"not an autoconfig document (root <{root.tag[:40]}>)")
    servers = [
        server
        for provider in root.findall("emailProvider")
        for element in provider.findall("outgoingServer")
        if element.get("type", "smtp").lower() == "smtp"
        and (server := _server(element, address)) is not None
    ]
    # Encrypted first (stable: the document's own order otherwise); plain text last.
    return sorted(servers, key=lambda s: s.encryption is Encryption.NONE)
