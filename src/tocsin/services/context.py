"""Everything a face needs, opened from one data directory (and maybe one database URL)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from tocsin.keyfile import SecretBox
from tocsin.paths import data_dir
from tocsin.services.accounts import AccountsService
from tocsin.services.events import EventsService
from tocsin.services.outbox import OutboxService
from tocsin.services.settings import SettingsService
from tocsin.services.sites import SitesService
from tocsin.store import AnyStore, open_store

__all__ = ["ENV_DATABASE_URL", "Services"]

ENV_DATABASE_URL = "TOCSIN_DATABASE_URL"
"""A ``postgresql://`` URL here moves settings and outbox into PostgreSQL."""


@dataclass
class Services:
    """The opened store, the secret box and the services built on them."""

    data: Path
    store: AnyStore
    box: SecretBox
    settings: SettingsService
    accounts: AccountsService
    outbox: OutboxService
    # Built from the ones above (so code that constructs Services by hand gets them too).
    sites: SitesService = field(init=False)
    events: EventsService = field(init=False)

    def __post_init__(self) -> None:
        self.sites = SitesService(self.store)
        self.events = EventsService(
            self.store, sites=self.sites, settings=self.settings, outbox=self.outbox
        )

    @classmethod
    def open(cls, data: Path | str | None = None, *, database_url: str | None = None) -> Services:
        """Open (creating if needed) the data directory ``data`` (see :func:`data_dir`).

        The database is ``database_url``, else ``$TOCSIN_DATABASE_URL``, else the SQLite
        file ``tocsin.db`` in the data directory (the secret key stays there in every
        case).  Raises ``psycopg.OperationalError`` when PostgreSQL cannot be reached.
        """
        root = data_dir(data)
        root.mkdir(parents=True, exist_ok=True)
        url = database_url or os.environ.get(ENV_DATABASE_URL) or root / "tocsin.db"
        store = open_store(url)
        box = SecretBox(root / "secret.key")
        return cls(
            data=root,
            store=store,
            box=box,
            settings=SettingsService(store, box),
            accounts=AccountsService(store),
            outbox=OutboxService(store),
        )

    def close(self) -> None:
        """Close the store."""
        self.store.close()
