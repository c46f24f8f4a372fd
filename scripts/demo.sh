#!/usr/bin/env bash
# `npm start`: the whole of ordersync on loopback, in one command.
#
# Sets up what the build needs (scripts/setup.sh build, via build-package.sh), builds the release
# npm package (pkg/) and the relay, then starts (www/dev-server.mjs):
#   - the vendor sandbox (`ordersync-sandbox`), playing CibleR and CitrusAd;
#   - the relay (`ordersync-relay serve`): SQLite outbox in .ordersync/ (fresh at each start),
#     signed checkouts only, vendor keys pointing at the sandbox, CORS origin = the shop's;
#   - the shop's web server: the order-confirmation page (checkouts signed with `jose`), the
#     relay proxied on the shop's own origin under /ordersync, and the inspector.
# Prints the URLs and runs until Ctrl-C, then stops everything it started.
#
# The relay is built in the debug profile: the workspace's release profile is tuned for the
# WebAssembly module (opt-level "z", fat LTO, one codegen unit), which makes a release build of
# the relay's ~300 crates much slower on a fresh machine, and `npm test` builds the debug relay
# anyway, so the two commands share one build. A debug relay is plenty for a demo's traffic.
#
# Settings: PORT (8080), RELAY_PORT (8787), SANDBOX_PORT (8788), ORDERSYNC_RELAY_BIN (a relay
# binary to use instead of building one), ORDERSYNC_DEMO_DIR (.ordersync: the outbox and logs),
# ORDERSYNC_DEMO_NO_BUILD=1 (start with what is already built).
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${PORT:-8080}"
RELAY_PORT="${RELAY_PORT:-8787}"
SANDBOX_PORT="${SANDBOX_PORT:-8788}"
data_dir="${ORDERSYNC_DEMO_DIR:-.ordersync}"

say() { printf '[demo] %s\n' "$*" >&2; }

relay_bin="${ORDERSYNC_RELAY_BIN:-}"
if [ -n "${ORDERSYNC_DEMO_NO_BUILD:-}" ]; then
  # A quick restart (and the end-to-end test of this script): use what is already built.
  relay_bin="${relay_bin:-target/debug/ordersync-relay}"
  [ -f pkg/ordersync.js ] && [ -x "$relay_bin" ] || { say "ORDERSYNC_DEMO_NO_BUILD: pkg/ or $relay_bin is not built"; exit 1; }
else
  say "building the npm package (pkg/)"
  bash scripts/build-package.sh
  if [ -z "$relay_bin" ]; then
    say "building the relay and the vendor sandbox (cargo build; a few minutes the first time)"
    cargo build -p ordersync-relay -p ordersync-sandbox --locked --quiet
    relay_bin=target/debug/ordersync-relay
  fi
  # The Vite example (served under /vite/) is built when its packages are installed
  # (scripts/setup.sh e2e, which `npm test` runs); the demo does not need it.
  if [ -x examples/vite-app/node_modules/.bin/vite ]; then
    bash scripts/build-vite-example.sh >/dev/null || say "the Vite example did not build; /vite/ will say so"
  fi
fi

# Every demo starts from an empty outbox and fresh logs.
mkdir -p "$data_dir"
rm -f "$data_dir"/demo.db "$data_dir"/demo.db-wal "$data_dir"/demo.db-shm "$data_dir"/relay.log "$data_dir"/sandbox.log

# The server runs in a process group of its own, with the relay and the sandbox it spawns, so
# that whatever happens to it, stopping the group stops them all: no orphan keeps a port.
setsid node www/dev-server.mjs --port "$PORT" --relay-bin "$relay_bin" --data-dir "$data_dir" \
  --relay-port "$RELAY_PORT" --sandbox-port "$SANDBOX_PORT" &
server_pid=$!
stop() {
  trap - EXIT INT TERM
  # The server stops the relay and the sandbox gracefully on SIGTERM; then the group, in case.
  kill -TERM "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  kill -TERM -- "-$server_pid" 2>/dev/null || true
}
trap stop EXIT INT TERM
say "Ctrl-C stops the shop server, the relay and the sandbox"
wait "$server_pid"
