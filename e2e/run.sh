#!/usr/bin/env bash
# Browser test of the operator console: starts `paydesk serve` on a temporary data
# directory and a free port, creates an admin operator with `paydesk operator add`, and
# drives Debian's Chromium (playwright-core) through console.test.mjs.
#
#   e2e/run.sh PATH/TO/paydesk
#
# Screenshots go to e2e/artifacts/. Exits non-zero on failure; the last line is
# `N passed, M failed`.
set -euo pipefail
PAYDESK=$(realpath "${1:?usage: e2e/run.sh PATH/TO/paydesk}")
cd "$(dirname "$0")"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
  echo "ERROR: $CHROMIUM is missing (apt-get install -y chromium)" >&2
  exit 1
fi
if [ ! -d node_modules/playwright-core ]; then
  npm install --no-audit --no-fund --silent
fi
rm -rf artifacts && mkdir -p artifacts
WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
"$PAYDESK" --data-dir "$WORK/data" serve --listen "127.0.0.1:$PORT" >"$WORK/serve.log" 2>&1 &
SERVE_PID=$!
cleanup() {
  kill "$SERVE_PID" 2>/dev/null || true
  wait "$SERVE_PID" 2>/dev/null || true
  cp "$WORK/serve.log" artifacts/serve.log 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$SERVE_PID" 2>/dev/null; then cat "$WORK/serve.log" >&2; exit 1; fi
  sleep 0.1
done
TOKEN=$("$PAYDESK" --data-dir "$WORK/data" operator add e2e-admin --role admin --json \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
VIEWER=$("$PAYDESK" --data-dir "$WORK/data" operator add e2e-viewer --role viewer --json \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
PAYDESK_E2E_BASE="http://127.0.0.1:$PORT" PAYDESK_E2E_TOKEN="$TOKEN" PAYDESK_E2E_VIEWER="$VIEWER" \
  CHROMIUM="$CHROMIUM" node console.test.mjs
