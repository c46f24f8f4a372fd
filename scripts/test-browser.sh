#!/usr/bin/env bash
# The browser module's tests: the TypeScript types (tsc --strict); wasm-bindgen-test suites in
# headless Chromium, headless Firefox and Node against a local test server (and the hostile-input
# suite, tests/hostile.rs, in both browsers); the native tests
# (unit tests and the ad-blocker filter check of pkg/ and www/ names and request paths); and
# end-to-end checks of the built package in Chromium (tests/package-e2e.mjs). Runs every
# suite even when one fails, prints each runner's summary, exits non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."

need_setup=
for tool in wasm-bindgen-test-runner chromium chromedriver firefox-esr geckodriver node brotli; do
  command -v "$tool" >/dev/null || need_setup=1
done
if [ -n "$need_setup" ]; then
  echo "[test-browser] a tool is missing: running scripts/setup.sh" >&2
  bash scripts/setup.sh all || exit 1
fi
for tool in wasm-bindgen-test-runner chromium chromedriver firefox-esr geckodriver node; do
  command -v "$tool" >/dev/null || { echo "[test-browser] $tool not found after setup" >&2; exit 1; }
done

bash scripts/build-package.sh || exit 1

export CARGO_TARGET_DIR="${ORDERSYNC_WASM_TARGET_DIR:-target/wasm}"
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-120}"
unset CHROMEDRIVER GECKODRIVER SAFARIDRIVER

log_dir=test-output/browser
mkdir -p "$log_dir"
node tests/support/test-server.mjs --max-seconds 1200 >"$log_dir/server.log" 2>&1 &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null' EXIT
for _ in $(seq 1 100); do
  grep -q '^listening ' "$log_dir/server.log" 2>/dev/null && break
  sleep 0.1
done
ORDERSYNC_TEST_SERVER=$(sed -n 's/^listening //p' "$log_dir/server.log" | head -1)
if [ -z "$ORDERSYNC_TEST_SERVER" ]; then
  echo "[test-browser] the test server did not start:" >&2
  cat "$log_dir/server.log" >&2
  exit 1
fi
export ORDERSYNC_TEST_SERVER
echo "[test-browser] test server at $ORDERSYNC_TEST_SERVER" >&2

failed=()
summaries=()
run() {
  local name=$1
  shift
  echo "[test-browser] === $name ===" >&2
  if "$@" 2>&1 | tee "$log_dir/$name.log"; then
    :
  fi
  local status=${PIPESTATUS[0]}
  local summary
  summary=$(grep -E '^(test result:|types:|# (pass|fail) )' "$log_dir/$name.log" | tr '\n' ' ')
  summaries+=("$name: ${summary:-no summary} (exit $status)")
  [ "$status" -eq 0 ] || failed+=("$name")
}

wasm_test() { cargo test --target wasm32-unknown-unknown -p ordersync --test "$1"; }

run types bash -c 'node_modules/.bin/tsc -p tests/types/tsconfig.json && echo "types: 1 passed, 0 failed"'
run native cargo test -p ordersync --lib --test filters
run node wasm_test node
run chromium env CHROMEDRIVER=/usr/bin/chromedriver bash -c "$(declare -f wasm_test); wasm_test browser"
run firefox env GECKODRIVER="$(command -v geckodriver)" bash -c "$(declare -f wasm_test); wasm_test browser"
# Hostile options, pages and queues (tests/hostile.rs), in both browsers.
run hostile-chromium env CHROMEDRIVER=/usr/bin/chromedriver bash -c "$(declare -f wasm_test); wasm_test hostile"
run hostile-firefox env GECKODRIVER="$(command -v geckodriver)" bash -c "$(declare -f wasm_test); wasm_test hostile"
run package-e2e node --test tests/package-e2e.mjs

echo "[test-browser] summaries:"
for line in "${summaries[@]}"; do echo "  $line"; done
if [ ${#failed[@]} -gt 0 ]; then
  echo "[test-browser] FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "[test-browser] all browser-module suites passed"
