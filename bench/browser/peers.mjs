// ordersync's release files beside the trackers a shop would pick instead, in one run:
//
//   node bench/browser/peers.mjs [--loads 10] [--dir /tmp/some-folder] [--only a,b] [--quick]
//
// 1. Installs the current releases of the peers (and esbuild, pinned) with npm into a fresh
//    temporary folder (removed at exit), never the project's node_modules.
// 2. Bundles a minimal "track one purchase" page for each with esbuild (minified ESM, code
//    splitting on, so lazy `import()` chunks stay separate files) and prints raw, gzip -9 and
//    brotli -q 11 bytes: the entry and its static imports ("initial"), and every chunk.
//    ordersync's row is pkg/ordersync.js + pkg/ordersync_bg.wasm as `npm run build` makes them.
// 3. Loads each page in headless Chromium over loopback and counts what a purchase actually
//    loads: every script (and .wasm) the page fetched, by name, from our server or (for
//    peers that fetch their own code from a vendor CDN) served from the same release's npm
//    files where it ships them. Vendor endpoints are answered by Playwright route stubs (no
//    request leaves the machine), and the page notes when the purchase request is issued.
//
// --only a,b: measure the loads of these peers only (all are still installed and bundled).
// ordersync is measured twice: its page as is, and with <link rel=modulepreload / preload>.
// --quick: ordersync only (no npm install, one load): the smoke run `npm test` can afford.
import { mkdirSync, mkdtempSync, writeFileSync, readFileSync, existsSync, rmSync } from "node:fs";
import { execFileSync } from "node:child_process";
import path from "node:path";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { sizes, addSizes, ZERO, startServer, launchChromium, stats, machine, argValue } from "./peers-harness.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const QUICK = process.argv.includes("--quick");
const LOADS = Number(argValue("--loads", QUICK ? 1 : 10));
const ESBUILD = "esbuild@0.28.2";
const ORDER_ID = "4242";

// The purchase every page reports: one order of three lines.
const ORDER = {
  orderId: ORDER_ID, email: "ann@example.com", country: "FR", customerGuid: "g-1", sessionId: "s-1",
  totalSpent: "150.00", taxes: "25.00", shippingCost: "0", orderDate: "2026-11-22T10:00:00Z",
  items: [
    { gtin: "3017620422003", quantity: 1, regularUnitPrice: "50.00", totalOrderItemPriceAfterDiscounts: "50.00" },
    { gtin: "3017620422004", quantity: 2, regularUnitPrice: "25.00", totalOrderItemPriceAfterDiscounts: "50.00" },
    { gtin: "3017620422005", quantity: 1, regularUnitPrice: "50.00", totalOrderItemPriceAfterDiscounts: "50.00" },
  ],
};
const PRODUCTS = "ORDER.items.map((i) => ({ product_id: i.gtin, quantity: i.quantity, price: Number(i.regularUnitPrice) }))";

/**
 * Each peer: its npm package, the page's code (as its README documents the minimum), which
 * requests are the purchase reaching the wire, and the stub answers for its vendor endpoints.
 */
