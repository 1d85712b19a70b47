"""The migration runner: numbered plain-SQL files per dialect, applied forward, one by one.

Why a runner of our own and not a migration tool
-------------------------------------------------
alembic needs SQLAlchemy, which Tocsin does not use.  yoyo-migrations (9.0, the well-kept
plain-SQL tool) was evaluated and does not fit:

- it keeps concurrent runs apart with a row in its own ``yoyo_lock`` table, polled for
  10 s; a process killed while migrating leaves the row behind, and every later start
  fails until someone runs ``yoyo break-lock``.  Tocsin migrates when an unattended
  service starts, so the lock must die with its holder: PostgreSQL's transaction-level
  advisory lock and SQLite's ``BEGIN IMMEDIATE`` do;
- it opens its own connection from a URL (for SQLite with a shared cache and sqlite3
  adapters it installs process-wide; for PostgreSQL through psycopg2 unless told
  otherwise) and so skips the store's own settings (WAL, ``synchronous=FULL``, the
  schema a store is confined to);
- it names migrations by id and hash and has no notion of "this database is newer than
  this code", the refusal we need most; and it brings three dependencies and no types.

What is left is small: read ``NNNN_name.sql`` files, remember the version, apply what
is missing in order, each migration in its own transaction under a lock.

Layout and rules
----------------
A :class:`Component` is a set of tables with a version of its own: the appliance's
(``tocsin/store/migrations/<dialect>/``) and the relay's own tables
(``tocsin/relay/migrations/<dialect>/``; a relay database holds both).  Each dialect
directory has the same numbers, 1..N without a gap; a migration is written once per
dialect because the DDL differs (identity columns, BLOB / BYTEA, REAL / DOUBLE
PRECISION).  Migrations go forward only, and an old release keeps working on a newer
schema only if the newer migration allowed for it (add columns with defaults, add
indexes; never rename or drop what a release in the field still reads).

``schema_migration`` records one row per applied migration and component; the highest
version is the database's.  Version 1 is exactly what every release made before versions
were recorded (``CREATE ... IF NOT EXISTS``): a database of such a release has tables but
no row; applying 0001 to it adds nothing, and it is recorded as a baseline.

Each migration runs in one transaction together with its row (both databases have
transactional DDL), inside :meth:`Migratable.migration_transaction`, which holds the
migration lock: ``BEGIN IMMEDIATE`` on SQLite, ``pg_advisory_xact_lock`` on PostgreSQL.
The version is read again under the lock, so processes that start at once apply each
migration once: the others wait, then find it done.  A database whose version is above
the newest this code knows raises :class:`~tocsin.errors.SchemaTooNew` before anything
is changed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources.abc import Traversable
from typing import Any, Protocol

from tocsin.errors import SchemaError, SchemaTooNew

__all__ = [
    "VERSION_TABLE",
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

VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_migration (
    component TEXT NOT NULL,
    version INTEGER NOT NULL,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    applied_by TEXT NOT NULL,
    PRIMARY KEY (component, version)
)"""
"""The bookkeeping table (the same DDL on both dialects; made by the runner itself)."""

_FILE = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")
_BASELINE = "baseline: tables of version 1 found"


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered migration of one component in one dialect."""

    version: int
    name: str
    sql: str


@dataclass(frozen=True, slots=True)
class Component:
    """A set of tables with a version of its own, and where its migrations are.

    ``root`` holds one directory per dialect (``sqlite``, ``postgres``); ``marker`` is a
    table of version 1, whose presence without a recorded version marks a database made
    before versions were recorded.  ``title`` starts the messages about it.
    """

    name: str
    title: str
    root: Traversable
    marker: str

    def migrations(self, dialect: str) -> list[Migration]:
        """The migrations for ``dialect`` in order; SchemaError unless numbered 1..N."""
        found: list[Migration] = []
        for entry in self.root.joinpath(dialect).iterdir():
            match = _FILE.fullmatch(entry.name)
            if match:
                found.append(Migration(int(match[1]), match[2], entry.read_text("utf-8")))
        found.sort(key=lambda m: m.version)
        if [m.version for m in found] != list(range(1, len(found) + 1)):
            numbers = [m.version for m in found]
            raise SchemaError(
                f"the {self.name} migrations for {dialect} are numbered {numbers}, "
                "not 1..N without gaps (a broken installation)"
            )
        return found


@dataclass(frozen=True, slots=True)
class Applied:
    """A migration this run applied (``baseline``: recorded over existing tables)."""

    component: Component
    migration: Migration
    baseline: bool
    seconds: float


@dataclass(frozen=True, slots=True)
class SchemaState:
    """Where a database stands for one component (``current`` 0: no tables yet)."""

    component: Component
    current: int
    known: int
    pending: tuple[Migration, ...]
    history: tuple[tuple[int, str, str, str], ...]
    """(version, name, applied_at, applied_by) of each recorded migration."""
    baseline: bool
    """True: tables of version 1 without a recorded version (made before versions were)."""

    @property
    def too_new(self) -> bool:
        """True when a newer Tocsin wrote this database."""
        return self.current > self.known


class MigrationTransaction(Protocol):
    """One transaction on the database being migrated, holding the migration lock."""

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Execute one statement (``?`` placeholders) and fetch every row."""
        ...

    def run(self, sql: str, params: Sequence[object] = ()) -> int:
        """Execute one statement; the number of rows changed."""
        ...

    def script(self, sql: str) -> None:
        """Execute a migration file: several statements, no parameters."""
        ...

    def table_exists(self, name: str) -> bool:
        """True when a table of that name is visible."""
        ...


