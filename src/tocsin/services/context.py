"""Everything a face needs, opened from one data directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tocsin.keyfile import SecretBox
from tocsin.paths import data_dir
from tocsin.services.settings import SettingsService
from tocsin.store.sqlite import SQLiteStore

__all__ = ["Services"]


@dataclass
class Services:
    """The opened store, the secret box and the services built on them."""

    data: Path
    store: SQLiteStore
    box: SecretBox
    settings: SettingsService

    @classmethod
    def open(cls, data: Path | str | None = None) -> Services:
        """Open (creating if needed) the data directory ``data`` (see :func:`data_dir`)."""
        root = data_dir(data)
        root.mkdir(parents=True, exist_ok=True)
        store = SQLiteStore(root / "tocsin.db")
        box = SecretBox(root / "secret.key")
        return cls(data=root, store=store, box=box, settings=SettingsService(store, box))

    def close(self) -> None:
        """Close the store."""
        self.store.close()
