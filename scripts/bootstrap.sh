#!/usr/bin/env bash
# bootstrap.sh [EXTRAS] - make ./.venv and install Tocsin into it (editable), with the
# optional dependency groups named (e.g. "test").  Idempotent; quiet unless it fails.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${TOCSIN_VENV:-$ROOT/.venv}
PYTHON=${PYTHON:-python3}
extras=${1:-}

# A venv whose creation was interrupted has a python but no pip: make it anew.
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
fi
spec="$ROOT"
[ -n "$extras" ] && spec="$ROOT[$extras]"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$spec"
