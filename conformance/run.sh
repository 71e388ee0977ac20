#!/usr/bin/env bash
# Conformance: independent, official/most-used SDKs talk to paydesk's sandbox.
#
#   conformance/run.sh [SANDBOX_BIN [SIGN_HELPER_BIN]]
#
# Without arguments it builds `paydesk-sandbox` (bin) and the `conformance_sign` example with
# cargo (honouring CARGO_TARGET_DIR). It then creates conformance/.venv (pip: wechatpayv3,
# pinned in requirements.txt) and conformance/node_modules (npm ci: alipay-sdk, pinned in
# package.json / package-lock.json), starts a sandbox on a free port with a fresh data dir,
# runs the Python and Node suites, checks that paydesk's request signatures equal the SDKs'
# byte for byte, and prints a final line `N passed, M failed`. Exit status is non-zero on any
# failure.
set -uo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
RUN="$HERE/.run"
FAILED_STEPS=0

step_failed() { echo "conformance: $1" >&2; FAILED_STEPS=$((FAILED_STEPS + 1)); }

if [ $# -ge 1 ]; then
  SANDBOX="$1"
  SIGN="${2:-}"
else
  SANDBOX=""
  SIGN=""
fi
if [ -z "$SANDBOX" ] || [ -z "$SIGN" ]; then
  echo "conformance: building paydesk-sandbox and conformance_sign" >&2
  (cd "$ROOT" && cargo build -q -p paydesk-sandbox --bin paydesk-sandbox --example conformance_sign) || { echo "0 passed, 1 failed"; exit 1; }
  SANDBOX="${SANDBOX:-$TARGET/debug/paydesk-sandbox}"
  SIGN="${SIGN:-$TARGET/debug/examples/conformance_sign}"
fi

# Python SDK (PyPI).
if [ ! -x "$HERE/.venv/bin/python" ]; then
  python3 -m venv "$HERE/.venv" || { echo "0 passed, 1 failed"; exit 1; }
fi
"$HERE/.venv/bin/pip" install -q --disable-pip-version-check -r "$HERE/requirements.txt" >&2 \
  || { echo "conformance: pip install failed" >&2; echo "0 passed, 1 failed"; exit 1; }
# Node SDK (npm), exactly the locked tree.
if ! node -e "process.exit(require('$HERE/node_modules/alipay-sdk/package.json').version === '4.14.0' ? 0 : 1)" 2>/dev/null; then
  (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error >&2) \
    || { echo "conformance: npm ci failed" >&2; echo "0 passed, 1 failed"; exit 1; }
fi

rm -rf "$RUN" && mkdir -p "$RUN"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
COMMON=(--data-dir "$RUN/data" --listen "127.0.0.1:$PORT")
"$SANDBOX" merchant add --provider wechatpay --json "${COMMON[@]}" > "$RUN/wechatpay.json" || step_failed "merchant add wechatpay"
"$SANDBOX" merchant add --provider alipay --json "${COMMON[@]}" > "$RUN/alipay.json" || step_failed "merchant add alipay"

RUST_LOG="${RUST_LOG:-warn}" "$SANDBOX" "${COMMON[@]}" --time-scale 100 > "$RUN/sandbox.log" 2>&1 &
SANDBOX_PID=$!
trap 'kill "$SANDBOX_PID" 2>/dev/null; wait "$SANDBOX_PID" 2>/dev/null' EXIT
for _ in $(seq 1 100); do
  if python3 -c "import urllib.request,sys; urllib.request.urlopen('$BASE/sandbox/health', timeout=1)" 2>/dev/null; then break; fi
  sleep 0.1
done

echo "== wechatpayv3 (PyPI) against $BASE"
"$HERE/.venv/bin/python" "$HERE/wechatpay_conformance.py" "$BASE" "$RUN/wechatpay.json" "$RUN/cases-wechatpay.json" "$RUN/wechatpay.counts" \
  || step_failed "wechatpayv3 suite"

echo "== alipay-sdk (npm) against $BASE"
# The SDK stamps `timestamp` in local time and Alipay reads it as China time (GMT+8).
(cd "$HERE" && TZ=Asia/Shanghai node "$HERE/alipay_conformance.js" "$BASE" "$RUN/alipay.json" "$RUN/cases-alipay.json" "$RUN/alipay.counts") \
  || step_failed "alipay-sdk suite"

echo "== request signatures: SDK vs paydesk, same key and input"
SIG_PASSED=0
SIG_FAILED=0
for f in "$RUN/cases-wechatpay.json" "$RUN/cases-alipay.json"; do
  if [ ! -s "$f" ]; then step_failed "no signature cases in $f"; continue; fi
  out="$("$SIGN" "$f")" || step_failed "signatures differ in $f"
  echo "$out"
  SIG_PASSED=$((SIG_PASSED + $(grep -c '^\[SAME\]' <<<"$out")))
  SIG_FAILED=$((SIG_FAILED + $(grep -c '^\[DIFF\]' <<<"$out")))
done

PASSED=$SIG_PASSED
FAILED=$SIG_FAILED
for c in "$RUN/wechatpay.counts" "$RUN/alipay.counts"; do
  if [ -s "$c" ]; then
    read -r p f < "$c"
    PASSED=$((PASSED + p))
    FAILED=$((FAILED + f))
  fi
done
# A step that failed without counting (crash, missing output) still fails the run.
if [ "$FAILED" -eq 0 ] && [ "$FAILED_STEPS" -gt 0 ]; then
  FAILED=$FAILED_STEPS
fi
if grep -qi 'panicked' "$RUN/sandbox.log"; then
  echo "conformance: the sandbox panicked (see $RUN/sandbox.log)" >&2
  FAILED=$((FAILED + 1))
fi
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