const PEERS = [
  {
    name: "snowplow", pkg: "@snowplow/browser-tracker",
    code: `import { newTracker, trackSelfDescribingEvent } from "@snowplow/browser-tracker";
newTracker("sp", "https://collector.example", { appId: "shop", eventMethod: "post" });
trackSelfDescribingEvent({
  event: { schema: "iglu:com.snowplowanalytics.snowplow.ecommerce/snowplow_ecommerce_action/jsonschema/1-0-2", data: { type: "transaction" } },
  context: [{ schema: "iglu:com.snowplowanalytics.snowplow.ecommerce/transaction/jsonschema/1-0-0",
    data: { transaction_id: ORDER.orderId, revenue: 150, currency: "EUR", payment_method: "card", total_quantity: 4 } }],
});`,
    purchase: /collector\.example\/com\.snowplowanalytics\.snowplow\/tp2/,
  },
  {
    name: "segment", pkg: "@segment/analytics-next",
    code: `import { AnalyticsBrowser } from "@segment/analytics-next";
const analytics = AnalyticsBrowser.load({ writeKey: "wk_bench" });
analytics.track("Order Completed", { order_id: ORDER.orderId, total: 150, currency: "EUR", products: ${PRODUCTS} });`,
    purchase: /api\.segment\.io\/v1\/(t|track|batch)\b/,
    stub: (url) => url.includes("/v1/projects/wk_bench/settings")
      ? { json: { integrations: { "Segment.io": { apiKey: "wk_bench", apiHost: "api.segment.io/v1" } }, plan: { track: { __default: { enabled: true } } },
        edgeFunction: {}, analyticsNextEnabled: true, middlewareSettings: {}, enabledMiddleware: {}, metrics: { sampleRate: 0 }, legacyVideoPluginsEnabled: false, remotePlugins: [] } }
      : null,
  },
  {
    name: "rudderstack", pkg: "@rudderstack/analytics-js",
    code: `import { RudderAnalytics } from "@rudderstack/analytics-js";
const analytics = new RudderAnalytics();
analytics.load("wk_bench", "https://dataplane.example");
analytics.track("Order Completed", { order_id: ORDER.orderId, total: 150, currency: "EUR", products: ${PRODUCTS} });`,
    purchase: /dataplane\.example\/v1\/(track|batch)\b/,
    stub: (url) => url.includes("/sourceConfig")
      ? { json: { source: { id: "src", name: "shop", workspaceId: "ws", writeKey: "wk_bench", enabled: true, config: {}, destinations: [] } } }
      : null,
  },
  {
    name: "rudderstack-bundled", pkg: "@rudderstack/analytics-js",
    code: `import { RudderAnalytics } from "@rudderstack/analytics-js/bundled";
const analytics = new RudderAnalytics();
analytics.load("wk_bench", "https://dataplane.example");
analytics.track("Order Completed", { order_id: ORDER.orderId, total: 150, currency: "EUR", products: ${PRODUCTS} });`,
    purchase: /dataplane\.example\/v1\/(track|batch)\b/,
    stub: (url) => url.includes("/sourceConfig")
      ? { json: { source: { id: "src", name: "shop", workspaceId: "ws", writeKey: "wk_bench", enabled: true, config: {}, destinations: [] } } }
      : null,
  },
  {
    name: "posthog", pkg: "posthog-js",
    code: `import posthog from "posthog-js";
// Headless Chromium under automation reads as a bot, whose events PostHog drops by default.
posthog.init("phc_bench", { api_host: "https://ph.example", opt_out_useragent_filter: true });
posthog.capture("purchase", { order_id: ORDER.orderId, revenue: 150, currency: "EUR", products: ${PRODUCTS} });`,
    purchase: /ph\.example\/(e|i\/v0\/e|batch|capture)\//,
    // Scripts it loads from its asset host ship in the npm package's dist/ under the same name.
    vendorScript: (url) => {
      const name = new URL(url).pathname.split("/").pop();
      const file = path.join("node_modules/posthog-js/dist", name);
      return name.endsWith(".js") ? file : null;
    },
  },
  {
    name: "mixpanel", pkg: "mixpanel-browser",
    code: `import mixpanel from "mixpanel-browser";
mixpanel.init("mp_bench", { api_host: "https://mp.example" });
mixpanel.track("Purchase", { order_id: ORDER.orderId, revenue: 150, currency: "EUR", products: ${PRODUCTS} });`,
    purchase: /mp\.example\/track/,
  },
];

function log(...args) {
  console.error("[peers]", ...args);
}

/** Installs the peers' current releases and esbuild into `dir`; returns name -> version. */
function install(dir) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "ordersync-peers-bench", private: true }));
  const wanted = [...new Set(PEERS.map((p) => p.pkg))];
  if (!wanted.every((pkg) => existsSync(path.join(dir, "node_modules", pkg, "package.json")))) {
    log(`npm install into ${dir}: ${wanted.join(", ")}, ${ESBUILD}`);
    execFileSync("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", ESBUILD, ...wanted.map((p) => `${p}@latest`)],
      { cwd: dir, stdio: ["ignore", "ignore", "inherit"] });
  }
  const version = (pkg) => JSON.parse(readFileSync(path.join(dir, "node_modules", pkg, "package.json"), "utf8")).version;
  return Object.fromEntries([...wanted, "esbuild"].map((pkg) => [pkg, version(pkg)]));
}

