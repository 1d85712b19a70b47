#!/usr/bin/env bash
# ensure.sh - make sure a Mosquitto answers on 127.0.0.1:1883 (anonymous allowed) for the
# MQTT tests.  The machine's broker is used when one answers; else mosquitto (and
# mosquitto-clients, for mosquitto_pub / mosquitto_passwd) is installed from Debian's
# packages when missing (needs root), and a private broker is started on loopback only.
# Prints MOSQUITTO_STARTED=0|1 and MOSQUITTO_DIR=<dir>: pass the dir to stop.sh, which
# stops only what this script started.
set -euo pipefail
DIR=${TOCSIN_MOSQUITTO_DIR:-${TMPDIR:-/tmp}/tocsin-mosquitto-$$}
PORT=${TOCSIN_MOSQUITTO_PORT:-1883}  # another port only to try this script itself

answers() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT" 2>/dev/null; }

install_packages() {
  [ "$(id -u)" = 0 ] || { echo "mosquitto is missing: apt-get install mosquitto mosquitto-clients" >&2; exit 1; }
  echo "== installing mosquitto mosquitto-clients" >&2
  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get -o DPkg::Lock::Timeout=120 install \
    -y -qq --no-install-recommends mosquitto mosquitto-clients >/dev/null \
    || { timeout 300 apt-get -o DPkg::Lock::Timeout=120 update -qq >/dev/null \
      && DEBIAN_FRONTEND=noninteractive timeout 600 apt-get -o DPkg::Lock::Timeout=120 \
        install -y -qq --no-install-recommends mosquitto mosquitto-clients >/dev/null; }
}

if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ] \
  || ! command -v mosquitto_pub >/dev/null 2>&1; then
  install_packages
fi
if answers; then
  echo "MOSQUITTO_STARTED=0"
  echo "MOSQUITTO_DIR=$DIR"
  exit 0
fi
mkdir -p "$DIR"
cat >"$DIR/mosquitto.conf" <<CONF
listener $PORT 127.0.0.1
allow_anonymous true
persistence false
pid_file $DIR/mosquitto.pid
log_dest file $DIR/mosquitto.log
CONF
[ "$(id -u)" = 0 ] && echo "user root" >>"$DIR/mosquitto.conf"
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)
"$MOSQUITTO" -d -c "$DIR/mosquitto.conf"
for _ in $(seq 1 100); do
  answers && break
  sleep 0.1
done
answers || { echo "mosquitto did not start: see $DIR/mosquitto.log" >&2; exit 1; }
echo "MOSQUITTO_STARTED=1"
echo "MOSQUITTO_DIR=$DIR"
