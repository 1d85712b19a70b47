"""The ``public_url`` setting: where recipients' browsers reach Tocsin (links in emails).

Kept in the store (key ``public_url``); ``$TOCSIN_PUBLIC_URL`` is the fallback while
none is saved, as before this setting existed.  Without either, emails carry no link
(no "Acknowledge" link either) and the settings page says so.
"""

from __future__ import annotations

import logging
import os
from typing import Final

from tocsin.ack.public_url import PublicUrlProblem, check_public_url
from tocsin.store import KeyValueStore

__all__ = ["ENV_PUBLIC_URL", "PUBLIC_URL_KEY", "PublicUrlService"]

log = logging.getLogger("tocsin.settings")

ENV_PUBLIC_URL: Final = "TOCSIN_PUBLIC_URL"
PUBLIC_URL_KEY: Final = "public_url"
"""Where the public URL is kept in the key-value table."""
_KEY: Final = PUBLIC_URL_KEY


class PublicUrlService:
    """Reads and saves the public URL on ``store``."""

    def __init__(self, store: KeyValueStore) -> None:
        self._store = store

    def saved(self) -> str | None:
        """The saved URL, or None."""
        return self._store.get_value(_KEY) or None

    def source(self) -> str:
        """Where :meth:`get` takes it from: ``saved``, ``environment`` or ``none``."""
        if self.saved():
            return "saved"
        return "environment" if self._from_env() else "none"

    def _from_env(self) -> str | None:
        raw = os.environ.get(ENV_PUBLIC_URL, "")
        try:
            return check_public_url(raw)[0]
        except PublicUrlProblem as exc:
            log.warning("ignoring $%s: %s", ENV_PUBLIC_URL, exc.code)
            return None

    def get(self) -> str | None:
        """The URL links are built on: the saved one, else ``$TOCSIN_PUBLIC_URL``, else None."""
        return self.saved() or self._from_env()

    def get_from(self, saved: str | None) -> str | None:
        """:meth:`get` with the stored text ``saved`` (read by the caller)."""
        return saved or self._from_env()

    def save(self, raw: str) -> str | None:
        """Check and save ``raw`` (empty: remove it); returns a warning code or None.

        Raises :class:`~tocsin.ack.public_url.PublicUrlProblem` (nothing saved).
        """
        url, warning = check_public_url(raw)
        self._store.put_value(_KEY, url or "")
        return warning
