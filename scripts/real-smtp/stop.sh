#!/usr/bin/env bash
# stop.sh - stop the Postfix test instance started by start.sh, by PID, and
# remove its env file (mail, log and queue stay unless REAL_SMTP_PURGE=1).
#   REAL_SMTP_DIR    state dir used by start.sh   [${TMPDIR:-/tmp}/tocsin-real-smtp]
#   REAL_SMTP_PURGE  1: also delete the state dir (mail, log, queue)  [0]
set -uo pipefail

STATE=${REAL_SMTP_DIR:-${TMPDIR:-/tmp}/tocsin-real-smtp}
PIDFILE="$STATE/spool/pid/master.pid"
log() { printf '[real-smtp] %s\n' "$*" >&2; }

# Alive = exists and is not a zombie waiting to be reaped.
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

if [ -r "$PIDFILE" ]; then
  PID=$(tr -dc 0-9 < "$PIDFILE")
  # Only touch the PID if it really is a Postfix master (pid files can be stale).
  if [ -n "$PID" ] && alive "$PID" && [ "$(cat "/proc/$PID/comm" 2>/dev/null)" = master ]; then
    CHILDREN=$(ps -o pid= --ppid "$PID" 2>/dev/null | tr -s ' \n' ' ')
    kill -TERM "$PID"            # master passes TERM on to its children
    for _ in $(seq 1 100); do alive "$PID" || break; sleep 0.1; done
    if alive "$PID"; then
      log "master $PID ignored TERM for 10 s; sending KILL"
      kill -KILL "$PID" 2>/dev/null
    fi
    # Children normally exit with the master; make sure, by their PIDs.
    for c in $CHILDREN; do
      for _ in $(seq 1 30); do alive "$c" || break; sleep 0.1; done
      alive "$c" && kill -KILL "$c" 2>/dev/null
    done
    log "stopped postfix master $PID"
  else
    log "no running master for $PIDFILE (stale or already stopped)"
  fi
  rm -f "$PIDFILE"
else
  log "nothing to stop in $STATE"
fi
# The env file describes a running instance; tests take its presence as "running".
rm -f "$STATE/env"

if [ "${REAL_SMTP_PURGE:-0}" = 1 ]; then
  case "$STATE" in ""|/) log "refusing to delete '$STATE'"; exit 1 ;; esac
  rm -rf -- "$STATE"
  log "removed $STATE"
fi
exit 0
