"""A process that migrates one database, for the tests of processes starting at once.

    python migrate_child.py --url URL [--schema S] --migrations DIR --start-at EPOCH

It opens the store without migrating, waits until ``EPOCH`` (so several children start
together), applies the migrations in ``DIR`` (the appliance's component) and prints the
versions it applied itself as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tocsin.store import open_store
from tocsin.store.migrations import APPLIANCE, Component, upgrade


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--schema")
    parser.add_argument("--migrations", required=True)
    parser.add_argument("--start-at", type=float, required=True)
    args = parser.parse_args()
    component = Component(APPLIANCE.name, APPLIANCE.title, Path(args.migrations), "outbox_email")
    store = open_store(args.url, schema=args.schema, migrate=False)
    try:
        time.sleep(max(0.0, args.start_at - time.time()))
        applied = upgrade(store, component)
    finally:
        store.close()
    print(json.dumps([a.migration.version for a in applied]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
