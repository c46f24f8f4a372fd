// The operators' console (/console) in headless Chromium, against the real relay (console on,
// its token in a file) and the real vendor sandbox:
// - without the token nothing of the console is served: 401 for the page (the sign-in form,
//   no data), its script, stylesheet, icon and JSON, with a wrong bearer token or none;
// - with it, after a few orders and one refused by CitrusAd (a sandbox fault), the page shows
//   the counts per destination, the orders, the dead letter with the vendor's answer, in red;
// - its retry button makes the dead order delivered once the fault is gone, its discard
//   button (after the confirmation) gives another one up, and the search finds an order;
// - a change without the console's own header is refused (CSRF), and the token never reaches
//   the relay's log. A screenshot is saved to test-output/e2e/console.png;
// - behind a reverse proxy that mounts the relay under a prefix, signing in and the page work.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { once } from "node:events";
import os from "node:os";
import path from "node:path";
import { SignJWT } from "jose";
import { chromium } from "playwright-core";

import { CHROMIUM_ARGS, consoleProblems, outputDir, root, waitFor } from "./harness.mjs";
import { DEMO, startStack } from "../../www/stack.mjs";
import { checkoutFor } from "../../www/samples.mjs";

const TOKEN = randomBytes(32).toString("base64url");
// Numeric order ids (CibleR takes a Long), unique per run.
const STAMP = String(Date.now());
const DELIVERED = [`${STAMP}01`, `${STAMP}02`, `${STAMP}03`];
const REFUSED = `${STAMP}77`;
const TO_DISCARD = `${STAMP}88`;

let stack;
let browser;
let dataDir;

before(async () => {
  dataDir = mkdtempSync(path.join(os.tmpdir(), "ordersync-console-"));
  mkdirSync(outputDir, { recursive: true });
  const tokenFile = path.join(dataDir, "console-token");
  writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  stack = await startStack({
    relayBin: process.env.ORDERSYNC_RELAY_BIN ?? path.join(root, "target/debug/ordersync-relay"),
    dataDir,
    allowedOrigin: "http://127.0.0.1:9",
    relayEnv: { ORDERSYNC_CONSOLE: "true", ORDERSYNC_CONSOLE_TOKEN_FILE: tokenFile },
  });
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close().catch(() => {});
  await stack?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function setFaults(faults) {
  const answer = await fetch(`${stack.sandboxUrl}/__sandbox/faults`, {
    method: "PUT",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(faults),
  });
  assert.equal(answer.status, 200, await answer.text());
}

/** Hands an order to the relay as a shop's page does: signed by the shop's server. */
async function handOff(orderId) {
  const checkout = checkoutFor("one-item", orderId, new Date(), `sess-${randomUUID().slice(0, 18)}`);
  const token = await new SignJWT({ ...checkout })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt()
    .setExpirationTime("1h")
    .sign(new TextEncoder().encode(DEMO.signingSecret));
  const answer = await fetch(`${stack.relayUrl}/v1/checkouts`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token, cookieId: "CIB1.0.1700000000" }),
  });
  assert.equal(answer.status, 202, await answer.text());
}

async function states(orderId) {
  const answer = await fetch(`${stack.relayUrl}/v1/checkouts/${orderId}`);
  if (answer.status !== 200) return {};
  const body = await answer.json();
  return Object.fromEntries(body.destinations.map((d) => [d.destination, d.state]));
}

function waitStates(orderId, expected) {
  return waitFor(`order ${orderId} to reach ${JSON.stringify(expected)}`, async () => {
    const now = await states(orderId);
    return Object.entries(expected).every(([d, s]) => now[d] === s) ? now : null;
  }, 30_000);
}

const bearer = (token) => ({ Authorization: `Bearer ${token}` });
const CONSOLE_PATHS = ["/console", "/console/console.js", "/console/console.css", "/console/icon.svg", "/console/api/overview", "/console/nothing-here"];

