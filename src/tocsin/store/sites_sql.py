# Only constants and "?, ?, ?" placeholder lists are put into SQL text here; every value
# is a bound parameter.  Hence:
# ruff: noqa: S608
"""The site in SQL, shared by both backends: alarm groups and users; the schema of events.

A store holds a :class:`SQLSites` over its :class:`~tocsin.store.runner.Database`
(write and read transactions, each yielding a runner).  The group and user
queries live in :class:`SiteSQL`, the event queries in
:class:`tocsin.store.events_sql.EventSQL`; both work on any runner, so the event
intake reads the site and writes events, notifications and counters in the same
transaction that enqueues the emails.

Tables (made by the migrations in :mod:`tocsin.store.migrations`):

- ``alarm_group``, ``site_user``: the site; ``site_version`` counts changes to them,
  so a process can keep the tree and the users in memory and reload them only when
  another process (the CLI, a second node) changed something.
- ``event``: every accepted event; ``client_event_id`` is unique (idempotent retries),
  ``is_open`` marks a raise not cleared yet.
- ``notification``: per event and user, what became of the email: ``sent`` (queued in
  the outbox), ``held`` (by the hourly cap, or because no sender is set up: waits for
  a summary), ``summarized``, ``failed`` (could not be rendered) or ``dropped``.
- ``hourly_count``: notifications per (group, category, hour), for the cap.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Final

from tocsin.i18n import Language
from tocsin.model import AlarmGroup, Category, CategoryPolicy, GroupSettings, User
from tocsin.quiet import windows_from_data, windows_to_data
from tocsin.store.lists import marks
from tocsin.store.runner import Database, Row, Runner

__all__ = ["SQLSites", "SiteSQL"]


_GROUP_COLUMNS: Final = "id, name, parent_id, policies, ack_warnings"
_USER_COLUMNS: Final = (
    "id, name, email, language, time_zone, enabled, group_ids, categories, quiet_hours"
)


def _policies_json(settings: GroupSettings) -> str:
    """A group's own policies as stored: ``{category: {email_warnings, max_per_hour}}``."""
    own = {}
    for category in Category:
        policy = settings.own(category)
        if policy is not None:
            own[category.value] = {
                "email_warnings": policy.email_warnings,
                "max_per_hour": policy.max_per_hour,
            }
    return json.dumps(own, sort_keys=True)


def _settings(text: str) -> GroupSettings:
    settings = GroupSettings()
    for name, values in json.loads(text).items():
        policy = CategoryPolicy(
            email_warnings=bool(values["email_warnings"]), max_per_hour=values["max_per_hour"]
        )
        settings = settings.with_policy(Category(name), policy)
    return settings


def _group(row: Row) -> AlarmGroup:
    return AlarmGroup(
        id=str(row[0]),
        name=str(row[1]),
        parent_id=None if row[2] is None else str(row[2]),
        settings=_settings(str(row[3])),
        ack_warnings=None if row[4] is None else bool(row[4]),
    )


def _user(row: Row) -> User:
    return User(
        id=str(row[0]),
        name=str(row[1]),
        email=str(row[2]),
        language=Language(row[3]),
        time_zone=str(row[4]),
        enabled=bool(row[5]),
        group_ids=frozenset(str(row[6]).split()),
        email_categories=frozenset(Category(c) for c in str(row[7]).split()),
        quiet_hours=windows_from_data(json.loads(str(row[8] or "[]"))),
    )


