// Time from calling reportOrder to both requests issued (relay hand-off and third-o, policy
// "always"), in headless Chromium, for 1-item and 50-item orders. "Issued" is the moment the
// module hands the request to fetch (a wrapper records performance.now() at each call).
// Also: how long reportOrder blocks the page (until it returns its promise), and until the
// report resolves against a local endpoint.
//
//   node bench/browser/bench.mjs [--runs 300] [--warmup 30]
// Needs pkg/ built (npm run build). Starts www/dev-server.mjs on a free loopback port.
import { chromium } from "playwright-core";
import { spawn } from "node:child_process";
import { once } from "node:events";
import os from "node:os";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const RUNS = arg("--runs", 300);
const WARMUP = arg("--warmup", 30);
const PORT = arg("--port", 18080 + Math.floor(Math.random() * 1000));

const server = spawn("node", ["www/dev-server.mjs", "--port", String(PORT)], { stdio: ["ignore", "pipe", "inherit"] });
await once(server.stdout, "data");
const base = `http://127.0.0.1:${PORT}`;

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic"],
});
try {
  const page = await browser.newPage();
  await page.goto(`${base}/demo/config.json`);
  const results = await page.evaluate(async ({ base, RUNS, WARMUP }) => {
    const issued = [];
    const realFetch = window.fetch.bind(window);
    // The module calls fetch with a Request; the plain-fetch baseline with a URL.
    window.fetch = (input, init) => {
      issued.push({ url: String(input.url ?? input), at: performance.now() });
      return realFetch(input, init);
    };
    const module = await import(`${base}/pkg/ordersync.js`);
    const initStart = performance.now();
    await module.default();
    const initMs = performance.now() - initStart;

    const checkout = (orderId, items) => ({
      orderId, email: "ann@example.com", country: "FR", customerGuid: "g-1", sessionId: "s-1",
      totalSpent: "100.00", taxes: "20.00", shippingCost: "0", orderDate: "2026-11-22T10:00:00Z",
      items: Array.from({ length: items }, (_, i) => ({
        gtin: String(3017620422003 + i), quantity: 1 + (i % 3), regularUnitPrice: "4.25",
        totalOrderItemPriceAfterDiscounts: "4.25", sellerId: "seller-" + (i % 4),
      })),
    });
    const citrus = { baseUrl: `${base}/citrus`, publishableKey: "pk_bench", teamId: "t", catalogId: "c", frontend: "always" };
    let next = 1;
    const anomalies = [];
    async function once(items) {
      localStorage.clear();
      issued.length = 0;
      const options = { relayUrl: "/ordersync", checkout: checkout(String(next++), items), citrus };
      const t0 = performance.now();
      const promise = module.reportOrder(options);
      const returned = performance.now();
      const report = await promise;
      const resolved = performance.now();
      if (issued.length !== 2) throw new Error("expected 2 requests, saw " + issued.length);
      if (report.relay.status !== "accepted" || report.pixel.status !== "sent") {
        anomalies.push({ items, relay: report.relay.status, pixel: report.pixel.status });
      }
      return {
        bothIssued: Math.max(...issued.map((r) => r.at)) - t0,
        blocking: returned - t0,
        resolved: resolved - t0,
      };
    }
    const stats = (values) => {
      const sorted = [...values].sort((a, b) => a - b);
      const q = (p) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
      return { median: q(0.5), p95: q(0.95), min: sorted[0], max: sorted[sorted.length - 1] };
    };
    const out = { initMs };
    for (const items of [1, 50]) {
      for (let i = 0; i < WARMUP; i++) await once(items);
      const runs = [];
      for (let i = 0; i < RUNS; i++) runs.push(await once(items));
      out[items] = {
        bothIssued: stats(runs.map((r) => r.bothIssued)),
        blocking: stats(runs.map((r) => r.blocking)),
        resolved: stats(runs.map((r) => r.resolved)),
      };
    }
    out.anomalies = anomalies;
    return out;
  }, { base, RUNS, WARMUP });

  const version = browser.version();
  const fmt = (v) => v.toFixed(2).padStart(7);
  console.log(`Chromium ${version} headless, ${os.cpus().length} cores (${os.cpus()[0].model}), ${RUNS} runs after ${WARMUP} warm-up, ${new Date().toISOString()}`);
  console.log(`init() (compile + instantiate the .wasm): ${results.initMs.toFixed(2)} ms (one sample)`);
  console.log(`items | metric (ms)                         | median |    p95 |    min |    max`);
  for (const items of [1, 50]) {
    for (const [metric, label] of [["bothIssued", "call -> both requests issued"], ["blocking", "call -> promise returned (blocks page)"], ["resolved", "call -> report resolved (loopback)"]]) {
      const s = results[items][metric];
      console.log(`${String(items).padStart(5)} | ${label.padEnd(35)} |${fmt(s.median)} |${fmt(s.p95)} |${fmt(s.min)} |${fmt(s.max)}`);
    }
  }
  console.log(`runs whose report was not relay "accepted" + pixel "sent": ${results.anomalies.length}`, results.anomalies.slice(0, 5));
  console.log(JSON.stringify(results));
} finally {
  await browser.close();
  server.kill();
}