test("without the token, nothing of the console is served", { timeout: 60_000 }, async () => {
  for (const headers of [{}, bearer(`${TOKEN}x`), bearer(TOKEN.slice(1)), { Authorization: `Basic ${TOKEN}` }, { Cookie: `ordersync_console=${TOKEN}` }]) {
    for (const pathname of CONSOLE_PATHS) {
      const answer = await fetch(`${stack.relayUrl}${pathname}`, { headers });
      const body = await answer.text();
      assert.equal(answer.status, 401, `${pathname} with ${JSON.stringify(headers)}`);
      assert.doesNotMatch(body, /Dead letters|console\.js|console\.css|deadLetters|<svg/, pathname);
      if (pathname === "/console") {
        // The page's own URL offers the sign-in form, which holds no data and loads nothing.
        assert.match(body, /<form method="post" action="console\/login">/);
        assert.doesNotMatch(body, /<script|<link/);
      } else {
        assert.equal(body, "401 Unauthorized\n", pathname);
      }
    }
  }
  for (const action of ["retry", "discard"]) {
    const answer = await fetch(`${stack.relayUrl}/console/api/dead-letters/${action}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Ordersync-Console": "1" },
      body: JSON.stringify({ orderId: "1", destination: "citrusad" }),
    });
    assert.equal(answer.status, 401, action);
  }
  // A wrong token at the sign-in form: the form again, 401, no cookie.
  const wrong = await fetch(`${stack.relayUrl}/console/login`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: `token=${encodeURIComponent(`${TOKEN}x`)}`,
    redirect: "manual",
  });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.headers.get("set-cookie"), null);
  assert.match(await wrong.text(), /not the console's token/);
});

test("with the token: the console's assets, its JSON, and no CORS", { timeout: 60_000 }, async () => {
  for (const [pathname, type] of [
    ["/console", "text/html"],
    ["/console/console.js", "text/javascript"],
    ["/console/console.css", "text/css"],
    ["/console/icon.svg", "image/svg+xml"],
    ["/console/api/overview", "application/json"],
  ]) {
    // Even asked from an origin the relay's API allows, the console answers without CORS.
    const answer = await fetch(`${stack.relayUrl}${pathname}`, { headers: { ...bearer(TOKEN), Origin: "http://127.0.0.1:9" } });
    assert.equal(answer.status, 200, pathname);
    assert.ok(answer.headers.get("content-type").startsWith(type), pathname);
    assert.equal(answer.headers.get("access-control-allow-origin"), null, pathname);
    assert.match(answer.headers.get("content-security-policy"), /default-src 'none'/);
    assert.equal(answer.headers.get("cache-control"), "no-store");
  }
  const bad = await fetch(`${stack.relayUrl}/console/api/dead-letters/retry`, {
    method: "POST",
    headers: { ...bearer(TOKEN), "Content-Type": "application/json" },
    body: JSON.stringify({ orderId: "1", destination: "nowhere" }),
  });
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).error.field, "destination");
  // A change a browser marks as started by another site is refused, token or not.
  const crossSite = await fetch(`${stack.relayUrl}/console/api/dead-letters/retry`, {
    method: "POST",
    headers: { ...bearer(TOKEN), "Content-Type": "application/json", "Sec-Fetch-Site": "cross-site" },
    body: JSON.stringify({ orderId: "1", destination: "citrusad" }),
  });
  assert.equal(crossSite.status, 403);
  // Nothing dead by that id: 404, naming it.
  const none = await fetch(`${stack.relayUrl}/console/api/dead-letters/discard`, {
    method: "POST",
    headers: { ...bearer(TOKEN), "Content-Type": "application/json" },
    body: JSON.stringify({ orderId: "1", destination: "citrusad" }),
  });
  assert.equal(none.status, 404);
  assert.match((await none.json()).error.message, /order 1 has no dead letter for citrusad/);
});

test("the console shows the orders, the counts and the dead letter; retry delivers it", { timeout: 180_000 }, async () => {
  await setFaults({ refuseCitrusOrders: [REFUSED, TO_DISCARD] });
  for (const orderId of [...DELIVERED, REFUSED, TO_DISCARD]) await handOff(orderId);
  for (const orderId of DELIVERED) await waitStates(orderId, { cibler: "delivered", citrusad: "delivered" });
  for (const orderId of [REFUSED, TO_DISCARD]) await waitStates(orderId, { cibler: "delivered", citrusad: "dead" });

  const context = await browser.newContext({ viewport: { width: 1360, height: 1280 } });
  const page = await context.newPage();
  const seen = { console: [], errors: [] };
  page.on("console", (message) => seen.console.push({ type: message.type(), text: message.text(), location: message.location() }));
  page.on("pageerror", (error) => seen.errors.push(String(error)));

  // Sign in as a person does.
  const first = await page.goto(`${stack.relayUrl}/console`);
  assert.equal(first.status(), 401);
  await page.fill("#token", TOKEN);
  await Promise.all([page.waitForURL(`${stack.relayUrl}/console`), page.click("button[type=submit]")]);
  const [cookie] = (await context.cookies()).filter((c) => c.name === "ordersync_console");
  assert.ok(cookie, "a session cookie");
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, "Strict");
  assert.equal(cookie.path, "/console");
  assert.ok(!cookie.value.includes(TOKEN), "the cookie is not the token");
  // From here on, the page must log nothing: no CSP violation, no failed request, no error.
  seen.console.length = 0;

  // The counts per destination.
  const stat = (destination, label) => page.locator(`[data-destination=${destination}] .stat`, { hasText: label }).locator(".value");
  await waitFor("the counts", async () => (await stat("citrusad", "Dead").textContent()) === "2");
  // The deliveries over the hour and the day are read every 15 s (they read every order held).
  await waitFor("the deliveries of the hour", async () => (await stat("cibler", "Delivered 1 h").textContent()) === "5", 30_000);
  assert.equal(await stat("cibler", "Delivered 1 h").textContent(), "5");
  assert.equal(await stat("cibler", "Delivered 24 h").textContent(), "5");
  assert.equal(await stat("citrusad", "Delivered 1 h").textContent(), "3");
  assert.equal(await stat("cibler", "Dead").textContent(), "0");
  assert.equal(await stat("cibler", "Pending").textContent(), "0");
  assert.match(await page.locator("[data-destination=citrusad] .badge").textContent(), /Circuit closed/);
  // Failures in red: the dead count, the dead letter's row.
  const red = "rgb(180, 35, 24)";
  assert.equal(await stat("citrusad", "Dead").evaluate((e) => getComputedStyle(e).color), red);

  // The orders, each destination's state.
  const orderRow = page.locator(`#orders tr[data-order-id="${REFUSED}"]`);
  await orderRow.waitFor();
  assert.match(await orderRow.textContent(), /dead/);
  assert.match(await orderRow.locator("td.error").textContent(), /CitrusAd: .*400/);
  for (const orderId of DELIVERED) {
    assert.equal(await page.locator(`#orders tr[data-order-id="${orderId}"] .badge`).first().textContent(), "delivered");
  }

  // The dead letter, with the vendor's answer.
  const deadRow = page.locator(`#dead-letters tr[data-order-id="${REFUSED}"]`);
  await deadRow.waitFor();
  assert.equal(await deadRow.getAttribute("data-destination"), "citrusad");
  assert.match(await deadRow.textContent(), /HTTP 400/);
  assert.match(await deadRow.locator("pre").textContent(), new RegExp(REFUSED));
  assert.equal(await page.locator("#dead-count").textContent(), "2");

  // The chart: this minute's accepted and delivered orders as bars.
  await waitFor("the chart's totals", async () => (await page.locator("#accepted-total").textContent()) === "5", 30_000);
  assert.equal(await page.locator("#delivered-total").textContent(), "3");
  assert.ok((await page.locator("#chart rect.bar-accepted").count()) >= 1);

  // A change without the console's own header is refused, even with the cookie.
  const forged = await page.evaluate(async (orderId) => {
    const answer = await fetch("console/api/dead-letters/retry", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ orderId, destination: "citrusad" }),
    });
    return answer.status;
  }, REFUSED);
  assert.equal(forged, 403);
  assert.deepEqual(await states(REFUSED), { cibler: "delivered", citrusad: "dead" });
  seen.console = seen.console.filter((m) => !/status of 403/.test(m.text));

  await page.screenshot({ path: path.join(outputDir, "console.png"), fullPage: true });

  // Retry, once CitrusAd takes the order again.
  await setFaults({ refuseCitrusOrders: [TO_DISCARD] });
  await deadRow.locator("button[data-action=retry]").click();
  await waitStates(REFUSED, { cibler: "delivered", citrusad: "delivered" });
  await waitFor("the dead letter to leave the page", async () => (await deadRow.count()) === 0);
  await waitFor("the dead count to drop", async () => (await stat("citrusad", "Dead").textContent()) === "1");
  const citrusBatches = await (await fetch(`${stack.sandboxUrl}/__sandbox/requests`)).json();
  const stored = citrusBatches.filter((r) => r.method === "POST" && r.path === "/v1/orders" && r.status === 200 && (r.body?.orders ?? []).some((o) => o.id === REFUSED));
  assert.equal(stored.length, 1, "CitrusAd took the retried order once");

  // Discard, after the confirmation (cancel first: nothing changes).
  const discardRow = page.locator(`#dead-letters tr[data-order-id="${TO_DISCARD}"]`);
  await discardRow.locator("button[data-action=discard]").click();
  await page.locator("#confirm").getByRole("button", { name: "Cancel" }).click();
  assert.deepEqual(await states(TO_DISCARD), { cibler: "delivered", citrusad: "dead" });
  await discardRow.locator("button[data-action=discard]").click();
  assert.match(await page.locator("#confirm-text").textContent(), new RegExp(TO_DISCARD));
  await page.locator("#confirm-discard").click();
  await waitStates(TO_DISCARD, { cibler: "delivered", citrusad: "skipped" });
  await waitFor("no dead letters left", async () => page.locator("#dead-empty").isVisible());

  // Search by order id (its beginning).
  await page.fill("#search-input", REFUSED.slice(0, -1));
  await page.click("#search button[type=submit]");
  await waitFor("the search's answer", async () => (await page.locator("#orders tbody tr").count()) === 1);
  assert.equal(await page.locator("#orders tbody tr").getAttribute("data-order-id"), REFUSED);
  assert.match(await page.locator("#orders-title").textContent(), /starts with/);
  await page.fill("#search-input", "no-such-order");
  await page.click("#search button[type=submit]");
  await waitFor("an empty answer", async () => page.locator("#orders-empty").isVisible());

  assert.deepEqual(consoleProblems(seen), []);

  // Sign out: the cookie is gone and the page is the sign-in form again.
  await Promise.all([page.waitForEvent("load"), page.click("#sign-out")]);
  await page.locator("#token").waitFor();
  assert.equal((await context.cookies()).filter((c) => c.name === "ordersync_console" && c.value).length, 0);
  await context.close();

  // The token is never written to the relay's log.
  const log = readFileSync(stack.logs.relay, "utf8");
  assert.match(log, /console: signed in/);
  assert.ok(!log.includes(TOKEN), "the token is not in the relay's log");
});