class SiteSQL:
    """Every site query, on one runner (inside whatever transaction it belongs to)."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    # ------------------------------------------------------------ the site
    def version(self) -> int:
        """How many times the groups or users changed (for in-memory caches)."""
        return int(self.runner.rows("SELECT version FROM site_version WHERE id = 1")[0][0])

    def version_and_values(self, keys: Sequence[str]) -> tuple[int, dict[str, str]]:
        """The site's version and the stored texts (``kv``) of those of ``keys`` that have
        one, in one statement: what the intake reads before each request (issue 11)."""
        listed = marks(len(keys)) or "NULL"
        rows = self.runner.rows(
            "SELECT NULL, CAST(version AS TEXT) FROM site_version WHERE id = 1 UNION ALL "
            f"SELECT key, value FROM kv WHERE key IN ({listed})",
            tuple(keys),
        )
        version = next(int(str(v)) for k, v in rows if k is None)
        return version, {str(k): str(v) for k, v in rows if k is not None}

    def bump(self) -> None:
        """Count a change of the groups or users (call in the changing transaction)."""
        self.runner.run("UPDATE site_version SET version = version + 1 WHERE id = 1")

    def groups(self) -> list[AlarmGroup]:
        """Every group, in the order they were created."""
        rows = self.runner.rows(f"SELECT {_GROUP_COLUMNS} FROM alarm_group ORDER BY position, id")
        return [_group(r) for r in rows]

    def users(self) -> list[User]:
        """Every user, in the order they were created."""
        rows = self.runner.rows(f"SELECT {_USER_COLUMNS} FROM site_user ORDER BY position, id")
        return [_user(r) for r in rows]

    def put_group(self, group: AlarmGroup, *, now: float) -> None:
        """Insert or replace ``group`` (keeping its place in the order) and count the change."""
        self.runner.run(
            f"INSERT INTO alarm_group ({_GROUP_COLUMNS}, position, updated_at) VALUES "
            "(?, ?, ?, ?, ?, (SELECT COALESCE(MAX(position), 0) + 1 FROM alarm_group), ?) "
            "ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
            "parent_id = excluded.parent_id, policies = excluded.policies, "
            "ack_warnings = excluded.ack_warnings, updated_at = excluded.updated_at",
            (
                group.id,
                group.name,
                group.parent_id,
                _policies_json(group.settings),
                None if group.ack_warnings is None else int(group.ack_warnings),
                now,
            ),
        )
        self.bump()

    def put_user(self, user: User, *, now: float) -> None:
        """Insert or replace ``user`` (keeping its place in the order) and count the change."""
        self.runner.run(
            f"INSERT INTO site_user ({_USER_COLUMNS}, position, updated_at) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "(SELECT COALESCE(MAX(position), 0) + 1 FROM site_user), ?) "
            "ON CONFLICT (id) DO UPDATE SET name = excluded.name, email = excluded.email, "
            "language = excluded.language, time_zone = excluded.time_zone, "
            "enabled = excluded.enabled, group_ids = excluded.group_ids, "
            "categories = excluded.categories, quiet_hours = excluded.quiet_hours, "
            "updated_at = excluded.updated_at",
            (
                user.id,
                user.name,
                user.email,
                Language(user.language).value,
                user.time_zone,
                int(user.enabled),
                " ".join(sorted(user.group_ids)),
                " ".join(c.value for c in Category if c in user.email_categories),
                json.dumps(windows_to_data(user.quiet_hours)),
                now,
            ),
        )
        self.bump()

    def delete_group(self, group_id: str) -> bool:
        """Delete a group; False if there was none."""
        done = self.runner.run("DELETE FROM alarm_group WHERE id = ?", (group_id,)) > 0
        if done:
            self.bump()
        return done

    def delete_user(self, user_id: str) -> bool:
        """Delete a user and what they still had held back; False if there was none."""
        done = self.runner.run("DELETE FROM site_user WHERE id = ?", (user_id,)) > 0
        if done:
            self.runner.run(
                "UPDATE notification SET status = 'dropped', reason = 'user_deleted' "
                "WHERE user_id = ? AND status = 'held'",
                (user_id,),
            )
            self.bump()
        return done

    def clear_site(self) -> None:
        """Delete every group and user (an import that replaces the site)."""
        self.runner.run("DELETE FROM site_user")
        self.runner.run("DELETE FROM alarm_group")
        self.bump()


class SQLSites:
    """The site repository over a backend's database; the queries are in :class:`SiteSQL`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @contextmanager
    def site_reading(self) -> Iterator[SiteSQL]:
        """Site queries outside a write transaction."""
        with self._db.reading() as runner:
            yield SiteSQL(runner)

    @contextmanager
    def site_writing(self) -> Iterator[SiteSQL]:
        """Site queries in a write transaction, committed at the end of the block."""
        with self._db.writing() as runner:
            yield SiteSQL(runner)
