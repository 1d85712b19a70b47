#!/usr/bin/env bash
# stop.sh DIR - stop the Mosquitto that ensure.sh started with DIR (its pid file), if any.
set -euo pipefail
DIR=${1:?usage: stop.sh DIR}
if [ -r "$DIR/mosquitto.pid" ]; then
  pid=$(cat "$DIR/mosquitto.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
fi
rm -rf "$DIR"
