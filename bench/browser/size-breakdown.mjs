// Where the browser module's bytes go, by crate: the release .wasm (as scripts/build-package.sh
// builds it, so run `npm run build` first) put through wasm-bindgen and wasm-opt -Oz again with
// its function names kept, then `twiggy top` (cargo install twiggy), each function's bytes
// summed by the crate its name starts with. Generic code is counted where it was written
// (serde's visitor code under serde_core, even when instantiated for ordersync's types), and
// code inlined into an export's shim is counted as "exports". Also prints the largest items.
//
//   node bench/browser/size-breakdown.mjs [--top 25]
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const target = process.env.ORDERSYNC_WASM_TARGET_DIR ?? path.join(ROOT, "target/wasm");
const built = path.join(target, "wasm32-unknown-unknown/wasm-release/ordersync.wasm");
const topIndex = process.argv.indexOf("--top");
const TOP = topIndex > 0 ? Number(process.argv[topIndex + 1]) : 25;
const FEATURES = ["bulk-memory", "bulk-memory-opt", "nontrapping-float-to-int", "sign-ext", "mutable-globals",
  "reference-types", "multivalue"].map((f) => `--enable-${f}`);

if (!existsSync(built)) {
  console.error(`${built} is missing: run npm run build first`);
  process.exit(1);
}
const dir = mkdtempSync(path.join(os.tmpdir(), "ordersync-size-"));
try {
  execFileSync("wasm-bindgen", ["--target", "web", "--keep-debug", "--out-dir", dir, built]);
  const named = path.join(dir, "named.wasm");
  execFileSync(path.join(ROOT, "node_modules/.bin/wasm-opt"),
    ["-Oz", "--debuginfo", ...FEATURES, path.join(dir, "ordersync_bg.wasm"), "-o", named]);
  const csv = execFileSync("twiggy", ["top", "-n", "1000000", "-f", "csv", named], { encoding: "utf8", maxBuffer: 1 << 26 });
  const rows = csv.trim().split("\n").slice(1).map((line) => {
    const match = line.match(/^(.*),(\d+),[\d.]+,[\d.]*,[\d.]*$/);
    return { name: match[1].replace(/^"|"$/g, "").replace(/""/g, '"'), bytes: Number(match[2]) };
  }).filter((row) => !row.name.startsWith('"function names"') && !row.name.startsWith("\"function names"));
  const crates = ["ordersync_core", "ordersync", "gloo_net", "gloo_utils", "http", "serde_wasm_bindgen", "serde_core", "serde", "wasm_bindgen_futures",
    "js_sys", "web_sys", "wasm_bindgen", "base64", "lol_alloc", "hashbrown", "alloc", "core", "std"];
  const crateOf = (name) => {
    if (name.startsWith("function names")) return null;
    if (name.startsWith("data segment")) return "data segments (strings, tables)";
    if (name.includes("externref shim")) return "exports (wasm-bindgen shims, with the code inlined into them)";
    if (/^(__wbg|__wbindgen|__externref|import )/.test(name)) return "wasm-bindgen imports and runtime";
    if (/js_sys::futures|wasm_bindgen_futures/.test(name)) return "wasm_bindgen_futures";
    if (/core\[[0-9a-f]+\]::(fmt|num::flt2dec|num::bignum)|<f64 as core|escape_debug/.test(name)) return "core::fmt (formatting, incl. floats)";
    for (const crate of crates) {
      if (new RegExp(`(^|[<&\\s(])${crate}(\\[[0-9a-f]+\\])?::`).test(name)) return crate;
    }
    return "other (custom sections, tables, compiler builtins)";
  };
  const sums = new Map();
  let total = 0;
  for (const { name, bytes } of rows) {
    const crate = crateOf(name);
    if (!crate) continue;
    sums.set(crate, (sums.get(crate) ?? 0) + bytes);
    total += bytes;
  }
  console.log(`| crate | bytes (wasm, -Oz) | share |\n|---|---:|---:|`);
  for (const [crate, bytes] of [...sums].sort((a, b) => b[1] - a[1])) {
    console.log(`| ${crate} | ${bytes.toLocaleString("en")} | ${((100 * bytes) / total).toFixed(1)} % |`);
  }
  console.log(`| total (without the names section) | ${total.toLocaleString("en")} | |\n`);
  console.log(`largest items:`);
  for (const { name, bytes } of rows.sort((a, b) => b.bytes - a.bytes).slice(0, TOP)) {
    console.log(`${String(bytes).padStart(7)}  ${name.slice(0, 110)}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
