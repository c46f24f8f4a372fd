#!/usr/bin/env bash
# Builds the npm package into pkg/: the release .wasm (own target dir, so it never waits on the
# relay's build lock), wasm-bindgen's web-target glue and types, then wasm-opt -Oz from the npm
# `binaryen` package (Debian's binaryen 108 produces modules current wasm-bindgen glue rejects).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh build

export CARGO_TARGET_DIR="${ORDERSYNC_WASM_TARGET_DIR:-target/wasm}"
# cdylib only: built as cdylib + rlib together (Cargo.toml's list, which the tests need), the
# module keeps ~11 KB more code (3.6 KB brotli) that LTO can no longer internalise and drop.
#
# std is rebuilt from the rust-src component with immediate-abort panics (size budget): with
# the prebuilt std, `panic = "abort"` still links the panic hook, its message formatting and
# `core::fmt` (about 2 KB brotli). Both flags are unstable; RUSTC_BOOTSTRAP=1 enables them on
# the stable toolchain for this one build only (the tests and every other build use plain
# stable). The first build compiles std too (a few minutes); later ones reuse it.
RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort" \
  cargo rustc --profile wasm-release --target wasm32-unknown-unknown -p ordersync --lib --crate-type cdylib \
  -Zbuild-std=std,panic_abort --quiet

out=pkg
rm -rf "$out"
wasm-bindgen --target web --out-dir "$out" \
  "$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm-release/ordersync.wasm"
node_modules/.bin/wasm-opt -Oz --strip-debug --strip-producers \
  "$out/ordersync_bg.wasm" -o "$out/ordersync_bg.wasm"

# Size budget: src/orchestrate.js (the hand-written browser-API plumbing that Rust imports as a
# wasm-bindgen snippet) is inlined into the glue, so a page still loads two files and makes no
# third sequential request. Its top-level names all start with `os` (no clash with the glue's:
# a clash would be a SyntaxError, caught by `node --check` below); `export` is dropped, and the
# glue's `import ... from './snippets/...'` lines become a plain object of its functions.
node --input-type=module - "$out" <<'JS'
import { readFileSync, writeFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
const out = process.argv[2];
const files = readdirSync(join(out, "snippets"), { recursive: true }).filter((f) => f.endsWith(".js"));
if (files.length !== 1) throw new Error(`expected one snippet in ${out}/snippets, found ${files.length}`);
const snippet = readFileSync(join(out, "snippets", files[0]), "utf8");
const names = [...snippet.matchAll(/^export function (\w+)/gm)].map((m) => m[1]);
const body = snippet.replace(/^export function /gm, "function ");
if (/^\s*(export|import)\b/m.test(body)) throw new Error("the snippet has other imports or exports: inline it by hand");
const gluePath = join(out, "ordersync.js");
let glue = readFileSync(gluePath, "utf8");
let inlined = false;
glue = glue
  .replace(/^import \{[^}]*\} from ['"]\.\/snippets\/[^'"]+['"];?\n/gm, () => {
    inlined = true;
    return "";
  })
  .replace(/^import \* as (\w+) from ['"]\.\/snippets\/[^'"]+['"];?\n/gm, (_, ns) => {
    inlined = true;
    return `const ${ns} = { __proto__: null, ${names.join(", ")} };\n`;
  });
if (!inlined || /from ['"]\.\/snippets\//.test(glue)) throw new Error("the glue's snippet imports were not all replaced");
const header = glue.match(/^\/\*.*\*\/\n/)?.[0] ?? "";
writeFileSync(gluePath, header + body + glue.slice(header.length));
rmSync(join(out, "snippets"), { recursive: true });
JS

# Size budget: the glue a page loads (wasm-bindgen's and src/orchestrate.js) minified with terser
# (npm, pinned): comments, whitespace and local names go; exports, string keys (the wasm import
# names) and the `@ts-self-types` comment stay. The docs stay in ordersync.d.ts.
node_modules/.bin/terser "$out/ordersync.js" --module --compress passes=2 --mangle \
  --comments '/@ts-self-types/' --output "$out/ordersync.min.js"
mv "$out/ordersync.min.js" "$out/ordersync.js"
node --check "$out/ordersync.js"
echo "built $out/: $(cd "$out" && ls | tr '\n' ' ')" >&2
