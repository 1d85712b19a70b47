"""Use cases around the email settings: read them, change them (validated once, here)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any

from tocsin.settings import EmailSettings, Encryption, TransportKind, apply_update
from tocsin.store.base import KeyValueStore
from tocsin.store.keyfile import SecretBox
from tocsin.validation import Issue, Level, Report

__all__ = ["SettingsService"]

_KEY = "email_settings"


class SettingsService:
    """Loads and saves :class:`EmailSettings`; the password is stored encrypted."""

    def __init__(self, store: KeyValueStore, box: SecretBox) -> None:
        self._store = store
        self._box = box
        self._last: tuple[str, EmailSettings] | None = None

    def load(self) -> EmailSettings:
        """The saved settings, or the defaults when nothing was saved yet.

        The stored row is read every time (another process, the CLI, may change it); the
        settings are rebuilt (JSON, the password decrypted) only when it changed.
        """
        raw = self._store.get_value(_KEY)
        if raw is None:
            return EmailSettings()
        last = self._last
        if last is not None and last[0] == raw:
            return last[1]
        settings = self._parse(raw)
        self._last = (raw, settings)
        return settings

    def _parse(self, raw: str) -> EmailSettings:
        data: dict[str, Any] = json.loads(raw)
        token = data.pop("password_encrypted", None)
        credential = data.pop("device_credential_encrypted", None)
        known = {f.name for f in dataclasses.fields(EmailSettings)}
        secrets = ("password", "device_credential")
        values = {k: v for k, v in data.items() if k in known and k not in secrets}
        values["encryption"] = Encryption(values.get("encryption", Encryption.STARTTLS))
        values["transport"] = TransportKind(values.get("transport", TransportKind.SMTP))
        password = self._box.decrypt(token) if token else None
        device_credential = self._box.decrypt(credential) if credential else None
        return EmailSettings(**values, password=password, device_credential=device_credential)

    def fingerprint(self) -> str:
        """A digest of the stored settings that changes with every save: one row read,
        nothing decrypted, so the delivery engine can compare it before every claim."""
        raw = self._store.get_value(_KEY) or ""
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()

    def save(self, settings: EmailSettings) -> None:
        """Store ``settings`` as they are (callers validate first: see :meth:`update`)."""
        data = settings.public()
        for name in ("password", "password_set", "device_credential", "device_credential_set"):
            data.pop(name)
        data["password_encrypted"] = (
            self._box.encrypt(settings.password) if settings.password else None
        )
        data["device_credential_encrypted"] = (
            self._box.encrypt(settings.device_credential) if settings.device_credential else None
        )
        self._store.put_value(_KEY, json.dumps(data, sort_keys=True))

    def update(self, changes: Mapping[str, object]) -> tuple[EmailSettings, Report, bool]:
        """Validate and apply ``changes``; save only when there is no error.

        Returns the settings as they would be, the report, and whether they were saved.
        """
        updated, report = apply_update(self.load(), changes)
        report = report + _check_files(updated)
        if not report.ok:
            return updated, report, False
        self.save(updated)
        return updated, report, True


def _check_files(settings: EmailSettings) -> Report:
    """Checks that need the file system (kept out of the pure validator)."""
    if not settings.ca_file:
        return Report()
    if not os.access(settings.ca_file, os.R_OK) or not os.path.isfile(settings.ca_file):
        detail = "no such file" if not os.path.exists(settings.ca_file) else "not a readable file"
        return Report(
            (
                Issue(
                    "ca_file",
                    "ca_file_missing",
                    Level.ERROR,
                    {"path": settings.ca_file, "detail": detail},
                ),
            )
        )
    return Report()