class Migratable(Protocol):
    """A database the runner can migrate (both stores are)."""

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgres``: the directory of migrations that applies."""
        ...

    def migration_transaction(self) -> AbstractContextManager[MigrationTransaction]:
        """A write transaction holding the migration lock, committed at the end."""
        ...


def _state(tx: MigrationTransaction, component: Component, dialect: str) -> SchemaState:
    migrations = component.migrations(dialect)
    history: tuple[tuple[int, str, str, str], ...] = ()
    if tx.table_exists("schema_migration"):
        history = tuple(
            (int(r[0]), str(r[1]), str(r[2]), str(r[3]))
            for r in tx.rows(
                "SELECT version, name, applied_at, applied_by FROM schema_migration "
                "WHERE component = ? ORDER BY version",
                (component.name,),
            )
        )
    current = max((h[0] for h in history), default=0)
    baseline = current == 0 and tx.table_exists(component.marker)
    return SchemaState(
        component=component,
        current=current,
        known=len(migrations),
        pending=tuple(m for m in migrations if m.version > current),
        history=history,
        baseline=baseline,
    )


def read_state(db: Migratable, component: Component) -> SchemaState:
    """Where ``db`` stands for ``component``; changes nothing."""
    with db.migration_transaction() as tx:
        return _state(tx, component, db.dialect)


def _applied_by(baseline: bool) -> str:
    from tocsin import __version__  # late: the package's __init__ imports far and wide

    return f"tocsin {__version__}" + (f" ({_BASELINE})" if baseline else "")


def _step(db: Migratable, component: Component) -> Applied | None:
    """Apply the next pending migration in a transaction of its own; None when none is."""
    with db.migration_transaction() as tx:
        if not tx.table_exists("schema_migration"):  # no DDL on an up-to-date database
            tx.run(VERSION_TABLE)
        state = _state(tx, component, db.dialect)
        if state.too_new:
            raise SchemaTooNew(component.title, found=state.current, known=state.known)
        if not state.pending:
            return None
        migration = state.pending[0]
        started = time.monotonic()
        tx.script(migration.sql)
        tx.run(
            "INSERT INTO schema_migration (component, version, name, applied_at, applied_by) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                component.name,
                migration.version,
                migration.name,
                datetime.now(UTC).isoformat(timespec="seconds"),
                _applied_by(state.baseline),
            ),
        )
    return Applied(component, migration, state.baseline, time.monotonic() - started)


def upgrade(
    db: Migratable, component: Component, *, on_applied: Callable[[Applied], None] | None = None
) -> list[Applied]:
    """Apply every pending migration of ``component``, in order, each in its own transaction.

    ``on_applied`` hears of each as it commits.  Raises
    :class:`~tocsin.errors.SchemaTooNew` (nothing changed) when a newer Tocsin wrote the
    database, :class:`~tocsin.errors.SchemaError` when the installed migrations are broken,
    and the driver's error when a statement fails (that migration is rolled back).
    """
    done: list[Applied] = []
    while (applied := _step(db, component)) is not None:
        done.append(applied)
        if on_applied is not None:
            on_applied(applied)
    return done


class SchemaVersions:
    """A store's part that reads and upgrades its components' versions on ``db``."""

    def __init__(self, db: Migratable, components: tuple[Component, ...]) -> None:
        self._db = db
        self.components = components

    def upgrade_schema(self, on_applied: Callable[[Applied], None] | None = None) -> list[Applied]:
        """Bring every component of this database to the newest version this code knows."""
        return [a for c in self.components for a in upgrade(self._db, c, on_applied=on_applied)]

    def schema_states(self) -> list[SchemaState]:
        """Where this database stands, per component; changes nothing."""
        return [read_state(self._db, c) for c in self.components]
