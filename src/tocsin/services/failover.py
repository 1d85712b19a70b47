"""Use cases around the failover chain: read it, change it (validated once, in
:func:`tocsin.failover.apply_failover_update`), and the fingerprint the engine watches.

The chain is its own key-value entry beside the email settings; each backup link is
stored like the primary (:func:`~tocsin.services.settings.encode_settings`): every
secret encrypted with the data directory's key, never in clear.

A backup link may sign in with OAuth2 like the primary.  When its provider rotates
the refresh token while the link sends (or is tested), :meth:`FailoverService.
refresh_token_keeper` stores the new one on that link, not on the primary.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from typing import Any

from tocsin.failover import (
    FailoverPolicy,
    FailoverSettings,
    apply_failover_update,
    effective_link,
)
from tocsin.secret import Secret
from tocsin.services.settings import (
    SETTINGS_KEY,
    SettingsService,
    check_files,
    decode_settings,
    digest_of,
    encode_settings,
)
from tocsin.settings import EmailSettings
from tocsin.store.base import KeyValueStore
from tocsin.store.keyfile import SecretBox
from tocsin.validation import Report

__all__ = ["FailoverService"]

_KEY = "email_failover"


class FailoverService:
    """Loads and saves :class:`FailoverSettings`; the links' secrets stored encrypted."""

    def __init__(self, store: KeyValueStore, box: SecretBox, settings: SettingsService) -> None:
        self._store = store
        self._box = box
        self._settings = settings
        self._last: tuple[str, FailoverSettings] | None = None

    def load(self) -> FailoverSettings:
        """The saved chain, or an empty one that is off (the stored row read every time)."""
        raw = self._store.get_value(_KEY)
        if raw is None:
            return FailoverSettings()
        last = self._last
        if last is not None and last[0] == raw:
            return last[1]
        data: dict[str, Any] = json.loads(raw)
        known = {f.name for f in dataclasses.fields(FailoverPolicy)}
        policy = FailoverPolicy(**{k: v for k, v in data.get("policy", {}).items() if k in known})
        links = tuple(decode_settings(dict(link), self._box) for link in data.get("links", []))
        chain = FailoverSettings(enabled=bool(data.get("enabled")), links=links, policy=policy)
        self._last = (raw, chain)
        return chain

    def save(self, chain: FailoverSettings) -> None:
        """Store ``chain`` as it is (callers validate first: see :meth:`update`)."""
        data = {
            "enabled": chain.enabled,
            "policy": dataclasses.asdict(chain.policy),
            "links": [encode_settings(link, self._box) for link in chain.links],
        }
        self._store.put_value(_KEY, json.dumps(data, sort_keys=True))

    def fingerprint(self) -> str:
        """A digest of the stored email settings and chain: changes with every save of
        either, read without decrypting anything (the engine compares it per claim)."""
        raw = self._store.get_values((SETTINGS_KEY, _KEY))  # one statement, not two
        return f"{digest_of(raw.get(SETTINGS_KEY, ''))}:{digest_of(raw.get(_KEY, ''))}"

    def update(self, changes: Mapping[str, object]) -> tuple[FailoverSettings, Report, bool]:
        """Validate and apply ``changes``; save only when there is no error.

        Returns the chain as it would be, the report, and whether it was saved.
        """
        updated, report = apply_failover_update(self.load(), changes, primary=self._settings.load())
        for index, link in enumerate(updated.links):
            for issue in check_files(link).issues:
                report = report + Report.of(
                    [dataclasses.replace(issue, field=f"links.{index}.{issue.field}")]
                )
        if not report.ok:
            return updated, report, False
        self.save(updated)
        return updated, report, True

    def refresh_token_keeper(self, settings: EmailSettings) -> Callable[[Secret], None]:
        """The ``on_refresh_token`` for a transport built from ``settings``, the primary
        or a backup link as it sends: stores each refresh token the provider rotates,
        encrypted, where the one it replaces is stored (see :meth:`keep_refresh_token`).
        """
        last = settings.oauth_refresh_token
        slot = self._slot_of(settings)

        def keep(rotated: Secret) -> None:
            nonlocal last
            if self.keep_refresh_token(rotated, replaces=last, slot=slot):
                last = rotated

        return keep

    def _slot_of(self, settings: EmailSettings) -> int | None:
        """Which link ``settings`` are: 0 the primary, ``n`` backup link ``n``, None
        when neither (settings as typed for a test)."""
        primary = self._settings.load()
        if settings == primary:
            return 0
        for number, link in enumerate(self.load().links, start=1):
            if settings == effective_link(primary, link):
                return number
        return None

    def keep_refresh_token(
        self, rotated: Secret, *, replaces: Secret | None, slot: int | None = None
    ) -> bool:
        """Store ``rotated`` wherever ``replaces`` is still stored: on the backup link
        that holds it, on the primary if it holds it (one sign-in used twice, where the
        old token may stop working).  A place that holds another token meanwhile (a new
        sign-in) keeps it.  A first token (``replaces`` None) goes to ``slot`` only.
        True if stored somewhere."""
        if replaces is None:
            if slot == 0:
                return self._settings.keep_refresh_token(rotated, replaces=None)
            return slot is not None and self._keep_on_links(rotated, None, slot)
        on_primary = self._settings.keep_refresh_token(rotated, replaces=replaces)
        return self._keep_on_links(rotated, replaces, None) or on_primary

    def _keep_on_links(self, rotated: Secret, replaces: Secret | None, slot: int | None) -> bool:
        chain = self.load()
        links = list(chain.links)
        changed = False
        for index, link in enumerate(links):
            if (slot is None or slot == index + 1) and link.oauth_refresh_token == replaces:
                links[index] = dataclasses.replace(link, oauth_refresh_token=rotated)
                changed = True
        if changed:
            self.save(dataclasses.replace(chain, links=tuple(links)))
        return changed
