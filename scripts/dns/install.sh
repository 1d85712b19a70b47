#!/usr/bin/env bash
# install.sh - the DNS server the resolver tests (tests/relay/test_relay_dns.py) start on
# 127.0.0.1: Debian's dnsmasq-base, the binary alone (no service, no /etc/dnsmasq.conf,
# nothing listening after the install).  Installs it with apt-get when it is missing,
# which needs root; otherwise says so and fails.  Idempotent and quiet when installed.
set -euo pipefail
log() { printf '[dns] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

installed() {
  dpkg-query -W -f='${Status}' dnsmasq-base 2>/dev/null | grep -q '^install ok installed$' \
    || command -v dnsmasq >/dev/null 2>&1
}

if ! installed; then
  [ "$(id -u)" = 0 ] \
    || die "dnsmasq is missing; run this script as root, or: apt-get install dnsmasq-base"
  log "installing dnsmasq-base"
  export DEBIAN_FRONTEND=noninteractive
  APT_OPTS="-o DPkg::Lock::Timeout=120"   # wait for another apt/dpkg run
  for try in 1 2 3; do
    # shellcheck disable=SC2086
    timeout 300 apt-get $APT_OPTS update -qq >/dev/null && break
    [ "$try" = 3 ] && die "apt-get update failed"
    sleep 5
  done
  # shellcheck disable=SC2086
  timeout 600 apt-get $APT_OPTS install -y -qq --no-install-recommends dnsmasq-base >/dev/null \
    || die "apt-get install dnsmasq-base failed"
fi
binary=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
[ -x "$binary" ] || die "dnsmasq-base is installed but $binary is missing"
log "$("$binary" --version | head -1)"
