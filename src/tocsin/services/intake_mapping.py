"""The label mapping of the webhook ways in, kept in the key-value settings.

Beside the email settings (one JSON row, no migration); the same dictionary form
(:func:`tocsin.intake.mapping.mapping_to_dict`) serves the REST API, the CLI, the web
page and the site file (key ``webhook_mapping``).
"""

from __future__ import annotations

import json
import time
from typing import Any, Final

from tocsin.intake.mapping import DEFAULT_MAPPING, IntakeMapping, mapping_to_dict, parse_mapping
from tocsin.services.inputs import InputRefused
from tocsin.store.base import KeyValueStore
from tocsin.validation import Issue

__all__ = ["MAPPING_KEY", "IntakeMappingService"]

MAPPING_KEY: Final = "intake_mapping"
FRESH_FOR: Final = 1.0
"""Seconds a loaded mapping is used without reading the store again: every read waits
for the intake's current commit, and a storm of webhooks would pay for each.  A change
made here applies at once; one made by another process (the CLI) within this time."""


class IntakeMappingService:
    """Loads and changes the label mapping (validated here, once, for every face)."""

    def __init__(self, store: KeyValueStore) -> None:
        self._store = store
        self._last: tuple[str | None, IntakeMapping] | None = None
        self._read_at = -FRESH_FOR

    def load(self) -> IntakeMapping:
        """The saved mapping, or the defaults (see :data:`FRESH_FOR`)."""
        now = time.monotonic()
        if self._last is not None and now - self._read_at < FRESH_FOR:
            return self._last[1]
        raw = self._store.get_value(MAPPING_KEY)
        self._read_at = now
        if self._last is not None and self._last[0] == raw:
            return self._last[1]
        issues: list[Issue] = []
        parsed = parse_mapping(json.loads(raw), issues=issues) if raw is not None else None
        mapping = parsed or DEFAULT_MAPPING
        self._last = (raw, mapping)
        return mapping

    def as_dict(self) -> dict[str, Any]:
        """The saved mapping's dictionary form."""
        return mapping_to_dict(self.load())

    def check(self, changes: object, *, prefix: str = "", whole: bool = False) -> IntakeMapping:
        """The mapping ``changes`` make (``whole``: from the defaults, else from the saved
        one), not saved; raises :class:`InputRefused` naming each bad field."""
        issues: list[Issue] = []
        base = DEFAULT_MAPPING if whole else self.load()
        mapping = parse_mapping(changes, issues=issues, prefix=prefix, base=base)
        if mapping is None:
            raise InputRefused(issues)
        return mapping

    def save(self, mapping: IntakeMapping) -> None:
        """Store ``mapping`` (checked by :meth:`check`)."""
        raw = json.dumps(mapping_to_dict(mapping), sort_keys=True)
        self._store.put_value(MAPPING_KEY, raw)
        self._last, self._read_at = (raw, mapping), time.monotonic()

    def update(self, changes: object) -> IntakeMapping:
        """Apply and save ``changes`` (a partial dictionary form); raises :class:`InputRefused`."""
        mapping = self.check(changes)
        self.save(mapping)
        return mapping

    def reset(self) -> IntakeMapping:
        """Back to the defaults."""
        self.save(DEFAULT_MAPPING)
        return DEFAULT_MAPPING
