"""A store is a facade over parts (one repository per concern), not a stack of mixins."""

from __future__ import annotations

import inspect
import uuid
from pathlib import Path

import pytest
from store_support import PG_URL

from tocsin.relay.relay_sql import SQLRelay
from tocsin.relay.store import PostgresRelayStore, SQLiteRelayStore
from tocsin.store import PostgresStore, SQLiteStore
from tocsin.store.accounts_sql import SQLAccounts
from tocsin.store.facade import SQLStore
from tocsin.store.migrations import SchemaVersions
from tocsin.store.outbox_sql import SQLOutbox
from tocsin.store.sites_sql import SQLSites
from tocsin.store.tracking_sql import SQLTracking

PARTS = {
    "outbox": SQLOutbox,
    "tracking": SQLTracking,
    "accounts": SQLAccounts,
    "sites": SQLSites,
    "versions": SchemaVersions,
}
STORES = [SQLiteStore, PostgresStore, SQLiteRelayStore, PostgresRelayStore]


def _public(cls: type) -> set[str]:
    return {n for n, v in vars(cls).items() if callable(v) and not n.startswith("_")}


@pytest.mark.parametrize("store", STORES, ids=lambda c: c.__name__)
def test_every_method_of_every_part_is_offered_by_the_store(store: type) -> None:
    parts = {**PARTS, "relay": SQLRelay} if "Relay" in store.__name__ else PARTS
    for part in parts.values():
        for name in _public(part):
            method = getattr(store, name, None)
            assert method is not None, f"{store.__name__} lacks {part.__name__}.{name}"
            if store.__name__.endswith("RelayStore") and name == "transaction":
                continue  # the relay's own: every write is a relay transaction
            assert method.__wrapped__ is getattr(part, name)
            assert method.__doc__ == getattr(part, name).__doc__


@pytest.mark.parametrize("store", STORES, ids=lambda c: c.__name__)
def test_a_store_inherits_from_one_chain_not_from_mixins(store: type) -> None:
    assert all(len(cls.__bases__) == 1 for cls in store.__mro__ if cls is not object)
    assert SQLStore in store.__mro__
    assert not {SQLOutbox, SQLTracking, SQLAccounts, SQLSites, SQLRelay} & set(store.__mro__)


def test_the_parts_declare_no_stub_for_a_subclass_to_fill() -> None:
    for part in [*PARTS.values(), SQLRelay]:
        assert "NotImplementedError" not in inspect.getsource(part), part.__name__


def test_the_facade_and_its_parts_are_the_same_store(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "tocsin.db")
    try:
        assert store.admin_count() == 0
        admin = store.add_admin("ops", "hash", "de", 1.0)
        assert store.accounts.admin_count() == 1
        assert store.admin_credentials("ops") == store.accounts.admin_credentials("ops")
        assert admin.username == "ops"
        assert store.schema_states() == store.versions.schema_states()
        assert store.counts() == store.outbox.counts()
    finally:
        store.close()


def test_the_postgres_parts_take_their_row_locks() -> None:
    schema = f"t_parts_{uuid.uuid4().hex[:10]}"
    store = PostgresRelayStore(PG_URL, schema=schema)
    try:
        assert store.outbox.claim_lock == store.tracking.claim_lock == " FOR UPDATE SKIP LOCKED"
        assert store.relay.row_lock == " FOR NO KEY UPDATE"
        assert store.relay.in_flight is store.in_flight
        assert [c.name for c in store.versions.components] == ["tocsin", "relay"]
    finally:
        store.drop_schema()
        store.close()
