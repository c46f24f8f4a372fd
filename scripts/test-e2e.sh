#!/usr/bin/env bash
# End-to-end tests (tests/e2e/, Node's test runner + playwright-core + Debian's Chromium) against
# the real processes: the release npm package, the relay and its vendor sandbox, the demo's shop
# server, and a Vite-built app that installs ordersync from the packed package.
#
# Prepares what they need (scripts/setup.sh e2e; the package; the debug relay, shared with
# `cargo test`; npm pack + vite build of examples/vite-app), runs every test file one after the
# other in a process group of its own (so nothing it started can outlive it), bounded in time,
# and ends with `e2e: N passed, N failed`. Exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."

SUITE_TIMEOUT_SECONDS="${ORDERSYNC_E2E_TIMEOUT:-280}"
log_dir=test-output/e2e
mkdir -p "$log_dir"
say() { printf '[test-e2e] %s\n' "$*" >&2; }
fail_early() {
  say "$1"
  echo "e2e: 0 passed, 1 failed"
  exit 1
}

bash scripts/setup.sh e2e || fail_early "set-up failed"
bash scripts/build-package.sh || fail_early "the package did not build"
cargo build -p ordersync-relay -p ordersync-sandbox --locked --quiet || fail_early "the relay did not build"

bash scripts/build-vite-example.sh || fail_early "the Vite example did not build"

log="$log_dir/node-test.tap"
say "running tests/e2e/*.test.mjs (log: $log, screenshots: $log_dir/)"
setsid timeout --kill-after=10 "$SUITE_TIMEOUT_SECONDS" \
  node --test --test-concurrency=1 --test-reporter=tap tests/e2e/*.test.mjs >"$log" 2>&1 &
group=$!
tail -n +1 -f --pid="$group" "$log"
wait "$group"
status=$?
# Whatever a crashed or timed-out run left behind (relay, sandbox, Chromium) goes with it.
kill -KILL -- "-$group" 2>/dev/null || true
[ "$status" -eq 124 ] && say "the suite ran out of time (${SUITE_TIMEOUT_SECONDS}s)"

passed=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$log" | tail -1)
failed=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$log" | tail -1)
passed=${passed:-0}
failed=${failed:-0}
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "e2e: $passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
