"""The site's time zone: the zone new users start in and the pages show times in.

Tocsin has no site-zone setting of its own: the site's zone is the server's local
zone, as the system names it (``$TZ``, else the ``/etc/localtime`` link, else
``/etc/timezone``), so an appliance set up for Berlin shows Berlin times without a
second setting to keep in step.  A system that names no IANA zone gives ``UTC``.
"""

from __future__ import annotations

import functools
import os
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Final

__all__ = ["known_zones", "system_zone", "valid_zone"]

_LOCALTIME: Final = Path("/etc/localtime")
_TIMEZONE_FILE: Final = Path("/etc/timezone")
# The names of UTC that read oddly on a page ("Etc/UTC"); shown as plain "UTC".
_UTC_ALIASES: Final = frozenset({"Etc/UTC", "Etc/UCT", "Etc/Universal", "Etc/Zulu", "UCT", "Zulu"})


def valid_zone(name: str) -> bool:
    """True if ``name`` is an IANA time zone this system knows (``Europe/Berlin``, ``UTC``)."""
    if not name or name != name.strip() or len(name) > 64 or name.startswith(("/", ".")):
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


@functools.cache
def known_zones() -> tuple[str, ...]:
    """The IANA zones this system knows, sorted, ``UTC`` included (for pickers)."""
    return tuple(sorted(zoneinfo.available_timezones() | {"UTC"}))


def _plain(name: str) -> str:
    return "UTC" if name in _UTC_ALIASES else name


def _from_link(localtime: Path) -> str:
    """The zone ``/etc/localtime`` links to (``…/zoneinfo/Europe/Berlin``), or ""."""
    try:
        target = str(localtime.resolve(strict=True))
    except OSError:
        return ""
    _, found, tail = target.rpartition("/zoneinfo/")
    return tail if found else ""


def _from_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()[:64]
    except OSError:
        return ""


def system_zone(
    env: Mapping[str, str] | None = None,
    *,
    localtime: Path = _LOCALTIME,
    timezone_file: Path = _TIMEZONE_FILE,
) -> str:
    """The server's local IANA zone: ``$TZ`` (``Europe/Berlin`` or ``:Europe/Berlin``), else
    the zone ``/etc/localtime`` links to, else ``/etc/timezone``; ``UTC`` if none names one.

    Never raises: a POSIX rule in ``$TZ`` (``CET-1CEST``) or an unreadable file is skipped.
    """
    environ = os.environ if env is None else env
    candidates = (
        environ.get("TZ", "").removeprefix(":"),
        _from_link(localtime),
        _from_file(timezone_file),
    )
    for name in candidates:
        if valid_zone(name):
            return _plain(name)
    return "UTC"
