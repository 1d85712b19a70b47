#!/usr/bin/env bash
# stop.sh - stop the private PostgreSQL cluster started by start.sh (by its data
# directory's pid) and delete its state directory.
#   TOCSIN_PG_DIR   state dir used by start.sh   [${TMPDIR:-/tmp}/tocsin-pg]
set -uo pipefail

STATE=${TOCSIN_PG_DIR:-${TMPDIR:-/tmp}/tocsin-pg}
log() { printf '[pg] %s\n' "$*" >&2; }
[ -d "$STATE" ] || { log "nothing to stop in $STATE"; exit 0; }
BIN=$(grep '^TOCSIN_PG_BINDIR=' "$STATE/env" 2>/dev/null | cut -d= -f2-)
if [ -e "$STATE/data/postmaster.pid" ]; then
  PID=$(head -1 "$STATE/data/postmaster.pid" | tr -dc 0-9)
  if [ -n "$BIN" ] && [ -x "$BIN/pg_ctl" ]; then
    if [ "$(id -u)" = 0 ]; then
      runuser -u postgres -- "$BIN/pg_ctl" -D "$STATE/data" -m fast -w -t 30 stop >/dev/null 2>&1
    else
      "$BIN/pg_ctl" -D "$STATE/data" -m fast -w -t 30 stop >/dev/null 2>&1
    fi
  fi
  # Only this cluster's postmaster: the pid must name a postgres process on our data dir.
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null \
      && tr '\0' ' ' < "/proc/$PID/cmdline" 2>/dev/null | grep -q -- "$STATE/data"; then
    kill -TERM "$PID" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$PID" 2>/dev/null && kill -KILL "$PID" 2>/dev/null
  fi
  log "stopped PostgreSQL (pid $PID)"
fi
rm -rf "$STATE"
