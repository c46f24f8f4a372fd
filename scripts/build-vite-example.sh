#!/usr/bin/env bash
# Builds examples/vite-app (served by the demo under /vite/) against the package as a shop
# installs it: `npm pack` of the repository (only the files package.json ships), installed into
# the example without recording it (its lockfile pins Vite's tree only), then `vite build`.
# Needs pkg/ built and the example's packages installed (scripts/setup.sh e2e).
set -euo pipefail
cd "$(dirname "$0")/.."

pack_dir=target/npm-pack
rm -rf "$pack_dir" && mkdir -p "$pack_dir"
tarball=$(npm pack --pack-destination "$pack_dir" --silent 2>/dev/null | tail -1)
[ -f "$pack_dir/$tarball" ] || { echo "npm pack produced no tarball" >&2; exit 1; }
cd examples/vite-app
npm install --no-save --no-audit --no-fund --loglevel=error "../../$pack_dir/$tarball"
node_modules/.bin/vite build --logLevel warn
