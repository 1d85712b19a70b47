"""Schema versions and their migrations (the runner: :mod:`.runner`).

The appliance's migrations are the SQL files beside this module, one directory per
dialect (``sqlite/0001_initial.sql``, ``postgres/0001_initial.sql``, ...); the relay's
own tables have theirs in ``tocsin/relay/migrations/``.
"""

from __future__ import annotations

from importlib.resources import files

from tocsin.store.migrations.runner import (
    Applied,
    Component,
    Migratable,
    Migration,
    MigrationTransaction,
    SchemaState,
    SchemaVersions,
    read_state,
    upgrade,
)

__all__ = [
    "APPLIANCE",
    "Applied",
    "Component",
    "Migratable",
    "Migration",
    "MigrationTransaction",
    "SchemaState",
    "SchemaVersions",
    "read_state",
    "upgrade",
]

APPLIANCE = Component(
    name="tocsin",
    title="The database",
    root=files(__name__),
    marker="outbox_email",
)
"""Settings, outbox, accounts, site and events: the tables every Tocsin database has."""
