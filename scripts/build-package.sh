#!/usr/bin/env bash
# Builds the npm package into pkg/, on stable Rust, with no step that depends on the text of
# generated files:
# 1. the module: `cargo rustc` for wasm32-unknown-unknown with the size profile `wasm-release`
#    (Cargo.toml: opt-level "z", fat LTO, one codegen unit, panic = abort), as a cdylib only
#    (built as cdylib + rlib together, Cargo.toml's list, which the tests need, LTO keeps code
#    it could otherwise internalise and drop), in its own target dir so it never waits on the
#    relay's build lock;
# 2. wasm-bindgen's web-target glue and TypeScript types (the CLI matches Cargo.lock's pin);
# 3. wasm-opt -Oz from the npm `binaryen` package (Debian's binaryen 108 produces modules
#    current wasm-bindgen glue rejects), with the wasm features Rust's output uses;
# 4. terser over the glue (comments, whitespace and local names go; the exports, the wasm
#    import names and the `@ts-self-types` comment stay; the docs stay in ordersync.d.ts).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh build

export CARGO_TARGET_DIR="${ORDERSYNC_WASM_TARGET_DIR:-target/wasm}"
cargo rustc --profile wasm-release --target wasm32-unknown-unknown -p ordersync --lib \
  --crate-type cdylib --locked --quiet

out=pkg
rm -rf "$out"
wasm-bindgen --target web --out-dir "$out" \
  "$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm-release/ordersync.wasm"
node_modules/.bin/wasm-opt -Oz --strip-debug --strip-producers \
  --enable-bulk-memory --enable-bulk-memory-opt --enable-nontrapping-float-to-int \
  --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
  "$out/ordersync_bg.wasm" -o "$out/ordersync_bg.wasm"

node_modules/.bin/terser "$out/ordersync.js" --module --compress passes=2 --mangle \
  --comments '/@ts-self-types/' --output "$out/ordersync.min.js"
mv "$out/ordersync.min.js" "$out/ordersync.js"
node --check "$out/ordersync.js"
echo "built $out/: $(cd "$out" && ls | tr '\n' ' ')" >&2
