"""The ``public_url`` setting: the address recipients' browsers reach Tocsin at.

Links in emails (the "Acknowledge" link above all) are built on it; without it an
email carries no link.  Checked once here, for the settings page, the API and the CLI.
"""

from __future__ import annotations

import ipaddress
from typing import Final
from urllib.parse import urlsplit

from tocsin.headers import unsafe_character

__all__ = ["MAX_LENGTH", "PublicUrlProblem", "check_public_url"]

MAX_LENGTH: Final = 300
_LOOPBACK_NAMES: Final = ("localhost", "localhost.localdomain")


class PublicUrlProblem(ValueError):
    """Why a public URL cannot be used: ``code`` is a catalog key (msgctxt "web")."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_public_url(raw: str) -> tuple[str | None, str | None]:
    """``(url, warning code)`` for a typed public URL; ``(None, None)`` when left empty.

    The URL is kept without a trailing slash.  Raises :class:`PublicUrlProblem` for
    anything but an absolute http(s) URL with a host and without credentials, query
    or fragment.  The warning is ``public_url_plain_http`` for http:// to a host other
    than this machine (the link's token would cross the network readable).
    """
    url = raw.strip()
    if not url:
        return None, None
    if len(url) > MAX_LENGTH:
        raise PublicUrlProblem("public_url_too_long")
    if unsafe_character(url) or any(c.isspace() for c in url) or not url.isascii():
        raise PublicUrlProblem("public_url_bad_character")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        _ = parts.port  # a port that is no number raises here
    except ValueError:
        raise PublicUrlProblem("public_url_not_url") from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise PublicUrlProblem("public_url_not_url")
    if parts.username is not None or parts.password is not None:
        raise PublicUrlProblem("public_url_credentials")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise PublicUrlProblem("public_url_query")
    warning = None
    if parts.scheme.lower() == "http" and not _loopback(host):
        warning = "public_url_plain_http"
    return url.rstrip("/"), warning
