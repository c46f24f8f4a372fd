#!/usr/bin/env bash
# `npm start`: builds the package and serves a demo order-confirmation page that calls
# reportOrder. When the relay binary is built (target/debug/ordersync-relay with `serve`), the
# page reports through the real relay, with its sandbox playing CibleR and CitrusAd; otherwise
# through a small local endpoint. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${PORT:-8080}"
RELAY_PORT="${RELAY_PORT:-8787}"
SANDBOX_PORT="${SANDBOX_PORT:-8788}"
relay_bin="${ORDERSYNC_RELAY_BIN:-target/debug/ordersync-relay}"

bash scripts/build-package.sh

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

wait_for() { # url name
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "[demo] $2 did not come up at $1" >&2
  return 1
}

if [ -x "$relay_bin" ] && "$relay_bin" serve --help >/dev/null 2>&1; then
  mkdir -p .ordersync
  sandbox="http://127.0.0.1:$SANDBOX_PORT"
  relay="http://127.0.0.1:$RELAY_PORT"
  "$relay_bin" sandbox --listen "127.0.0.1:$SANDBOX_PORT" \
    --cibler-customer-id demo-customer --cibler-api-key demo-cibler-key \
    --citrus-api-key demo-citrus-key >.ordersync/sandbox.log 2>&1 &
  pids+=($!)
  wait_for "$sandbox/__sandbox/requests" sandbox
  ORDERSYNC_CIBLER_BASE_URL="$sandbox" ORDERSYNC_CIBLER_CUSTOMER_ID=demo-customer \
  ORDERSYNC_CIBLER_API_KEY=demo-cibler-key ORDERSYNC_CIBLER_SITE_ID=1 ORDERSYNC_CIBLER_ENVIRONMENT=QA \
  ORDERSYNC_CITRUS_BASE_URL="$sandbox" ORDERSYNC_CITRUS_API_KEY=demo-citrus-key \
  ORDERSYNC_CITRUS_TEAM_ID=demo-team ORDERSYNC_CITRUS_CATALOG_ID=demo-catalog \
    "$relay_bin" serve --listen "127.0.0.1:$RELAY_PORT" --accept-unsigned \
      --database-url "sqlite://.ordersync/demo.db" >.ordersync/relay.log 2>&1 &
  pids+=($!)
  wait_for "$relay/healthz" relay
  echo "[demo] real relay at $relay (log .ordersync/relay.log), sandbox at $sandbox" >&2
  node www/dev-server.mjs --port "$PORT" --relay "$relay" --sandbox "$sandbox" &
else
  echo "[demo] $relay_bin not built: using the local endpoint (cargo build -p ordersync-relay for the real relay)" >&2
  node www/dev-server.mjs --port "$PORT" &
fi
pids+=($!)
wait "${pids[-1]}"
