"""A store as one object made of parts: a repository per concern over one connection.

Each backend (:class:`~tocsin.store.sqlite.SQLiteStore`,
:class:`~tocsin.store.postgres.PostgresStore`) owns the connection and its
transactions, and hands them as a :class:`~tocsin.store.runner.Database` to the
repositories it holds:

- ``outbox`` (:class:`~tocsin.store.outbox_sql.SQLOutbox`): emails and deliveries;
- ``tracking`` (:class:`~tocsin.store.tracking_sql.SQLTracking`): the online
  service's later word on deliveries;
- ``accounts`` (:class:`~tocsin.store.accounts_sql.SQLAccounts`): admins, sessions,
  API tokens;
- ``sites`` (:class:`~tocsin.store.sites_sql.SQLSites`): groups, users, events;
- ``test_emails`` (:class:`~tocsin.store.test_emails_sql.SQLTestEmails`): the test
  email runs the delivery log lists;
- ``versions`` (:class:`~tocsin.store.migrations.SchemaVersions`): the schema.

:class:`SQLStore` is the facade the rest of Tocsin sees: each of its methods says
which repository answers it (``claim = _via(_outbox, SQLOutbox.claim)``), so the
store still offers :class:`~tocsin.store.base.Store` and the accounts and site
methods as one object.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ClassVar, Concatenate, ParamSpec, TypeVar

from tocsin.store.accounts_sql import SQLAccounts
from tocsin.store.migrations import Component, SchemaVersions
from tocsin.store.outbox_sql import SQLOutbox
from tocsin.store.runner import Database
from tocsin.store.sites_sql import SQLSites
from tocsin.store.test_emails_sql import SQLTestEmails
from tocsin.store.tracking_sql import SQLTracking

__all__ = ["SQLStore", "via"]

P = ParamSpec("P")
T = TypeVar("T")
R = TypeVar("R")


def via(
    part: Callable[[Any], R], method: Callable[Concatenate[R, P], T]
) -> Callable[Concatenate[Any, P], T]:
    """A facade method that calls ``method`` on the part ``part(facade)`` (same signature)."""

    def call(facade: Any, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return method(part(facade), *args, **kwargs)

    functools.update_wrapper(call, method)  # name, docstring, and __wrapped__ for help()
    return call


def _outbox(store: SQLStore) -> SQLOutbox:
    return store.outbox


def _tracking(store: SQLStore) -> SQLTracking:
    return store.tracking


def _accounts(store: SQLStore) -> SQLAccounts:
    return store.accounts


def _sites(store: SQLStore) -> SQLSites:
    return store.sites


def _test_emails(store: SQLStore) -> SQLTestEmails:
    return store.test_emails


def _versions(store: SQLStore) -> SchemaVersions:
    return store.versions


class SQLStore:
    """The parts of a store and the one face they show (see the module's docstring)."""

    dialect: ClassVar[str]
    components: ClassVar[tuple[Component, ...]]

    def __init__(
        self,
        db: Database,
        versions: SchemaVersions,
        *,
        claim_lock: str = "",
        claim_index: str = "",
        claim_looks_first: bool = False,
    ) -> None:
        self._db = db
        self.outbox = SQLOutbox(
            db, claim_lock=claim_lock, claim_index=claim_index, looks_first=claim_looks_first
        )
        self.tracking = SQLTracking(db, claim_lock=claim_lock)
        self.accounts = SQLAccounts(db)
        self.sites = SQLSites(db)
        self.test_emails = SQLTestEmails(db)
        self.versions = versions

    # ------------------------------------------------------------ the schema
    upgrade_schema = via(_versions, SchemaVersions.upgrade_schema)
    schema_states = via(_versions, SchemaVersions.schema_states)

    # ------------------------------------------------------------ the outbox
    transaction = via(_outbox, SQLOutbox.transaction)
    claim = via(_outbox, SQLOutbox.claim)
    renew = via(_outbox, SQLOutbox.renew)
    lease_owners = via(_outbox, SQLOutbox.lease_owners)
    expire_leases = via(_outbox, SQLOutbox.expire_leases)
    give_back = via(_outbox, SQLOutbox.give_back)
    record = via(_outbox, SQLOutbox.record)
    next_due = via(_outbox, SQLOutbox.next_due)
    counts = via(_outbox, SQLOutbox.counts)
    oldest_queued_at = via(_outbox, SQLOutbox.oldest_queued_at)
    list_deliveries = via(_outbox, SQLOutbox.list_deliveries)
    get_email = via(_outbox, SQLOutbox.get_email)
    retry = via(_outbox, SQLOutbox.retry)
    purge = via(_outbox, SQLOutbox.purge)

    # ------------------------------------------------------------ tracking
    tracking_due = via(_tracking, SQLTracking.tracking_due)
    next_tracking_due = via(_tracking, SQLTracking.next_tracking_due)
    record_tracking = via(_tracking, SQLTracking.record_tracking)
    tracking_counts = via(_tracking, SQLTracking.tracking_counts)

    # ------------------------------------------------------------ accounts
    admin_count = via(_accounts, SQLAccounts.admin_count)
    add_admin = via(_accounts, SQLAccounts.add_admin)
    admin_credentials = via(_accounts, SQLAccounts.admin_credentials)
    set_admin_password = via(_accounts, SQLAccounts.set_admin_password)
    set_admin_language = via(_accounts, SQLAccounts.set_admin_language)
    add_session = via(_accounts, SQLAccounts.add_session)
    get_session = via(_accounts, SQLAccounts.get_session)
    delete_session = via(_accounts, SQLAccounts.delete_session)
    add_token = via(_accounts, SQLAccounts.add_token)
    use_token = via(_accounts, SQLAccounts.use_token)
    list_tokens = via(_accounts, SQLAccounts.list_tokens)
    revoke_token = via(_accounts, SQLAccounts.revoke_token)

    # ------------------------------------------------------------ the site
    site_reading = via(_sites, SQLSites.site_reading)
    site_writing = via(_sites, SQLSites.site_writing)

    # ------------------------------------------------------------ test emails
    record_test_email = via(_test_emails, SQLTestEmails.record_test_email)
    list_test_emails = via(_test_emails, SQLTestEmails.list_test_emails)
