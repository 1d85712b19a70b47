"""Schema versions across real processes: several starting at once migrate once, the
``tocsin db`` commands, and a newer database refused by ``tocsin serve`` and ``worker``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest
from store_support import PG_URL, make_v1_sqlite, pg_schema, pg_url, with_extra_migration

from helpers import tocsin_cli
from tocsin.store import open_store
from tocsin.store.migrations import APPLIANCE, upgrade
from tocsin.testing import unused_port

CHILD = Path(__file__).resolve().parent / "migrate_child.py"
NEWEST = len(APPLIANCE.migrations("sqlite"))
"""The appliance's newest version (each branch that adds a migration moves it)."""

# Test only: a second version that takes a while, so processes started together overlap
# inside it.  Without the migration lock the second would fail on the column the first
# added (or on the version row), or add it twice.
SLOW_SQL = {
    "postgres": "SELECT pg_sleep(1.0);\n",
    "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000000)"
    " SELECT count(*) FROM n;\n",
}
ADD_COLUMN = "ALTER TABLE outbox_email ADD COLUMN test_slow TEXT NOT NULL DEFAULT '';\n"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    return {**env, "TOCSIN_DATA": str(tmp_path / "data"), **extra}


def _run_together(args: list[list[str]], env: dict[str, str]) -> list[str]:
    children = [
        subprocess.Popen(a, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for a in args
    ]
    outputs = []
    for child in children:
        stdout, stderr = child.communicate(timeout=60)
        assert child.returncode == 0, stdout + stderr
        outputs.append(stdout)
    return outputs


@pytest.mark.parametrize(
    "dialect", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_processes_starting_at_once_apply_each_migration_once(dialect: str, tmp_path: Path) -> None:
    later = with_extra_migration(
        APPLIANCE, tmp_path / "m", dialect, SLOW_SQL[dialect] + ADD_COLUMN, name="slow"
    )
    newest = len(later.migrations(dialect))

    def run(url: str, *schema: str) -> list[int]:
        start = f"{time.time() + 5.0}"  # both are up and connected by then, even on a busy machine
        args = [
            [sys.executable, str(CHILD), "--url", url, *schema, "--migrations",
             str(tmp_path / "m"), "--start-at", start]
            for _ in range(2)
        ]  # fmt: skip
        outputs = _run_together(args, _env(tmp_path))
        return [v for out in outputs for v in json.loads(out)]

    if dialect == "sqlite":
        applied = run(str(tmp_path / "tocsin.db"))
        store = open_store(tmp_path / "tocsin.db", migrate=False)
    else:
        with pg_schema() as schema:
            applied = run(PG_URL, "--schema", schema)
            store = open_store(PG_URL, schema=schema, migrate=False)
            try:
                (state,) = store.schema_states()
            finally:
                store.close()
    if dialect == "sqlite":
        try:
            (state,) = store.schema_states()
        finally:
            store.close()
    assert Counter(applied) == Counter(range(1, newest + 1)), applied
    assert [h[0] for h in state.history] == list(range(1, newest + 1))


@pytest.mark.postgres
def test_two_cli_upgrades_at_once_on_postgres(tmp_path: Path) -> None:
    with pg_schema() as schema:
        env = _env(tmp_path, TOCSIN_DATABASE_URL=pg_url(schema))
        cli = [sys.executable, "-m", "tocsin", "db", "upgrade"]
        outputs = _run_together([cli, cli], env)
        with psycopg.connect(pg_url(schema)) as conn:
            rows = conn.execute("SELECT component, version FROM schema_migration").fetchall()
    assert sorted(rows) == [("tocsin", v) for v in range(1, NEWEST + 1)]
    assert sum(o.count("0001_initial") for o in outputs) == 1, outputs
    assert sum(o.count("0002_test_emails") for o in outputs) == 1, outputs
    assert sum(o.count("0003_mqtt_dead_letter") for o in outputs) == 1, outputs
    assert sum(o.count("0004_delivery_link") for o in outputs) == 1, outputs
    assert all(f"Up to date: tocsin {NEWEST}" in o for o in outputs)


def test_db_status_and_upgrade_take_a_database_made_before_versions(tmp_path: Path) -> None:
    env = _env(tmp_path)
    assert "no database yet" in tocsin_cli(env, "db", "status")
    (tmp_path / "data").mkdir()
    make_v1_sqlite(tmp_path / "data" / "tocsin.db")
    status = tocsin_cli(env, "db", "status")
    assert "tables of version 1 without a recorded version" in status
    upgraded = tocsin_cli(env, "db", "upgrade")
    assert "0001_initial (baseline: the tables were there)" in upgraded
    assert "0002_test_emails" in upgraded
    assert "0004_delivery_link" in upgraded
    assert f"Up to date: tocsin {NEWEST}" in upgraded
    report = json.loads(tocsin_cli(env, "db", "status", "--json"))
    (schema,) = report["schemas"]
    assert (schema["current"], schema["known"], schema["pending"]) == (NEWEST, NEWEST, [])
    assert "baseline" in schema["history"][0]["applied_by"]
    assert f"Up to date: tocsin {NEWEST}" in tocsin_cli(env, "db", "upgrade")  # nothing more to do


def test_a_newer_database_is_refused_by_every_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    later = with_extra_migration(APPLIANCE, tmp_path / "m", "sqlite", ADD_COLUMN)
    store = open_store(data / "tocsin.db", migrate=False)
    try:
        upgrade(store, later)  # what a newer Tocsin would leave
    finally:
        store.close()
    sentence = (
        f"The database is at schema version {NEWEST + 1}, but this Tocsin knows versions up "
        f"to {NEWEST} only: upgrade Tocsin (it never downgrades a database)."
    )
    env = _env(tmp_path)
    port = str(unused_port())  # serve refuses before it binds; port 0 is refused as such
    for command in (["serve", "--port", port], ["worker"], ["db", "status"], ["db", "upgrade"]):
        done = subprocess.run(
            [sys.executable, "-m", "tocsin", *command],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode != 0, (command, done.stdout, done.stderr)
        words = " ".join((done.stdout + done.stderr).split())
        assert "Traceback" not in words
        if command[0] == "db" and command[1] == "status":
            assert (
                f"version {NEWEST + 1}, newer than this Tocsin knows ({NEWEST}): upgrade Tocsin"
                in words
            )
        else:
            assert sentence in words, (command, words)
