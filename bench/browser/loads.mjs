// ordersync over real page loads in headless Chromium, beside the floor: a plain `fetch` of
// the same hand-off.
//
//   node bench/browser/loads.mjs [--loads 50] [--quick] [--js-flags "--no-wasm-lazy-compilation"]
//
// Each load is a fresh navigation of a confirmation page served over loopback. Two kinds:
// "first visit" (a new browser context per load: empty HTTP cache, no compiled-code cache)
// and "repeat visit" (one context, the page reloaded: what a shopper's second order sees).
// On each load the page measures, with performance.now():
//   - import: `import("/pkg/ordersync.js")` (fetch + parse the JS glue);
//   - init(): fetch, compile and instantiate the .wasm, run the start function;
//   - reportOrder (1-item order, policy "always", so two requests go out): call -> both
//     requests issued (a fetch wrapper notes when each request is handed to fetch), call ->
//     promise returned (how long the page is blocked), call -> report resolved;
//   - the floor: the same two requests issued by hand-written JavaScript (JSON.stringify of
//     the same hand-off body, fetch POST with keepalive; fetch GET of the same third-o URL,
//     no-cors), measured the same way.
// The module and the floor run in alternating order from load to load, so neither always
// gets the warmer network stack. Endpoints: a stand-in relay answering 202 and a third-o
// endpoint answering 200, on the same loopback server (bench/browser/peers-harness.mjs).
// Needs pkg/ built (npm run build). --quick: 3 loads of each kind (the smoke run).
// --js-flags: V8 flags for a diagnostic run (with --no-wasm-lazy-compilation V8 compiles every
// wasm function during init() instead of on its first call, which shows how much of a first
// visit's reportOrder is compiling the code it runs).
import path from "node:path";
import { fileURLToPath } from "node:url";
import { existsSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { startServer, launchChromium, stats, machine, argValue } from "./peers-harness.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const QUICK = process.argv.includes("--quick");
const LOADS = Number(argValue("--loads", QUICK ? 3 : 50));
const JS_FLAGS = argValue("--js-flags", null);

for (const f of ["pkg/ordersync.js", "pkg/ordersync_bg.wasm"]) {
  if (!existsSync(path.join(ROOT, f))) {
    console.error(`${f} is missing: run npm run build first`);
    process.exit(1);
  }
}

const PAGE = `<!doctype html><meta charset="utf-8"><title>order confirmed</title>
<h1>Thank you for your order</h1>
<script type="module">
const issued = [];
const realFetch = window.fetch;
window.fetch = function (input) {
  issued.push(performance.now());
  return realFetch.apply(window, arguments);
};
const params = new URLSearchParams(location.search);
const checkout = (orderId) => ({
  orderId, orderDate: "2026-11-22T10:00:00Z", email: "ann@example.com", country: "FR", customerGuid: "g-1",
  sessionId: "s-1", totalSpent: "4.25", taxes: "0.71", shippingCost: "0",
  items: [{ gtin: "3017620422003", quantity: 1, regularUnitPrice: "4.25", totalOrderItemPriceAfterDiscounts: "4.25" }],
});
const citrus = { baseUrl: location.origin + "/citrus", publishableKey: "pk_bench", teamId: "t", catalogId: "c", frontend: "always" };

const t0 = performance.now();
const module = await import("/pkg/ordersync.js");
const t1 = performance.now();
await module.default();
const t2 = performance.now();
const result = { importMs: t1 - t0, initMs: t2 - t1 };

async function viaModule() {
  localStorage.clear();
  issued.length = 0;
  const options = { relayUrl: "/ordersync", checkout: checkout(params.get("id") + "1"), citrus };
  const start = performance.now();
  const promise = module.reportOrder(options);
  const returned = performance.now();
  const report = await promise;
  const resolved = performance.now();
  result.moduleIssued = issued.length;
  result.moduleBoth = Math.max(...issued) - start;
  result.moduleBlocking = returned - start;
  result.moduleResolved = resolved - start;
  result.status = report.relay.status + "/" + report.pixel.status;
  result.pixelUrl = report.pixel.url;
}

async function viaPlainFetch() {
  issued.length = 0;
  // The third-o URL of the same order, built beforehand: the floor only issues requests.
  const pixelUrl = module.thirdOUrl({ checkout: checkout(params.get("id") + "2"), citrus }).url;
  const handoff = { checkout: checkout(params.get("id") + "2"), cookieId: null };
  const start = performance.now();
  const relay = fetch("/ordersync/v1/checkouts", { method: "POST", body: JSON.stringify(handoff), keepalive: true });
  fetch(pixelUrl, { mode: "no-cors", keepalive: true });
  const response = await relay;
  await response.text();
  const resolved = performance.now();
  result.floorIssued = issued.length;
  result.floorBoth = Math.max(...issued) - start;
  result.floorResolved = resolved - start;
}

if (params.get("moduleFirst") === "1") {
  await viaModule();
  await viaPlainFetch();
} else {
  await viaPlainFetch();
  await viaModule();
}
window.__result = result;
</script>`;

const server = await startServer({
  pages: new Map([["/confirm.html", PAGE]]),
  files: (p) => (p.startsWith("/pkg/") ? path.join(ROOT, p) : null),
});
const browser = await launchChromium(JS_FLAGS ? [`--js-flags=${JS_FLAGS}`] : []);
const samples = { first: [], repeat: [] };
const problems = [];

async function load(page, kind, index) {
  const id = `${Date.now()}${index}`;
  await page.goto(`${server.base}/confirm.html?id=${id}&moduleFirst=${index % 2}`);
  const result = await page.waitForFunction(() => window.__result, null, { timeout: 20000 }).then((h) => h.jsonValue());
  if (result.status !== "accepted/sent" || result.moduleIssued !== 2 || result.floorIssued !== 2) {
    problems.push({ kind, index, status: result.status, moduleIssued: result.moduleIssued, floorIssued: result.floorIssued });
  }
  samples[kind].push(result);
}

const started = new Date();
try {
  for (let i = 0; i < LOADS; i++) {
    const context = await browser.newContext();
    await load(await context.newPage(), "first", i);
    await context.close();
  }
  const context = await browser.newContext();
  const page = await context.newPage();
  await load(page, "repeat", -1); // fills the caches; not counted
  samples.repeat.length = 0;
  for (let i = 0; i < LOADS; i++) await load(page, "repeat", i);
  await context.close();
} finally {
  await browser.close();
  server.close();
}

let head = "unknown";
try {
  head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT }).toString().trim();
} catch {
  // not a git checkout
}
console.log(`Chromium ${browser.version()} headless${JS_FLAGS ? ` (--js-flags=${JS_FLAGS})` : ""}, ${machine()}, ${LOADS} loads of each kind, ${started.toISOString()}, tree ${head} (pkg/ as built)`);
const metrics = [
  ["importMs", "import(\"/pkg/ordersync.js\") (JS glue)"],
  ["initMs", "init() (fetch + compile + instantiate .wasm)"],
  ["moduleBoth", "reportOrder: call -> both requests issued"],
  ["floorBoth", "floor, plain fetch: start -> both issued"],
  ["moduleBlocking", "reportOrder: call -> promise returned"],
  ["moduleResolved", "reportOrder: call -> report resolved"],
  ["floorResolved", "floor: start -> relay response read"],
];
const summary = {};
for (const kind of ["first", "repeat"]) {
  console.log(`\n${kind} visit | metric (ms)                                  | median |    p95 |    min |    max`);
  summary[kind] = {};
  for (const [key, label] of metrics) {
    const s = stats(samples[kind].map((r) => r[key]));
    summary[kind][key] = s;
    const f = (v) => v.toFixed(2).padStart(7);
    console.log(`${kind.padEnd(12)} | ${label.padEnd(44)} |${f(s.median)} |${f(s.p95)} |${f(s.min)} |${f(s.max)}`);
  }
  const over = stats(samples[kind].map((r) => r.moduleBoth - r.floorBoth));
  summary[kind].overFloor = over;
  console.log(`${kind.padEnd(12)} | ${"module minus floor, per load (both issued)".padEnd(44)} |${over.median.toFixed(2).padStart(7)} |${over.p95.toFixed(2).padStart(7)} |`);
}
console.log(`\nloads whose report was not accepted/sent, or that issued other than 2+2 requests: ${problems.length}`, problems.slice(0, 5));
console.log(`relay hand-offs received by the stand-in endpoint: ${server.state.handoffs}`);
console.log(`JSON ${JSON.stringify({ date: started.toISOString(), loads: LOADS, head, summary, problems })}`);
if (problems.length) process.exit(1);
