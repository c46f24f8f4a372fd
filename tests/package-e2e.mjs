// End-to-end checks of the built package (pkg/, as a shop loads it) in headless Chromium,
// through the demo server's first-party endpoint (www/dev-server.mjs, local mode):
// init() retries what an earlier page left queued, a real page reload reports `duplicate`,
// and the JavaScript-level API shapes (readCiblerId null, never-throwing reportOrder).
// Run by scripts/test-browser.sh after npm run build: node --test tests/package-e2e.mjs
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { chromium } from "playwright-core";

let server;
let browser;
let base;

before(async () => {
  const port = 19000 + Math.floor(Math.random() * 1000);
  server = spawn("node", ["www/dev-server.mjs", "--port", String(port)], { stdio: ["ignore", "pipe", "inherit"] });
  await once(server.stdout, "data");
  base = `http://127.0.0.1:${port}`;
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
      "--disable-sync", "--no-first-run", "--disable-quic"],
  });
});

after(async () => {
  await browser?.close();
  server?.kill();
});

async function recorded() {
  return (await fetch(`${base}/demo/requests`)).json();
}

test("init() delivers a hand-off an earlier page left queued", async () => {
  const page = await browser.newPage();
  await page.goto(`${base}/demo/config.json`);
  const orderId = `queued-${Date.now()}`;
  const body = JSON.stringify({ checkout: { orderId }, cookieId: null });
  await page.evaluate(({ orderId, body }) => {
    localStorage.setItem("ordersync.pending", `${Date.now()}\t/ordersync/v1/checkouts\t${orderId}\t${body}\n`);
  }, { orderId, body });
  const pending = await page.evaluate(async (base) => {
    const module = await import(`${base}/pkg/ordersync.js`);
    await module.default();
    for (let i = 0; i < 50 && localStorage.getItem("ordersync.pending"); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    return localStorage.getItem("ordersync.pending");
  }, base);
  assert.equal(pending, "", "the queue is empty once delivered");
  const posts = (await recorded()).filter((r) => r.method === "POST" && r.body?.checkout?.orderId === orderId);
  assert.equal(posts.length, 1);
  await page.close();
});

test("a real reload of the confirmation page reports duplicate", async () => {
  const page = await browser.newPage();
  await page.goto(`${base}/?order=${Date.now() % 1e9}`);
  await page.waitForFunction(() => window.ordersyncReport, null, { timeout: 10000 });
  const first = await page.evaluate(() => window.ordersyncReport);
  assert.equal(first.relay.status, "accepted");
  assert.match(first.cookieId, /^CIB1\.\d+\.\d+$/);
  await page.reload();
  await page.waitForFunction(() => window.ordersyncReport, null, { timeout: 10000 });
  const again = await page.evaluate(() => window.ordersyncReport);
  assert.equal(again.orderId, first.orderId);
  assert.equal(again.relay.status, "duplicate");
  const posts = (await recorded()).filter((r) => r.method === "POST" && r.body?.checkout?.orderId === first.orderId);
  assert.equal(posts.length, 1, "reported once");
  await page.close();
});

test("the JavaScript API: null cookie, reports for garbage, never a throw", async () => {
  const page = await browser.newPage();
  await page.goto(`${base}/demo/config.json`);
  const out = await page.evaluate(async (base) => {
    const m = await import(`${base}/pkg/ordersync.js`);
    await m.default();
    const results = { cookie: m.readCiblerId() };
    const garbage = [undefined, null, 1, "x", [], {}, { relayUrl: 5 }, new Proxy({}, { get() { throw new Error("trap"); } })];
    results.reports = [];
    for (const options of garbage) {
      try {
        results.reports.push(await m.reportOrder(options));
      } catch (error) {
        results.reports.push({ threw: String(error) });
      }
    }
    results.thirdO = m.thirdOUrl({});
    return results;
  }, base);
  assert.equal(out.cookie, null);
  for (const report of out.reports) {
    assert.equal(report.threw, undefined);
    assert.equal(report.relay.status, "skipped");
    assert.equal(typeof report.error.field, "string");
  }
  assert.deepEqual(Object.keys(out.thirdO), ["error"]);
  await page.close();
});
