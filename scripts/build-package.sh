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

# Size budget: src/orchestrate.js (the module's public API and browser-API plumbing, which Rust
# imports as a wasm-bindgen snippet) is inlined into the glue, so a page still loads two files
# and makes no third sequential request. Its internal top-level names all start with `os` (no
# clash with the glue's: a clash would be a SyntaxError, caught by `node --check` below);
# `export` is dropped, the glue's `import ... from './snippets/...'` lines become a plain object
# of its functions, and its public functions (the exported names not starting with `os`:
# reportOrder, thirdOUrl, readCiblerId, flushQueue, declared in src/lib.rs's TypeScript
# section) become the package's exports beside wasm-bindgen's `init`.
node --input-type=module - "$out" <<'JS'
import { readFileSync, writeFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
const out = process.argv[2];
const files = readdirSync(join(out, "snippets"), { recursive: true }).filter((f) => f.endsWith(".js"));
if (files.length !== 1) throw new Error(`expected one snippet in ${out}/snippets, found ${files.length}`);
const snippet = readFileSync(join(out, "snippets", files[0]), "utf8");
const names = [...snippet.matchAll(/^export function (\w+)/gm)].map((m) => m[1]);
const api = names.filter((name) => !name.startsWith("os"));
if (api.length !== 4) throw new Error(`expected the four API functions in the snippet, found ${api}`);
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
// The public API calls the wasm's raw exports: the glue binds them as it instantiates the
// module, before the start function runs (src/lib.rs, `osBind`).
const start = "wasm.__wbindgen_start();";
if (glue.split(start).length !== 2) throw new Error(`expected one ${start} in the glue`);
glue = glue.replace(start, `osBind(wasm);\n    ${start}`);
writeFileSync(gluePath, header + body + glue.slice(header.length) + `export { ${api.join(", ")} };\n`);
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
