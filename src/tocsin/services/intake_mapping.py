"""The label mapping of the webhook ways in, kept in the key-value settings.

Beside the email settings (one JSON row, no migration); the same dictionary form
(:func:`tocsin.intake.mapping.mapping_to_dict`) serves the REST API, the CLI, the web
page and the site file (key ``webhook_mapping``).
"""

from __future__ import annotations

import json
from typing import Final

from tocsin.intake.mapping import DEFAULT_MAPPING, IntakeMapping, mapping_to_dict, parse_mapping
from tocsin.services.inputs import InputRefused
from tocsin.store.base import KeyValueStore
from tocsin.validation import Issue

__all__ = ["MAPPING_KEY", "IntakeMappingService"]

MAPPING_KEY: Final = "intake_mapping"


class IntakeMappingService:
    """Loads and changes the label mapping (validated here, once, for every face)."""

    def __init__(self, store: KeyValueStore) -> None:
        self._store = store
        self._last: tuple[str, IntakeMapping] | None = None

    def load(self) -> IntakeMapping:
        """The saved mapping, or the defaults (read each time: the CLI may change it)."""
        raw = self._store.get_value(MAPPING_KEY)
        if raw is None:
            return DEFAULT_MAPPING
        if self._last is not None and self._last[0] == raw:
            return self._last[1]
        issues: list[Issue] = []
        mapping = parse_mapping(json.loads(raw), issues=issues) or DEFAULT_MAPPING
        self._last = (raw, mapping)
        return mapping

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
        self._store.put_value(MAPPING_KEY, json.dumps(mapping_to_dict(mapping), sort_keys=True))

    def update(self, changes: object) -> IntakeMapping:
        """Apply and save ``changes`` (a partial dictionary form); raises :class:`InputRefused`."""
        mapping = self.check(changes)
        self.save(mapping)
        return mapping

    def reset(self) -> IntakeMapping:
        """Back to the defaults."""
        self.save(DEFAULT_MAPPING)
        return DEFAULT_MAPPING
