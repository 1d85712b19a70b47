#!/usr/bin/env bash
# install.sh - the SMTP client of the relay's interoperability tests
# (tests/relay/test_submission_clients.py): Debian's prometheus-alertmanager, whose Go
# SMTP code is strict about AUTH LOGIN challenges.  The tests run the binary themselves,
# on 127.0.0.1 with a config of their own; the packaged service is never started (a
# policy-rc.d that refuses starts is put in place for the install if none is there).
# Installs with apt-get when missing, which needs root; otherwise says so and fails.
# Idempotent and quiet when installed.
set -euo pipefail
log() { printf '[alertmanager] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
PKG=prometheus-alertmanager
BINARY=/usr/bin/prometheus-alertmanager

installed() {
  dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q '^install ok installed$'
}

if ! installed; then
  [ "$(id -u)" = 0 ] || die "$PKG is missing; run this script as root, or: apt-get install $PKG"
  POLICY=/usr/sbin/policy-rc.d
  if [ ! -e "$POLICY" ]; then
    # invoke-rc.d and deb-systemd-invoke ask this before starting a service: 101 = no.
    printf '#!/bin/sh\nexit 101\n' > "$POLICY"
    chmod 0755 "$POLICY"
    trap 'rm -f "$POLICY"' EXIT
  fi
  log "installing $PKG"
  export DEBIAN_FRONTEND=noninteractive
  APT_OPTS="-o DPkg::Lock::Timeout=120"   # wait for another apt/dpkg run
  for try in 1 2 3; do
    # shellcheck disable=SC2086
    timeout 300 apt-get $APT_OPTS update -qq >/dev/null && break
    [ "$try" = 3 ] && die "apt-get update failed"
    sleep 5
  done
  # shellcheck disable=SC2086
  timeout 600 apt-get $APT_OPTS install -y -qq --no-install-recommends "$PKG" >/dev/null \
    || die "apt-get install $PKG failed"
fi
[ -x "$BINARY" ] || die "$PKG is installed but $BINARY is missing"
log "$("$BINARY" --version 2>&1 | head -1)"
