#!/usr/bin/env bash
# ensure.sh - a PostgreSQL for the tests.  $TOCSIN_TEST_PG_URL when set (it must
# answer); else the machine's server at $TOCSIN_PG_MACHINE_URL when it answers; else a
# private cluster on loopback (start.sh).  Prints "KEY=value" lines to export:
#   TOCSIN_TEST_PG_URL   the database the tests use
#   TOCSIN_PG_STARTED    1 when this run started a private cluster (stop it: stop.sh)
#
#   TOCSIN_PG_MACHINE_URL  where the machine's server is looked for
#                          [postgresql://postgres@127.0.0.1:5432/test]
#   TOCSIN_PG_PYTHON       a Python with psycopg, to probe servers  [./.venv/bin/python]
# A server that answers but lacks the database gets it created.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=${TOCSIN_PG_PYTHON:-$HERE/../../.venv/bin/python}
URL=${TOCSIN_TEST_PG_URL:-${TOCSIN_PG_MACHINE_URL:-postgresql://postgres@127.0.0.1:5432/test}}
log() { printf '[pg] %s\n' "$*" >&2; }

# 0: the database answers (created if the server had none); 1: no usable server.
probe() {
  "$PY" - "$1" <<'PY'
import sys
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

url = sys.argv[1]
try:
    psycopg.connect(url, connect_timeout=3).close()
    sys.exit(0)
except psycopg.OperationalError as exc:
    if 'database "' not in str(exc) or "does not exist" not in str(exc):
        sys.exit(1)
params = conninfo_to_dict(url)
name = params.get("dbname") or "test"
try:
    with psycopg.connect(make_conninfo(url, dbname="postgres"), connect_timeout=3,
                         autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
except psycopg.Error:
    sys.exit(1)
print(f"[pg] created database {name}", file=sys.stderr)
PY
}

if probe "$URL"; then
  log "using the PostgreSQL server at ${URL%%\?*}"
  echo "TOCSIN_TEST_PG_URL=$URL"
  echo "TOCSIN_PG_STARTED=0"
  exit 0
fi
if [ -n "${TOCSIN_TEST_PG_URL:-}" ]; then
  log "ERROR: TOCSIN_TEST_PG_URL=$TOCSIN_TEST_PG_URL does not answer; unset it to get a private cluster"
  exit 1
fi
log "no PostgreSQL answers at $URL: starting a private cluster"
env_lines=$(bash "$HERE/start.sh")
grep '^TOCSIN_TEST_PG_URL=' <<<"$env_lines"
echo "TOCSIN_PG_STARTED=1"