/** Bundles each peer's page; returns per peer: initial files, lazy files, sizes of each. */
async function bundle(dir) {
  const esbuild = (await import(path.join(dir, "node_modules/esbuild/lib/main.js"))).default;
  const out = {};
  for (const peer of PEERS) {
    const src = path.join(dir, "src", `${peer.name}.mjs`);
    mkdirSync(path.dirname(src), { recursive: true });
    writeFileSync(src, `const ORDER = ${JSON.stringify(ORDER)};\n${peer.code}\n`);
    const outdir = path.join(dir, "out", peer.name);
    rmSync(outdir, { recursive: true, force: true });
    const result = await esbuild.build({
      entryPoints: { [peer.name]: src }, bundle: true, minify: true, format: "esm", splitting: true,
      platform: "browser", target: "es2020", outdir, metafile: true, logLevel: "error",
      define: { "process.env.NODE_ENV": '"production"' }, absWorkingDir: dir,
    });
    const outputs = result.metafile.outputs;
    // Dynamically imported modules are entry points too (of their chunks): pick the page's.
    const entry = Object.keys(outputs).find((o) => outputs[o].entryPoint && path.basename(o) === `${peer.name}.js`);
    const initial = new Set();
    const walk = (file) => {
      if (initial.has(file)) return;
      initial.add(file);
      for (const dep of outputs[file].imports) if (dep.kind === "import-statement") walk(dep.path);
    };
    walk(entry);
    const files = Object.keys(outputs).filter((o) => o.endsWith(".js"));
    const fileSizes = Object.fromEntries(files.map((f) => [path.basename(f), sizes(readFileSync(path.join(dir, f)))]));
    const sum = (list) => list.reduce((acc, f) => addSizes(acc, fileSizes[path.basename(f)]), ZERO);
    out[peer.name] = {
      entry: path.basename(entry), files: fileSizes,
      initial: sum([...initial]), all: sum(files),
      lazyChunks: files.length - initial.size,
    };
  }
  return out;
}

function ordersyncSizes() {
  const files = ["pkg/ordersync.js", "pkg/ordersync_bg.wasm"];
  for (const f of files) {
    if (!existsSync(path.join(ROOT, f))) throw new Error(`${f} is missing: run npm run build first`);
  }
  const each = Object.fromEntries(files.map((f) => [path.basename(f), sizes(readFileSync(path.join(ROOT, f)))]));
  return { files: each, initial: Object.values(each).reduce(addSizes, ZERO) };
}

/** Records when the page issues each request (fetch, XHR, sendBeacon), before its scripts run. */
const ISSUE_RECORDER = `
window.__issued = [];
const note = (url) => window.__issued.push({ url: String(url), at: performance.now() });
const realFetch = window.fetch;
// Applied to window whatever \`this\` is: libraries call a stored, unbound fetch.
window.fetch = function (input) { note(input && input.url ? input.url : input); return realFetch.apply(window, arguments); };
const open = XMLHttpRequest.prototype.open;
XMLHttpRequest.prototype.open = function (method, url) { this.__url = url; return open.apply(this, arguments); };
const send = XMLHttpRequest.prototype.send;
XMLHttpRequest.prototype.send = function () { note(this.__url); return send.apply(this, arguments); };
const beacon = navigator.sendBeacon && navigator.sendBeacon.bind(navigator);
if (beacon) navigator.sendBeacon = (url, data) => { note(url); return beacon(url, data); };
`;

