#!/usr/bin/env bash
# Browser tests in Debian's Chromium (playwright-core): the operator console
# (console.test.mjs), the buyer's checkout paid in the sandbox wallet as a phone and as a
# desktop (checkout.test.mjs), the operator's payment lookup (lookup.test.mjs), and the
# ledger and payouts views (ledger.test.mjs: payouts paid through the sandbox, a retry), and
# the dashboard, business lines (secret rotation) and audit log (operations.test.mjs, last:
# it rotates the business line's secret). Starts
# `paydesk serve` on a temporary data directory and free ports (its embedded sandbox
# included), creates an admin and a viewer operator and the `secondhand` business line, tops
# up its payout funding account (`paydesk ledger fund`, 1,000.00 CNY), then runs the scripts
# one after another (checkout and lookup both listen for the business line's notifications
# on the same port).
#
#   e2e/run.sh PATH/TO/paydesk            # all
#   E2E_ONLY=checkout e2e/run.sh PATH     # one of console, checkout, lookup, ledger, operations
#
# Screenshots go to e2e/artifacts/ (kept: test artifacts), with serve.log. Exits non-zero on
# failure; the last line is `N passed, M failed` over all scripts.
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
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
PORT=$(free_port)
SANDBOX_PORT=$(free_port)
NOTIFY_PORT=$(free_port)
PAYDESK_SANDBOX_LISTEN="127.0.0.1:$SANDBOX_PORT" \
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
LINE=$("$PAYDESK" --data-dir "$WORK/data" business-line add secondhand \
  --notify-url "http://127.0.0.1:$NOTIFY_PORT/notify" --allow-url "http://127.0.0.1:$NOTIFY_PORT/shop/" --json)
# ledger.test.mjs pays platform payouts from this top-up.
"$PAYDESK" --data-dir "$WORK/data" ledger fund --business-line secondhand --amount-minor 100000 \
  --currency CNY --merchant-account ali-main --reference E2E-TOPUP-1 >/dev/null
export CHROMIUM PAYDESK_E2E_BASE="http://127.0.0.1:$PORT" PAYDESK_E2E_TOKEN="$TOKEN" PAYDESK_E2E_VIEWER="$VIEWER"
export PAYDESK_E2E_SANDBOX="http://127.0.0.1:$SANDBOX_PORT" PAYDESK_E2E_NOTIFY_PORT="$NOTIFY_PORT"
# operations.test.mjs searches the database files and the server's log for secrets.
export PAYDESK_E2E_DATA="$WORK/data" PAYDESK_E2E_SERVE_LOG="$WORK/serve.log"
PAYDESK_E2E_APP_ID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["app_id"])' "$LINE")
PAYDESK_E2E_SECRET=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["secret"])' "$LINE")
export PAYDESK_E2E_APP_ID PAYDESK_E2E_SECRET
for _ in $(seq 1 100); do
  if curl -fsS "$PAYDESK_E2E_SANDBOX/sandbox/health" >/dev/null 2>&1; then break; fi
  sleep 0.1
done

# Each script ends with `N passed, M failed`; the sum is the last line of this one.
TOTAL_PASSED=0
TOTAL_FAILED=0
for t in console checkout lookup ledger operations; do
  if [ -n "${E2E_ONLY:-}" ] && [ "$E2E_ONLY" != "$t" ]; then continue; fi
  echo "== $t.test.mjs"
  set +e
  node "$t.test.mjs" | tee "$WORK/$t.out"
  rc=${PIPESTATUS[0]}
  set -e
  summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$WORK/$t.out" | tail -1 || true)
  if [ -z "$summary" ]; then summary="0 passed, 1 failed"; fi
  p=$(echo "$summary" | cut -d' ' -f1)
  f=$(echo "$summary" | cut -d' ' -f3)
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  TOTAL_PASSED=$((TOTAL_PASSED + p))
  TOTAL_FAILED=$((TOTAL_FAILED + f))
done
echo "$TOTAL_PASSED passed, $TOTAL_FAILED failed"
[ "$TOTAL_FAILED" -eq 0 ] && [ "$TOTAL_PASSED" -gt 0 ]
