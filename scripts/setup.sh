#!/usr/bin/env bash
# Idempotent set-up for a fresh machine of this kind: everything the build, the demo and the
# tests need. Fast when already done: each step checks before it installs.
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_BINDGEN_VERSION=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock 2>/dev/null | sed -n 's/^version = "\(.*\)"/\1/p' | head -1 || true)
WASM_BINDGEN_VERSION=${WASM_BINDGEN_VERSION:-0.2.130}
GECKODRIVER_VERSION=0.37.1

log() { printf '[setup] %s\n' "$*" >&2; }

ensure_wasm_target() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    log "adding Rust target wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
  fi
}

ensure_wasm_bindgen_cli() {
  if ! command -v wasm-bindgen >/dev/null || [ "$(wasm-bindgen --version | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
    log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (matches Cargo.lock; a few minutes once)"
    # --locked fails on this registry mirror (a pinned transitive version is missing).
    cargo install wasm-bindgen-cli --version "=$WASM_BINDGEN_VERSION" --force
  fi
}

apt_updated=
apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ -z "$apt_updated" ]; then apt-get update -qq; apt_updated=1; fi
  log "installing Debian packages: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_browsers() {
  apt_install chromium chromium-driver firefox-esr brotli
  if ! command -v geckodriver >/dev/null; then
    log "installing geckodriver $GECKODRIVER_VERSION"
    cargo install geckodriver --version "=$GECKODRIVER_VERSION" --locked
  fi
}

ensure_npm_packages() {
  if [ -f package-lock.json ] && { [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; }; then
    log "installing npm packages (npm ci)"
    npm ci --no-audit --no-fund --loglevel=error
  fi
}

# The relay's end-to-end tests sign checkouts with PyJWT (another language's standard JWT
# library) to prove interoperability: a virtual environment at target/e2e-venv.
ensure_pyjwt_venv() {
  local venv=target/e2e-venv requirements=crates/relay/tests/requirements.txt
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import jwt' 2>/dev/null \
     || [ "$requirements" -nt "$venv/.installed" ]; then
    log "installing PyJWT for the relay's end-to-end tests ($venv)"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    touch "$venv/.installed"
  fi
}

# --- PostgreSQL server for the relay's multi-instance tests --------------------------------
# Debian's server binaries (/usr/lib/postgresql/<version>/bin) and the `postgres` user the
# tests run them as. Only the binaries: the tests create, start and stop their own throwaway
# clusters on loopback (crates/relay/tests/common/postgres.rs); the package's own default
# cluster is not started here.
ensure_postgres() {
  apt_install postgresql
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    log "postgresql installed but no /usr/lib/postgresql/*/bin/initdb found" >&2
    return 1
  fi
}
# ---------------------------------------------------------------------------------------------

# --- nginx for the reverse-proxy test ------------------------------------------------------
# Debian's nginx, as a shop would put it in front of the relay: the test runs its own nginx in
# the foreground with the README's configuration (crates/relay/tests/e2e_reverse_proxy.rs).
# The package's own service is not started (and not needed).
ensure_nginx() {
  apt_install nginx
}
# ---------------------------------------------------------------------------------------------

# --- Benchmarks only (`scripts/setup.sh bench`; not part of `all`) -------------------------
# The load generator (wrk, Debian), cargo-fuzz (crates.io; bench/fuzz.sh says how it runs on
# the stable toolchain: fuzzing is a developer's tool, never part of a build), and schemathesis in a virtual environment at target/bench-venv, pinned by
# bench/requirements.txt. See bench/README.md.
CARGO_FUZZ_VERSION=0.13.2

ensure_bench_tools() {
  apt_install wrk
  if ! command -v cargo-fuzz >/dev/null || [ "$(cargo-fuzz --version 2>/dev/null | awk '{print $2}')" != "$CARGO_FUZZ_VERSION" ]; then
    log "installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install cargo-fuzz --version "=$CARGO_FUZZ_VERSION" --locked
  fi
  local venv=target/bench-venv requirements=bench/requirements.txt
  if [ ! -x "$venv/bin/schemathesis" ] || [ "$requirements" -nt "$venv/.installed" ]; then
    log "installing schemathesis for the benchmarks ($venv)"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    touch "$venv/.installed"
  fi
}
# ---------------------------------------------------------------------------------------------

# --- End-to-end tests (`scripts/setup.sh e2e`, run by scripts/test-e2e.sh) -----------------
# The Vite example app's own npm packages (vite@7: Vite 8 does not install here), pinned by
# examples/vite-app/package-lock.json. `npm install`, not `npm ci`: the registry mirror lacks
# some of rollup's optional per-platform packages, so the lock cannot list them and `npm ci`
# refuses it; `npm install` installs exactly the lock's versions and leaves it unchanged.
ensure_vite_example() {
  local app=examples/vite-app
  if [ ! -x "$app/node_modules/.bin/vite" ] || [ "$app/package-lock.json" -nt "$app/node_modules/.package-lock.json" ]; then
    log "installing the Vite example's npm packages ($app)"
    (cd "$app" && npm install --no-audit --no-fund --loglevel=error)
  fi
}
# ---------------------------------------------------------------------------------------------

case "${1:-all}" in
  build) ensure_wasm_target; ensure_wasm_bindgen_cli; ensure_npm_packages ;;
  all) ensure_wasm_target; ensure_wasm_bindgen_cli; ensure_browsers; ensure_npm_packages; ensure_pyjwt_venv; ensure_postgres; ensure_nginx ;;
  bench) ensure_bench_tools ;;
  e2e) ensure_wasm_target; ensure_wasm_bindgen_cli; ensure_browsers; ensure_npm_packages; ensure_vite_example ;;
  postgres) ensure_postgres ;;
  *) echo "usage: $0 [build|all|bench|postgres|e2e]" >&2; exit 2 ;;
esac
