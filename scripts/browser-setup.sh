#!/usr/bin/env bash
# browser-setup.sh - what the browser tests (tests/web) need besides Python packages:
# Debian's chromium (driven by Python Playwright; never `playwright install`), libatomic1
# (the node binary inside the playwright wheel needs it) and fonts-dejavu-core (stable
# text in screenshots).  Installs with apt-get only what is missing; run as root.
# Then installs the `test` extra into ./.venv if playwright is not there yet.
#   CHROMIUM_PATH   the browser the tests launch        [/usr/bin/chromium]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

missing=""
for p in chromium libatomic1 fonts-dejavu-core; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "browser-setup: missing Debian packages:$missing (run as root to install)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  timeout 300 apt-get -o DPkg::Lock::Timeout=120 update -qq >/dev/null
  # shellcheck disable=SC2086
  timeout 900 apt-get -o DPkg::Lock::Timeout=120 install -y -qq --no-install-recommends $missing >/dev/null
fi

if [ -x "$ROOT/.venv/bin/python" ] && ! "$ROOT/.venv/bin/python" -c 'import playwright' 2>/dev/null; then
  bash "$ROOT/scripts/bootstrap.sh" test
fi

echo "browser-setup: $("${CHROMIUM_PATH:-/usr/lib/chromium/chromium}" --version 2>/dev/null || echo 'chromium: not found')"
