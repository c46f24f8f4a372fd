#!/usr/bin/env bash
# Every test of ordersync (behind `npm test`): set-up, lint, the pure core and the relay
# (native, real SQLite, real processes over real HTTP), then the browser module in headless
# Chromium, headless Firefox and Node, and the ad-block filter check.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh all

step() { printf '\n==> %s\n' "$*"; }

step "format and lint"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "core and relay (native)"
cargo test --workspace --exclude ordersync --locked

step "browser module (Chromium, Firefox, Node) and ad-block filters"
bash scripts/test-browser.sh
