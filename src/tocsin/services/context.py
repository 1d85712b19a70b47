"""Everything a face needs, opened from one data directory (and maybe one database URL)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from tocsin.ack.token import AckSigner
from tocsin.services.accounts import AccountsService, token_throttle_from_env
from tocsin.services.acknowledge import AckService
from tocsin.services.disk import DiskGuard, DiskLimits, probe_writer
from tocsin.services.escalation import EscalationService
from tocsin.services.events import EventsService
from tocsin.services.failover import FailoverService
from tocsin.services.outbox import OutboxService
from tocsin.services.public_url import PublicUrlService
from tocsin.services.settings import SettingsService
from tocsin.services.sites import SitesService
from tocsin.store import ACK_KEY_FILE, AnyStore, SQLiteStore, load_ack_key, open_store
from tocsin.store.keyfile import SecretBox
from tocsin.store.paths import data_dir
from tocsin.store.space import reclaim_wal

if TYPE_CHECKING:
    from tocsin.services.webhooks import WebhookService

__all__ = ["DATABASE_FILE", "ENV_DATABASE_URL", "KEY_FILE", "Services", "database_location"]

ENV_DATABASE_URL = "TOCSIN_DATABASE_URL"
"""A ``postgresql://`` URL here moves settings and outbox into PostgreSQL."""
DATABASE_FILE = "tocsin.db"
"""The SQLite database's name in the data directory."""
KEY_FILE = "secret.key"
"""The key that encrypts stored secrets, in the data directory (never in the database)."""


def database_location(root: Path, database_url: str | None = None) -> str | Path:
    """The database of data directory ``root``: ``database_url``, else
    ``$TOCSIN_DATABASE_URL``, else the SQLite file in ``root``."""
    return database_url or os.environ.get(ENV_DATABASE_URL) or root / DATABASE_FILE


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
    disk: DiskGuard = field(init=False)
    webhooks: WebhookService = field(init=False)
    failover: FailoverService = field(init=False)
    public_url: PublicUrlService = field(init=False)
    acks: AckService = field(init=False)
    escalation: EscalationService = field(init=False)

    def __post_init__(self) -> None:
        # Imported here: the webhook adapters (tocsin.intake) import this package.
        from tocsin.services.intake_mapping import IntakeMappingService
        from tocsin.services.webhooks import WebhookService

        mapping = IntakeMappingService(self.store)
        self.sites = SitesService(self.store.sites, mapping=mapping)
        self.failover = FailoverService(self.store, self.box, self.settings)
        self.public_url = PublicUrlService(self.store)
        # The acknowledgement links' key sits beside the secret key (never in the database).
        signer = AckSigner(load_ack_key(self.data / ACK_KEY_FILE))
        # The room that decides is the database file's directory (with SQLite; with
        # PostgreSQL the server's disk decides, and the data directory is watched only).
        store = self.store
        sqlite = store if isinstance(store, SQLiteStore) else None
        self.disk = DiskGuard(
            sqlite.path.parent if sqlite else self.data,
            limits=DiskLimits.from_env(),
            floor=sqlite is not None,
            probe=probe_writer(self),
            reclaim=partial(reclaim_wal, sqlite) if sqlite else None,
        )
        self.events = EventsService(
            self.store,
            sites=self.sites,
            settings=self.settings,
            outbox=self.outbox,
            admission=self.disk.intake,
            ack_signer=signer,
        )
        self.acks = AckService(
            self.store,
            sites=self.sites,
            events=self.events,
            outbox=self.outbox,
            signer=signer,
        )
        self.escalation = EscalationService(
            self.store, sites=self.sites, events=self.events, outbox=self.outbox
        )
        self.webhooks = WebhookService(
            self.store, events=self.events, sites=self.sites, mapping=mapping
        )

    @classmethod
    def open(cls, data: Path | str | None = None, *, database_url: str | None = None) -> Services:
        """Open (creating if needed) the data directory ``data`` (see :func:`data_dir`).

        The database is ``database_url``, else ``$TOCSIN_DATABASE_URL``, else the SQLite
        file ``tocsin.db`` in the data directory (the secret key stays there in every
        case).  The schema is brought up to date first.  Raises
        ``psycopg.OperationalError`` when PostgreSQL cannot be reached,
        :class:`~tocsin.errors.SchemaTooNew` when a newer Tocsin wrote the database,
        ``ValueError`` for a bad ``$TOCSIN_TOKEN_FAILURE_LIMIT``,
        :class:`~tocsin.errors.ConfigError` for a malformed ``$TOCSIN_DISK_*_MB``.
        """
        token_throttle = token_throttle_from_env()  # a bad limit fails before opening
        root = data_dir(data)
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        store = open_store(database_location(root, database_url))
        try:
            box = SecretBox(root / KEY_FILE)
        except BaseException:
            store.close()
            raise
        return cls(
            data=root,
            store=store,
            box=box,
            settings=SettingsService(store, box),
            accounts=AccountsService(store.accounts, token_throttle=token_throttle),
            outbox=OutboxService(store),
        )

    def close(self) -> None:
        """Close the store."""
        self.store.close()
