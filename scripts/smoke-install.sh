#!/usr/bin/env bash
# smoke-install.sh - install Tocsin the way users do (a built wheel, not editable, into
# a fresh venv) and start what it lists: first plain, where `tocsin serve` must answer
# /healthz, `tocsin worker` must run, and `tocsin relay serve` must name its extra in one
# line; then with the relay extra, where the relay must start.  Dependencies come from
# the package index (pip's cache makes a second run quick).
#   PYTHON   the interpreter to make the venv with (default python3)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tocsin-smoke.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "smoke-install: $*" >&2; exit 1; }

free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Wait up to $2 seconds for the file $1 to contain $3, while the process $4 lives.
await_text() {
  local file=$1 seconds=$2 text=$3 pid=$4
  for _ in $(seq 1 $((seconds * 10))); do
    grep -q "$text" "$file" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$file" >&2; fail "process $pid died before '$text'"; }
    sleep 0.1
  done
  cat "$file" >&2
  fail "no '$text' after ${seconds}s"
}

stop() {  # stop the process $1 with SIGTERM and require a clean exit
  local pid=$1 rc=0
  kill -TERM "$pid"
  wait "$pid" || rc=$?
  [ "$rc" = 0 ] || fail "process $pid exited $rc on SIGTERM"
}

echo "== smoke install: build the wheel"
"$PYTHON" -m venv "$WORK/build"
"$WORK/build/bin/python" -m pip wheel -q --disable-pip-version-check --no-deps \
  -w "$WORK/dist" "$ROOT" >/dev/null
wheel=$(ls "$WORK"/dist/tocsin-*.whl)
"$PYTHON" -c 'import sys, zipfile; names = zipfile.ZipFile(sys.argv[1]).namelist()
sys.exit(not {"tocsin/locale/en/LC_MESSAGES/tocsin.mo", "tocsin/locale/de/LC_MESSAGES/tocsin.mo"} <= set(names))' \
  "$wheel" || fail "the wheel ships no compiled catalogs (.mo): setup.py's build step did not run"

echo "== smoke install: plain (pip install tocsin)"
"$PYTHON" -m venv "$WORK/venv"
PIP=("$WORK/venv/bin/python" -m pip install -q --disable-pip-version-check)
"${PIP[@]}" "$wheel"
TOCSIN=$WORK/venv/bin/tocsin
"$WORK/venv/bin/python" -c 'import importlib.util as u, sys; sys.exit(u.find_spec("psycopg") is not None or u.find_spec("aiosmtpd") is not None)' \
  || fail "a plain install brought psycopg or aiosmtpd"

port=$(free_port)
"$TOCSIN" serve --data "$WORK/data" --host 127.0.0.1 --port "$port" >"$WORK/serve.log" 2>&1 &
pids+=($!)
serve_pid=$!
for _ in $(seq 1 150); do
  if "$WORK/venv/bin/python" -c "import urllib.request as r; r.urlopen('http://127.0.0.1:$port/healthz', timeout=1)" 2>/dev/null; then
    break
  fi
  kill -0 "$serve_pid" 2>/dev/null || { cat "$WORK/serve.log" >&2; fail "tocsin serve died"; }
  sleep 0.1
done
"$WORK/venv/bin/python" -c "import urllib.request as r; r.urlopen('http://127.0.0.1:$port/healthz', timeout=1)" \
  || { cat "$WORK/serve.log" >&2; fail "tocsin serve does not answer /healthz"; }
stop "$serve_pid"
echo "tocsin serve: /healthz answered"

"$TOCSIN" worker --data "$WORK/data" >"$WORK/worker.log" 2>&1 &
pids+=($!)
await_text "$WORK/worker.log" 15 "delivering" $!
stop $!
echo "tocsin worker: started and stopped"

rc=0
"$TOCSIN" relay serve --database "$WORK/relay.db" --no-smtp --api-port 0 \
  >"$WORK/relay.log" 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "tocsin relay serve ran without the relay extra"
[ "$(wc -l <"$WORK/relay.log")" = 1 ] || { cat "$WORK/relay.log" >&2; fail "more than one line"; }
grep -q "pip install 'tocsin\[relay\]'" "$WORK/relay.log" \
  || { cat "$WORK/relay.log" >&2; fail "the message does not name the relay extra"; }
echo "tocsin relay serve (plain): $(cat "$WORK/relay.log")"

rc=0
TOCSIN_DATABASE_URL=postgresql://127.0.0.1/tocsin "$TOCSIN" settings show --data "$WORK/data" \
  >"$WORK/pg.log" 2>&1 || rc=$?
[ "$rc" != 0 ] && [ "$(wc -l <"$WORK/pg.log")" = 1 ] \
  && grep -q "pip install 'tocsin\[postgres\]'" "$WORK/pg.log" \
  || { cat "$WORK/pg.log" >&2; fail "a postgresql:// URL without the extra must name it in one line"; }
echo "postgresql:// (plain): $(cat "$WORK/pg.log")"

echo "== smoke install: with the relay extra (pip install 'tocsin[relay]')"
"${PIP[@]}" "$wheel[relay]"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
"$TOCSIN" relay serve --database "$WORK/relay.db" --tls-cert "$WORK/cert.pem" \
  --tls-key "$WORK/key.pem" --api-port 0 --smtp-port 0 >"$WORK/relay.log" 2>&1 &
pids+=($!)
await_text "$WORK/relay.log" 20 '"event": "ready"' $!
stop $!
echo "tocsin relay serve: started and stopped"
echo "== smoke install: ok"