/** A reverse proxy serving the relay under /ordersync/ (the prefix stripped, as nginx's
 * `proxy_pass http://relay/;` does). */
async function startPrefixProxy() {
  const relay = new URL(stack.relayUrl);
  const server = http.createServer((request, response) => {
    if (!request.url.startsWith("/ordersync/")) {
      response.writeHead(404).end();
      return;
    }
    const upstream = http.request(
      { host: relay.hostname, port: relay.port, method: request.method, path: request.url.slice("/ordersync".length), headers: request.headers },
      (answer) => {
        response.writeHead(answer.statusCode, answer.headers);
        answer.pipe(response);
      },
    );
    upstream.on("error", () => response.writeHead(502).end());
    request.pipe(upstream);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { server, base: `http://127.0.0.1:${server.address().port}/ordersync` };
}

test("behind a reverse proxy, under a prefix, the console signs in and shows the orders", { timeout: 60_000 }, async () => {
  const proxy = await startPrefixProxy();
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (error) => errors.push(String(error)));
    assert.equal((await page.goto(`${proxy.base}/console`)).status(), 401);
    await page.fill("#token", TOKEN);
    await Promise.all([page.waitForURL(`${proxy.base}/console`), page.click("button[type=submit]")]);
    const [cookie] = (await context.cookies()).filter((c) => c.name === "ordersync_console");
    assert.equal(cookie.path, "/ordersync/console");
    await page.locator(`#orders tr[data-order-id="${DELIVERED[0]}"]`).waitFor();
    assert.match(await page.locator("#freshness").textContent(), /^Updated/);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    proxy.server.closeAllConnections();
    proxy.server.close();
  }
});
