// Prints the raw, gzip (-9) and brotli (-q 11) bytes of each file a page loads from pkg/
// (the JS glue and the .wasm), their total, and how it compares with issue 17's budget (40 KB
// brotli) and target (28 KB, below Segment's load for one purchase).
// `npm run size` builds the release package first. `--check` exits 1 when over budget.
import { readFileSync, existsSync } from "node:fs";
import { gzipSync, brotliCompressSync, constants } from "node:zlib";

const BUDGET_BROTLI = 40_000; // "40 KB", read strictly
const TARGET_BROTLI = 28_000;
const loaded = ["pkg/ordersync.js", "pkg/ordersync_bg.wasm"];
const other = ["pkg/ordersync.d.ts"];

function sizes(path) {
  const raw = readFileSync(path);
  return {
    raw: raw.length,
    gzip: gzipSync(raw, { level: 9 }).length,
    brotli: brotliCompressSync(raw, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: 11,
        [constants.BROTLI_PARAM_SIZE_HINT]: raw.length,
      },
    }).length,
  };
}

const pad = (v, n) => String(v).padStart(n);
const row = (name, s) => console.log(`${name.padEnd(26)}${pad(s.raw, 9)}${pad(s.gzip, 9)}${pad(s.brotli, 9)}`);
console.log(`${"file".padEnd(26)}${pad("raw", 9)}${pad("gzip", 9)}${pad("brotli", 9)}`);
const total = { raw: 0, gzip: 0, brotli: 0 };
for (const path of loaded) {
  if (!existsSync(path)) {
    console.error(`${path} is missing: run npm run build`);
    process.exit(1);
  }
  const s = sizes(path);
  row(path, s);
  for (const k of Object.keys(total)) total[k] += s[k];
}
row("total (loaded by a page)", total);
for (const path of other) if (existsSync(path)) row(`${path} (not loaded)`, sizes(path));
const verdict = total.brotli <= BUDGET_BROTLI ? "within" : "OVER";
const target = total.brotli <= TARGET_BROTLI ? "within" : "over";
console.log(
  `brotli total ${total.brotli} bytes (${(total.brotli / 1024).toFixed(1)} KiB): ${verdict} the ${BUDGET_BROTLI}-byte budget, ` +
    `${target} the ${TARGET_BROTLI}-byte target`,
);
if (process.argv.includes("--check") && verdict === "OVER") process.exit(1);
