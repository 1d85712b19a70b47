#!/usr/bin/env bash
# smtp-sink.sh - make sure Postfix's smtp-sink / smtp-source are installed (Debian
# package "postfix", preseeded so that no Postfix instance starts on port 25).
# Installs only when missing and only as root.  Used by bench/outbox_bench.py.
set -euo pipefail
if command -v smtp-sink >/dev/null 2>&1 || [ -x /usr/sbin/smtp-sink ]; then
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "smtp-sink missing; run as root to install postfix" >&2; exit 1; }
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=120 update -qq
apt-get -o DPkg::Lock::Timeout=120 install -y -qq --no-install-recommends postfix >/dev/null
