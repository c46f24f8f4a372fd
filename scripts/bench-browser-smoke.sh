#!/usr/bin/env bash
# Smoke run of the browser benchmarks (a few seconds each, loopback only), for `npm test`:
# - bench/browser/peers.mjs --quick: ordersync's release files and one page load (measures
#   ordersync only: installing the peers needs the npm registry and minutes, so the full
#   comparison runs only as the benchmark itself);
# - bench/browser/loads.mjs --quick: 3 first-visit and 3 repeat-visit page loads.
# Needs pkg/ (npm run build) and Chromium (scripts/setup.sh). Exits non-zero if either fails.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ ! -f pkg/ordersync_bg.wasm ]; then
  bash scripts/build-package.sh || exit 1
fi
failed=0
for script in bench/browser/peers.mjs bench/browser/loads.mjs; do
  echo "[bench-browser-smoke] node $script --quick" >&2
  if timeout 120 node "$script" --quick >/dev/null; then
    echo "[bench-browser-smoke] $script: ok" >&2
  else
    echo "[bench-browser-smoke] $script: FAILED" >&2
    failed=$((failed + 1))
  fi
done
echo "bench-browser-smoke: $((2 - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
