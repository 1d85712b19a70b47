"""Use cases around the email settings: read them, change them (validated once, here)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from typing import Any

from tocsin.secret import Secret
from tocsin.settings import (
    SECRET_FIELDS,
    AuthMethod,
    EmailSettings,
    Encryption,
    OAuthFlow,
    OAuthProvider,
    TransportKind,
    apply_update,
)
from tocsin.store.base import KeyValueStore
from tocsin.store.keyfile import SecretBox
from tocsin.validation import Issue, Level, Report

__all__ = [
    "SETTINGS_KEY",
    "SettingsService",
    "check_files",
    "decode_settings",
    "digest_of",
    "encode_settings",
]

SETTINGS_KEY = "email_settings"
"""Where the email settings are kept in the key-value table."""
_KEY = SETTINGS_KEY


def digest_of(raw: str) -> str:
    """The fingerprint of one stored key-value text: changes with every save."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


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
        return self.from_stored(self._store.get_value(_KEY))

    def from_stored(self, raw: str | None) -> EmailSettings:
        """The settings of the stored text ``raw`` (the row under :data:`SETTINGS_KEY`,
        read by the caller, maybe together with others); None gives the defaults."""
        if raw is None:
            return EmailSettings()
        last = self._last
        if last is not None and last[0] == raw:
            return last[1]
        settings = self._parse(raw)
        self._last = (raw, settings)
        return settings

    def _parse(self, raw: str) -> EmailSettings:
        return decode_settings(json.loads(raw), self._box)

    def fingerprint(self) -> str:
        """A digest of the stored settings that changes with every save: one row read,
        nothing decrypted, so the delivery engine can compare it before every claim."""
        return digest_of(self._store.get_value(_KEY) or "")

    def save(self, settings: EmailSettings) -> None:
        """Store ``settings`` as they are (callers validate first: see :meth:`update`)."""
        self._store.put_value(
            _KEY, json.dumps(encode_settings(settings, self._box), sort_keys=True)
        )

    def keep_refresh_token(self, rotated: Secret, *, replaces: Secret | None) -> bool:
        """Store a refresh token the provider rotated, if the stored one is still the one
        it ``replaces`` (a new sign-in meanwhile wins).  The ``on_refresh_token`` of a
        token manager; True if stored."""
        settings = self.load()
        if settings.oauth_refresh_token != replaces:
            return False
        self.save(dataclasses.replace(settings, oauth_refresh_token=rotated))
        return True

    def refresh_token_keeper(self, settings: EmailSettings) -> Callable[[Secret], None]:
        """The ``on_refresh_token`` for a transport built from ``settings``: stores each
        refresh token the provider rotates, encrypted, as long as no new sign-in replaced
        the one it rotated (see :meth:`keep_refresh_token`)."""
        last = settings.oauth_refresh_token

        def keep(rotated: Secret) -> None:
            nonlocal last
            if self.keep_refresh_token(rotated, replaces=last):
                last = rotated

        return keep

    def update(self, changes: Mapping[str, object]) -> tuple[EmailSettings, Report, bool]:
        """Validate and apply ``changes``; save only when there is no error.

        Returns the settings as they would be, the report, and whether they were saved.
        """
        updated, report = apply_update(self.load(), changes)
        report = report + check_files(updated)
        if not report.ok:
            return updated, report, False
        self.save(updated)
        return updated, report, True


def decode_settings(data: dict[str, Any], box: SecretBox) -> EmailSettings:
    """Settings from their stored JSON object; each secret is stored as
    ``<name>_encrypted`` (Fernet, key in secret.key) and decrypted here."""
    tokens = {name: data.pop(f"{name}_encrypted", None) for name in SECRET_FIELDS}
    known = {f.name for f in dataclasses.fields(EmailSettings)}
    values: dict[str, Any] = {
        k: v for k, v in data.items() if k in known and k not in SECRET_FIELDS
    }
    values["encryption"] = Encryption(values.get("encryption", Encryption.STARTTLS))
    values["transport"] = TransportKind(values.get("transport", TransportKind.SMTP))
    values["auth_method"] = AuthMethod(values.get("auth_method", AuthMethod.PASSWORD))
    values["oauth_provider"] = OAuthProvider(values.get("oauth_provider", OAuthProvider.MICROSOFT))
    values["oauth_flow"] = OAuthFlow(values.get("oauth_flow", OAuthFlow.APP_ONLY))
    for name, token in tokens.items():
        values[name] = box.decrypt(token) if token else None
    return EmailSettings(**values)


def encode_settings(settings: EmailSettings, box: SecretBox) -> dict[str, Any]:
    """The JSON object settings are stored as: every secret encrypted, none in clear."""
    data = settings.public()
    for name in SECRET_FIELDS:
        data.pop(name)
        data.pop(f"{name}_set")
        secret: Secret | None = getattr(settings, name)
        data[f"{name}_encrypted"] = box.encrypt(secret) if secret else None
    return data


def check_files(settings: EmailSettings) -> Report:
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
