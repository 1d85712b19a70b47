"""Make ``v1.json``: a database written by Tocsin at schema version 1, as rows.

Run with the code of the last commit before schema migrations (``1c98767``), e.g.::

    git worktree add /tmp/tocsin-v1 1c98767
    cd /tmp/tocsin-v1 && python /path/to/make_fixture.py /path/to/v1.json

It fills every table of the appliance's database and the relay's through the use cases
of that version (site import, admin, login, token, events raised and cleared, emails
queued, held by the hourly cap, one sent through the online service and tracked), then
writes each table's rows (blobs as base64) and the DDL that version ran, per dialect.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any

from tocsin.message import compose
from tocsin.outbox import DeliveryUpdate, NewEmail, Priority, Status
from tocsin.relay.policy import DevicePolicy
from tocsin.relay.relay_sql import relay_schema
from tocsin.relay.store import SQLiteRelayStore
from tocsin.services.context import Services
from tocsin.store import postgres, sqlite

SITE = {
    "groups": [
        {"id": "site", "name": "Site"},
        {
            "id": "building-a",
            "name": "Building A",
            "parent": "site",
            "policies": {"always": {"email_warnings": True, "max_per_hour": 1}},
        },
        {"id": "server-room", "name": "Server room", "parent": "building-a"},
    ],
    "users": [
        {
            "id": "alice",
            "name": "Alice",
            "email": "alice@example.com",
            "language": "de",
            "time_zone": "Europe/Berlin",
            "groups": ["site"],
            "categories": ["armed", "always", "fire", "sabotage", "system"],
        },
        {
            "id": "bob",
            "name": "Bob",
            "email": "bob@example.net",
            "groups": ["server-room"],
            "categories": ["fire", "always"],
        },
    ],
}


def _event(**fields: Any) -> dict[str, Any]:
    body = {"group": "server-room", "device": "Smoke detector 2", "sensor": "smoke"}
    return {**body, "category": "fire", "severity": "alarm", **fields}


def fill_appliance(data: Path) -> None:
    """Every appliance table gets rows, through the v1 use cases."""
    services = Services.open(data)
    try:
        _, report, saved = services.settings.update(
            {"sender_address": "alarm@example.com", "sender_name": "Server room",
             "host": "127.0.0.1", "port": "2525", "encryption": "none", "enabled": "true"}
        )  # fmt: skip
        assert saved, report
        assert services.sites.import_site(SITE).applied
        admin = services.accounts.create_admin("admin", "correct horse battery", "en")
        services.accounts.login("admin", "correct horse battery", client="127.0.0.1")
        token, _ = services.accounts.create_token("gateway", ("events",))
        assert services.accounts.authenticate_token(token) is not None
        del admin
        services.events.submit(_event(client_event_id="raise-1"))
        services.events.submit(_event(device="Rack 3", sensor="temperature", category="always"))
        services.events.submit(_event(device="Rack 4", sensor="temperature", category="always"))
        raised = services.events.submit(_event(device="Door 1", sensor="contact"))
        services.events.submit(
            _event(device="Door 1", sensor="contact", state="cleared", client_event_id="clear-1")
        )
        del raised
        _send_one_through_the_relay(services)
    finally:
        services.close()


def _send_one_through_the_relay(services: Services) -> None:
    """One delivery recorded as sent to the online service, with its tracking row."""
    store = services.store
    claimed = store.claim(owner="fixture", now=2e9, limit=1, lease=60)
    assert claimed
    delivery = claimed[0].deliveries[0]
    store.record(
        [DeliveryUpdate(delivery.id, Status.SENT, step="relay", code=202,
                        server_reply="accepted", tracking_id="msg_fixture")],
        owner="fixture", now=2e9,
    )  # fmt: skip


def fill_relay(path: Path) -> None:
    """The relay's own tables get rows too."""
    store = SQLiteRelayStore(path)
    try:
        policy = DevicePolicy(senders=("alarm@example.com",), max_size=1 << 20,
                              quota_per_hour=600, burst=60)  # fmt: skip
        device = store.add_device("site-a", "0" * 64, policy, now=1.7e9)
        mail = compose(sender="alarm@example.com", to=["ops@example.net"],
                       subject="Relayed alarm", text="relayed\n")  # fmt: skip
        with store.transaction() as tx:
            tx.accept(device_id=device.id, cost=1, now=1.7e9, idempotency_key="k1",
                      public_id="msg_relay_fixture",
                      email=NewEmail.of(mail, Priority.ALARM))  # fmt: skip
    finally:
        store.close()


def rows_of(path: Path) -> dict[str, Any]:
    """Every table's columns and rows (blobs as {"b64": ...})."""
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rowid")]  # fmt: skip
        found: dict[str, Any] = {}
        for table in tables:
            cursor = conn.execute(f"SELECT * FROM {table}")  # noqa: S608
            columns = [d[0] for d in cursor.description]
            rows = [[{"b64": base64.b64encode(v).decode()} if isinstance(v, bytes) else v
                     for v in row] for row in cursor]  # fmt: skip
            found[table] = {"columns": columns, "rows": rows}
        return found
    finally:
        conn.close()


def main(target: Path) -> None:
    """Write the fixture to ``target``."""
    with tempfile.TemporaryDirectory() as tmp:
        fill_appliance(Path(tmp) / "data")
        fill_relay(Path(tmp) / "relay.db")
        appliance = rows_of(Path(tmp) / "data" / "tocsin.db")
        relay = rows_of(Path(tmp) / "relay.db")
    ddl = {
        "sqlite": [sqlite._SCHEMA, *sqlite._OUTBOX, *sqlite._ACCOUNTS, *sqlite._SITES],
        "postgres": [postgres._KV, *postgres._OUTBOX, *postgres._ACCOUNTS, *postgres._SITES],
        "relay_sqlite": relay_schema(pk="INTEGER PRIMARY KEY", fk="INTEGER", real="REAL"),
        "relay_postgres": relay_schema(pk="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
                                       fk="BIGINT", real="DOUBLE PRECISION"),
    }  # fmt: skip
    empty = [t for t, v in appliance.items() if not v["rows"]]
    assert not empty, f"tables without rows: {empty}"
    fixture = {"made_by": "tocsin 0.1.0 at commit 1c98767 (schema version 1)",
               "ddl": ddl, "appliance": appliance, "relay": relay}  # fmt: skip
    target.write_text(json.dumps(fixture, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