/** Loads each page `loads` times; counts scripts fetched and when the purchase went out. */
async function measureLoads(dir, peers, bundles) {
  const pageFor = (script, body = "") => `<!doctype html><meta charset="utf-8"><title>order confirmed</title>
<h1>Thank you for your order</h1>${body}<script type="module" src="${script}"></script>`;
  const pages = new Map();
  for (const peer of peers) {
    if (peer.name.startsWith("ordersync")) continue;
    pages.set(`/${peer.name}.html`, pageFor(`/out/${peer.name}/${bundles[peer.name].entry}`));
  }
  writeFileSync(path.join(dir, "ordersync-page.mjs"), `import init, { reportOrder } from "/pkg/ordersync.js";
const ORDER = ${JSON.stringify(ORDER)};
await init();
window.__report = await reportOrder({ relayUrl: "/ordersync", checkout: ORDER });`);
  pages.set("/ordersync.html", pageFor("/ordersync-page.mjs"));
  // The same page, telling the browser up front about the glue and the .wasm, so their fetches
  // overlap instead of waiting for the module that imports them.
  pages.set("/ordersync-preload.html", pageFor("/ordersync-page.mjs",
    '<link rel="modulepreload" href="/pkg/ordersync.js"><link rel="preload" as="fetch" crossorigin href="/pkg/ordersync_bg.wasm">'));
  const servedFile = (p) => {
    if (p.startsWith("/pkg/")) return path.join(ROOT, p);
    if (p === "/ordersync-page.mjs") return path.join(dir, "ordersync-page.mjs");
    if (p.startsWith("/out/")) return path.join(dir, p);
    return null;
  };
  const server = await startServer({ pages, files: servedFile });
  const browser = await launchChromium();
  const results = {};
  try {
    for (const peer of peers) {
      const runs = [];
      for (let i = 0; i < LOADS; i++) {
        const context = await browser.newContext();
        const page = await context.newPage();
        await page.addInitScript(ISSUE_RECORDER);
        const errors = [];
        page.on("pageerror", (error) => errors.push(String(error).slice(0, 200)));
        const loaded = [];
        const external = [];
        server.state.served.length = 0;
        await page.route("**/*", async (route) => {
          const url = route.request().url();
          if (url.startsWith(server.base)) return route.continue();
          external.push(`${route.request().method()} ${url.split("?")[0]}`);
          const stub = peer.stub?.(url);
          if (stub) return route.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify(stub.json) });
          const file = route.request().resourceType() === "script" && peer.vendorScript?.(url);
          if (file && existsSync(path.join(dir, file))) {
            const body = readFileSync(path.join(dir, file));
            loaded.push({ name: `${new URL(url).host}${new URL(url).pathname} (from npm dist)`, size: sizes(body) });
            return route.fulfill({ status: 200, contentType: "text/javascript", body });
          }
          if (route.request().resourceType() === "script") return route.fulfill({ status: 404, body: "" });
          return route.fulfill({ status: 200, contentType: "application/json", body: "{}" });
        });
        await page.goto(`${server.base}/${peer.name}.html`);
        const deadline = Date.now() + 12000;
        let purchase = null;
        while (Date.now() < deadline) {
          const issued = await page.evaluate(() => window.__issued);
          purchase = issued.find((r) => peer.purchase.test(r.url)) ?? null;
          if (purchase) break;
          await page.waitForTimeout(100);
        }
        await page.waitForTimeout(300); // late chunks
        for (const pathname of server.state.served) {
          if (/\.(m?js|wasm)$/.test(pathname)) loaded.push({ name: pathname, size: sizes(readFileSync(servedFile(pathname))) });
        }
        runs.push({
          loaded: [...loaded],
          external: [...new Set(external)],
          errors,
          // performance.now() counts from the navigation's start.
          purchaseAtMs: purchase ? purchase.at : null,
        });
        await context.close();
      }
      const first = runs[0];
      const total = first.loaded.reduce((acc, f) => addSizes(acc, f.size), ZERO);
      const times = runs.map((r) => r.purchaseAtMs).filter((t) => t !== null);
      results[peer.name] = {
        loaded: first.loaded.map((f) => `${f.name} ${f.size.brotli}`),
        total,
        external: first.external,
        errors: [...new Set(runs.flatMap((r) => r.errors))],
        purchaseSent: `${times.length}/${runs.length}`,
        purchaseAt: times.length ? stats(times) : null,
      };
    }
  } finally {
    await browser.close();
    server.close();
  }
  return results;
}

