#!/usr/bin/env bash
# start.sh - run a private, loopback-only PostgreSQL cluster for the tests: initdb into
# a state directory, trust authentication, superuser `postgres`, database `test`.
# Installs Debian's postgresql package first when no server binaries are found (as
# root), without creating or starting the package's own cluster.  Stop it with stop.sh.
#
#   TOCSIN_PG_DIR      state dir (data, socket, log, env)      [${TMPDIR:-/tmp}/tocsin-pg]
#   TOCSIN_PG_PORT     port on 127.0.0.1; "auto": 5432 if free, else a free one  [auto]
#   TOCSIN_PG_BINDIR   where initdb and pg_ctl are   [newest $TOCSIN_PG_SEARCH/*/bin]
#   TOCSIN_PG_SEARCH   where Debian's packages put each version  [/usr/lib/postgresql]
#   TOCSIN_PG_INSTALL  auto: apt-get install postgresql when missing; no: never  [auto]
#   TOCSIN_PG_CLUSTER_CONF  postgresql-common's createcluster.conf, written (when absent)
#                      before installing  [/etc/postgresql-common/createcluster.conf]
#
# On success it writes $TOCSIN_PG_DIR/env ("KEY=value" lines: TOCSIN_TEST_PG_URL,
# TOCSIN_PG_PORT, TOCSIN_PG_PID) and prints the same lines on stdout.
set -euo pipefail

STATE=${TOCSIN_PG_DIR:-${TMPDIR:-/tmp}/tocsin-pg}
PORT=${TOCSIN_PG_PORT:-auto}
INSTALL=${TOCSIN_PG_INSTALL:-auto}
SEARCH=${TOCSIN_PG_SEARCH:-/usr/lib/postgresql}
CLUSTER_CONF=${TOCSIN_PG_CLUSTER_CONF:-/etc/postgresql-common/createcluster.conf}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log() { printf '[pg] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
case "$STATE" in /*) ;; *) STATE="$PWD/$STATE" ;; esac

bindir() {
  if [ -n "${TOCSIN_PG_BINDIR:-}" ]; then
    [ -x "$TOCSIN_PG_BINDIR/initdb" ] && echo "$TOCSIN_PG_BINDIR"
    return 0
  fi
  local found
  found=$(ls -d "$SEARCH"/*/bin 2>/dev/null | sort -V | tail -1)
  [ -n "$found" ] && [ -x "$found/initdb" ] && echo "$found"
  return 0
}

# ---------------------------------------------------------------- packages
BIN=$(bindir)
if [ -z "$BIN" ]; then
  [ "$INSTALL" = auto ] || die "no PostgreSQL server binaries (initdb) found (TOCSIN_PG_INSTALL=$INSTALL): apt-get install postgresql"
  [ -z "${TOCSIN_PG_BINDIR:-}" ] || die "no initdb in TOCSIN_PG_BINDIR=$TOCSIN_PG_BINDIR"
  [ "$(id -u)" = 0 ] || die "PostgreSQL is not installed and installing it needs root: apt-get install postgresql"
  log "installing Debian's postgresql (no cluster of its own is created or started)"
  # The package would create and start a "main" cluster on port 5432; the tests run
  # their own.  Only when the file is not there yet (an admin's choice stays).
  if [ ! -e "$CLUSTER_CONF" ]; then
    mkdir -p "$(dirname "$CLUSTER_CONF")"
    echo "create_main_cluster = false" > "$CLUSTER_CONF"
  fi
  export DEBIAN_FRONTEND=noninteractive
  APT_OPTS="-o DPkg::Lock::Timeout=120 -o Dpkg::Options::=--force-confold"
  # shellcheck disable=SC2086
  for try in 1 2 3; do
    timeout 300 apt-get $APT_OPTS update -qq >/dev/null && break
    [ "$try" = 3 ] && die "apt-get update failed"; sleep 5
  done
  # shellcheck disable=SC2086
  timeout 900 apt-get $APT_OPTS install -y -qq --no-install-recommends postgresql >/dev/null \
    || die "apt-get install postgresql failed"
  BIN=$(bindir)
  [ -n "$BIN" ] || die "postgresql is installed but no initdb was found under $SEARCH"
fi

# ---------------------------------------------------------------- previous run
if [ -e "$STATE/data/postmaster.pid" ]; then
  TOCSIN_PG_DIR="$STATE" bash "$HERE/stop.sh" || true
fi
rm -rf "$STATE"
mkdir -p "$STATE"
echo "TOCSIN_PG_BINDIR=$BIN" > "$STATE/env"   # for stop.sh, should this run fail

# ---------------------------------------------------------------- port
answers() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }
if [ "$PORT" = auto ]; then
  PORT=5432
  if answers "$PORT"; then
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  fi
elif answers "$PORT"; then
  die "port 127.0.0.1:$PORT is already in use; pick another with TOCSIN_PG_PORT"
fi

# ---------------------------------------------------------------- cluster
# The server refuses to run as root: as root it runs as the postgres user.
as_owner() { "$@"; }
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || die "running as root, and there is no postgres user to run the server as"
  chown postgres: "$STATE"
  runuser -u postgres -- test -w "$STATE" \
    || die "the postgres user cannot reach $STATE: choose a TOCSIN_PG_DIR it can (e.g. under /tmp)"
  as_owner() { runuser -u postgres -- "$@"; }
fi
as_owner mkdir -p "$STATE/socket"
as_owner "$BIN/initdb" -D "$STATE/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
  --no-instructions >"$STATE/initdb.log" 2>&1 \
  || { cat "$STATE/initdb.log" >&2; die "initdb failed"; }
# From here on a failure stops what was started.
trap 'TOCSIN_PG_DIR="$STATE" bash "$HERE/stop.sh"' EXIT
as_owner "$BIN/pg_ctl" -D "$STATE/data" -l "$STATE/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $PORT -k $STATE/socket" start >/dev/null \
  || { tail -20 "$STATE/server.log" >&2; die "the server did not start (log above)"; }
as_owner "$BIN/psql" -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres \
  -c "CREATE DATABASE test" >/dev/null || die "CREATE DATABASE test failed"
PID=$(head -1 "$STATE/data/postmaster.pid")

{
  echo "TOCSIN_TEST_PG_URL=postgresql://postgres@127.0.0.1:$PORT/test"
  echo "TOCSIN_PG_PORT=$PORT"
  echo "TOCSIN_PG_PID=$PID"
  echo "TOCSIN_PG_BINDIR=$BIN"
} > "$STATE/env"
trap - EXIT
log "PostgreSQL $("$BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT (pid $PID, $STATE)"
cat "$STATE/env"
