"""Use cases around the failover chain: read it, change it (validated once, in
:func:`tocsin.failover.apply_failover_update`), and the fingerprint the engine watches.

The chain is its own key-value entry beside the email settings; each backup link is
stored like the primary (:func:`~tocsin.services.settings.encode_settings`): every
secret encrypted with the data directory's key, never in clear.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from tocsin.failover import FailoverPolicy, FailoverSettings, apply_failover_update
from tocsin.services.settings import (
    SETTINGS_KEY,
    SettingsService,
    check_files,
    decode_settings,
    digest_of,
    encode_settings,
)
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
