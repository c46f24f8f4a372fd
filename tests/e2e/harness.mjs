// The end-to-end harness: the demo's real processes (the relay and its vendor sandbox, from
// www/stack.mjs), the demo's shop server (www/shop-server.mjs) in this process, and Debian's
// Chromium driven by playwright-core. Everything listens on 127.0.0.1, on free ports, with its
// own SQLite outbox in a throwaway directory. Every wait has a deadline.
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { once } from "node:events";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

import { createShopServer } from "../../www/shop-server.mjs";
import { startStack } from "../../www/stack.mjs";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const outputDir = path.join(root, "test-output/e2e");

/** The launch flags DESIGN.md records for this machine (no network but loopback). */
export const CHROMIUM_ARGS = [
  "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
  "--disable-sync", "--no-first-run", "--disable-quic",
];

/** Polls `probe` until it returns something truthy, or fails naming `what` at the deadline. */
export async function waitFor(what, probe, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await probe();
    if (last) return last;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/**
 * Starts the stack, the shop server and Chromium. Call `stop()` in `after`.
 * `backForwardCache: true` launches Chromium with its back/forward cache on (Playwright turns it
 * off by default, with --disable-back-forward-cache).
 */
export async function startDemo({ backForwardCache = false } = {}) {
  const relayBin = process.env.ORDERSYNC_RELAY_BIN ?? path.join(root, "target/debug/ordersync-relay");
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "ordersync-e2e-"));
  mkdirSync(outputDir, { recursive: true });
  const shop = createShopServer({ root, withRelay: true });
  shop.server.listen(0, "127.0.0.1");
  await once(shop.server, "listening");
  const base = `http://127.0.0.1:${shop.server.address().port}`;
  let stack;
  let browser;
  try {
    stack = await startStack({ relayBin, dataDir, allowedOrigin: base });
    shop.attachStack(stack);
    browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      args: CHROMIUM_ARGS,
      ignoreDefaultArgs: backForwardCache ? ["--disable-back-forward-cache"] : [],
    });
  } catch (error) {
    await stack?.stop();
    shop.server.close();
    throw error;
  }

  const demo = {
    base,
    stack,
    shop,
    browser,
    dataDir,

    /** A fresh browser profile (cookies, localStorage) with a page that records what it does. */
    async openPage() {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      const seen = { requests: [], console: [], errors: [] };
      page.on("request", (request) => {
        seen.requests.push({ method: request.method(), url: request.url(), postData: request.postData(), request });
      });
      page.on("console", (message) => seen.console.push({ type: message.type(), text: message.text(), location: message.location() }));
      page.on("pageerror", (error) => seen.errors.push(String(error)));
      return { context, page, seen };
    },

    /** Opens `url` and waits for the page's `reportOrder` to resolve; returns its report. */
    async report(page, url) {
      if (url) await page.goto(url);
      await page.waitForFunction(() => window.ordersyncReport, null, { timeout: 15_000 });
      return page.evaluate(() => window.ordersyncReport);
    },

    /** Every request the sandbox vendors received, in order (credentials as sent). */
    async journal() {
      return (await fetch(`${stack.sandboxUrl}/__sandbox/requests`)).json();
    },

    async ciblerRequests(orderId) {
      return (await demo.journal()).filter(
        (r) => r.path.startsWith("/api/campaignBehaviors/order/") && String(r.body?.orderInformation?.orderId) === orderId,
      );
    },

    /** The CitrusAd batches holding `orderId`, each as { request, order }. */
    async citrusOrders(orderId) {
      return (await demo.journal())
        .filter((r) => r.method === "POST" && r.path === "/v1/orders")
        .flatMap((request) => (request.body?.orders ?? []).filter((o) => o.id === orderId).map((order) => ({ request, order })));
    },

    async thirdORequests(orderId) {
      return (await demo.journal()).filter(
        (r) => r.path === "/v1/resource/third-o" && new URLSearchParams(r.query ?? "").get("ordid") === orderId,
      );
    },

    /** The relay's own view: GET /v1/checkouts/{orderId} (status code and body). */
    async relayStatus(orderId) {
      const answer = await fetch(`${stack.relayUrl}/v1/checkouts/${encodeURIComponent(orderId)}`);
      return { status: answer.status, body: await answer.json() };
    },

    /** Waits until every destination of `orderId` at the relay is in one of `states`. */
    async waitDelivered(orderId, expected = { cibler: "delivered", citrusad: "delivered" }) {
      return waitFor(`order ${orderId} at the relay to reach ${JSON.stringify(expected)}`, async () => {
        const { status, body } = await demo.relayStatus(orderId);
        if (status !== 200) return null;
        const states = Object.fromEntries(body.destinations.map((d) => [d.destination, d.state]));
        return Object.entries(expected).every(([name, state]) => states[name] === state) ? body : null;
      });
    },

    async switchRelay(running) {
      const answer = await fetch(`${base}/demo/relay`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ running }),
      });
      return answer.json();
    },

    async stop() {
      await browser?.close().catch(() => {});
      shop.server.closeAllConnections();
      shop.server.close();
      await stack?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return demo;
}

/** The page's queue of hand-offs in localStorage (`ordersync.pending`), "" when empty. */
export const queuedHandOffs = (page) => page.evaluate(() => localStorage.getItem("ordersync.pending") ?? "");

/** The page's hand-offs to the relay path on the shop's origin, parsed. */
export function handoffsSeen(seen, base) {
  return seen.requests
    .filter((r) => r.method === "POST" && r.url === `${base}/ordersync/v1/checkouts`)
    .map((r) => ({ ...r, body: JSON.parse(r.postData) }));
}

/** The page's third-o requests, with the query decoded. */
export function thirdOSeen(seen) {
  return seen.requests
    .filter((r) => new URL(r.url).pathname === "/v1/resource/third-o")
    .map((r) => ({ ...r, query: new URL(r.url).searchParams }));
}

/** Console messages of type error or warning, and uncaught errors: both must be empty on a healthy page. */
export function consoleProblems(seen) {
  return [...seen.errors.map((e) => `pageerror: ${e}`), ...seen.console.filter((m) => m.type === "error" || m.type === "warning").map((m) => `${m.type}: ${m.text}`)];
}

/** The `cibler_id` cookie the browser holds for the shop. */
export async function ciblerCookie(context) {
  return (await context.cookies()).find((c) => c.name === "cibler_id")?.value ?? null;
}
