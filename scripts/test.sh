#!/usr/bin/env bash
# Every test of ordersync (behind `npm test`): set-up, lint, the pure core and the relay
# (native; real SQLite and PostgreSQL; real processes over real HTTP against the vendor
# sandbox), the browser module in headless Chromium, headless Firefox and Node with the
# ad-block filter check, the end-to-end tests in Chromium against the real demo stack, and a
# quick smoke run of every benchmark script. Runs every stage even when one fails, then exits
# non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh all || exit 1

failed=()
stage() {
  local name=$1
  shift
  printf '\n==> %s\n' "$name"
  "$@" || failed+=("$name")
}

stage "format" cargo fmt --all -- --check
stage "lint" cargo clippy --workspace --all-targets --locked -- -D warnings
stage "core and relay (native, SQLite, PostgreSQL)" cargo test --workspace --exclude ordersync --locked
stage "browser module (Chromium, Firefox, Node, filters)" bash scripts/test-browser.sh
stage "end-to-end (Chromium, demo stack, Vite app)" bash scripts/test-e2e.sh
stage "benchmark smoke (relay, reliability, fuzz)" bash scripts/bench-smoke.sh
stage "benchmark smoke (browser)" bash scripts/bench-browser-smoke.sh

printf '\n'
if [ ${#failed[@]} -gt 0 ]; then
  printf 'npm test: FAILED stages: %s\n' "${failed[*]}"
  exit 1
fi
printf 'npm test: every stage passed\n'