const fmt = (n) => String(n).padStart(9);
function printSizes(ordersync, bundles, versions) {
  console.log(`\n## Bundle sizes (esbuild ${versions?.esbuild ?? "-"}, minified ESM, splitting; gzip -9, brotli -q 11), bytes`);
  console.log(`${"".padEnd(22)}| ${"initial raw".padStart(11)} | ${"gzip".padStart(9)} | ${"brotli".padStart(9)} | ${"all chunks br".padStart(13)} | lazy chunks | version`);
  const row = (name, initial, all, lazy, version) => console.log(
    `${name.padEnd(22)}| ${String(initial.raw).padStart(11)} |${fmt(initial.gzip)} |${fmt(initial.brotli)} | ${String(all.brotli).padStart(13)} | ${String(lazy).padStart(11)} | ${version}`);
  row("ordersync (pkg/)", ordersync.initial, ordersync.initial, 0, "this tree");
  for (const [name, b] of Object.entries(bundles)) {
    const peer = PEERS.find((p) => p.name === name);
    row(name, b.initial, b.all, b.lazyChunks, versions[peer.pkg]);
  }
}

function printLoads(loads) {
  console.log(`\n## What one purchase loads in headless Chromium (first of ${LOADS} loads), and when the purchase is issued`);
  for (const [name, r] of Object.entries(loads)) {
    const at = r.purchaseAt ? `median ${r.purchaseAt.median.toFixed(1)} ms, p95 ${r.purchaseAt.p95.toFixed(1)} ms after navigation start` : "never seen";
    console.log(`${name}: ${r.total.raw} raw / ${r.total.gzip} gzip / ${r.total.brotli} brotli bytes in ${r.loaded.length} files; purchase issued ${r.purchaseSent} loads, ${at}`);
    console.log(`    files (brotli bytes): ${r.loaded.join(", ")}`);
    if (r.external.length) console.log(`    vendor requests (stubbed): ${r.external.join(", ")}`);
    if (r.errors.length) console.log(`    page errors: ${r.errors.join(" | ")}`);
  }
}

// A fresh folder per run, so "current releases" means current; --dir reuses one (and keeps it).
const given = argValue("--dir", null);
const dir = given ?? mkdtempSync(path.join(os.tmpdir(), "ordersync-peers-"));
process.on("exit", () => {
  if (!given) rmSync(dir, { recursive: true, force: true });
});
let head = "unknown";
try {
  head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT }).toString().trim();
} catch {
  // not a git checkout
}
log(`${machine()}, ${new Date().toISOString()}, tree ${head} (pkg/ as built)`);
const ordersync = ordersyncSizes();
let versions = {};
let bundles = {};
const measured = [{ name: "ordersync" }];
if (!QUICK) {
  versions = install(dir);
  bundles = await bundle(dir);
  const only = argValue("--only", null);
  measured.push(...PEERS.filter((p) => !only || only.split(",").includes(p.name)));
} else {
  mkdirSync(dir, { recursive: true });
  log("--quick: ordersync only (no npm install of the peers)");
}
printSizes(ordersync, bundles, versions);
const ordersyncPages = ["ordersync", "ordersync-preload"].map((name) => ({ name, purchase: /\/ordersync\/v1\/checkouts$/ }));
const loads = await measureLoads(dir, [...ordersyncPages, ...measured.slice(1)], bundles);
printLoads(loads);
console.log(`\nJSON ${JSON.stringify({ date: new Date().toISOString(), machine: machine(), head, versions, ordersync, bundles, loads })}`);
const missing = Object.entries(loads).filter(([, r]) => r.purchaseSent.startsWith("0/")).map(([n]) => n);
if (missing.some((name) => name.startsWith("ordersync"))) {
  console.error("[peers] ordersync's purchase request was never issued");
  process.exit(1);
}
