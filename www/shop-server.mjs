// The demo's web server, playing the shop's own server:
// - it "places" sample orders and renders their confirmation page with the checkout signed as
//   a compact JWS (HS256, with `jose`, as a shop's server would sign it);
// - it puts the relay on the shop's own origin under /ordersync, as we recommend shops do with
//   their reverse proxy (first-party path: no CORS preflight, out of reach of generic
//   ad-blocking rules), and answers 502 while the relay is down, as a proxy would;
// - it serves the built package (pkg/), the Vite example's build (examples/vite-app/dist) and
//   the inspector, with a small demo API (/demo/*) that the inspector polls.
// Without a stack (no relay), /ordersync is a local endpoint that answers 202 and records what
// it got, and pages send the checkout unsigned: enough to try the module alone.
import http from "node:http";
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { SignJWT, decodeJwt } from "jose";

import { DEMO } from "./stack.mjs";
import { SAMPLES, DEFAULT_SAMPLE, checkoutFor } from "./samples.mjs";

/** Where the module is told the relay is: a path on the shop's own origin. */
export const RELAY_PATH = "/ordersync";
/** A forged token: the right shape, signed with a secret that is not the shop's. */
const FORGER_SECRET = "not-the-shop-secret-just-a-good-guess-0123456789";
/**
 * As the README tells shops: 7 days, as long as the browser keeps a hand-off queued while the
 * relay is away (a replay is harmless: the relay takes each order id once, and remembers
 * delivered ones for 400 days).
 */
const TOKEN_LIFETIME = "7d";
/** The inspector shows (and asks the relay about) this many of the latest orders. */
const INSPECTED_ORDERS = 25;
const MAX_BODY_BYTES = 1 << 20;
/**
 * Every answer is revalidated on each use (`no-cache`: a reload gets the current build and
 * data), but not `no-store`: Chromium keeps no-store pages, and pages whose scripts fetched a
 * no-store answer, out of the back/forward cache, and the confirmation page should show that
 * the module keeps it eligible (tests/e2e/bfcache.test.mjs).
 */
const CACHE_CONTROL = "no-cache";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".wasm": "application/wasm",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
};

/** Static files by URL path, relative to the repository root. */
const STATIC = {
  "/demo.js": "www/demo.js",
  "/demo-bar.js": "www/demo-bar.js",
  "/inspector": "www/inspector.html",
  "/inspector.html": "www/inspector.html",
  "/inspector.js": "www/inspector.js",
  "/shop.css": "www/shop.css",
  "/pkg/ordersync.js": "pkg/ordersync.js",
  "/pkg/ordersync_bg.wasm": "pkg/ordersync_bg.wasm",
};

function send(res, status, body, type = "application/json") {
  const text = type === "application/json" ? JSON.stringify(body, null, 2) : body;
  res.writeHead(status, { "Content-Type": type, "Cache-Control": CACHE_CONTROL });
  res.end(text);
}

function sendError(res, status, message) {
  send(res, status, { error: { message } });
}

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw Object.assign(new Error("body too large"), { status: 413 });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function isJson(req) {
  return (req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase() === "application/json";
}

function parseJson(buffer) {
  try {
    return JSON.parse(buffer.toString("utf8"));
  } catch {
    return null;
  }
}

/** The sample orders a page offers to place: name -> { label, summary }. */
function sampleMenu() {
  return Object.fromEntries(Object.entries(SAMPLES).map(([name, s]) => [name, { label: s.label, summary: s.summary }]));
}

/** JSON for a `<script type="application/json">` block: nothing in it can close the tag. */
function scriptJson(value) {
  return JSON.stringify(value).replace(/</g, "\\u003c");
}

/** The sandbox records credentials verbatim (it is a test tool); the inspector shows none. */
function redactRecordedRequest(entry) {
  const copy = structuredClone(entry);
  if (copy.headers?.authorization) copy.headers.authorization = "Basic ••••••";
  if (typeof copy.body?.orderContext?.key === "string") copy.body.orderContext.key = "••••••";
  return copy;
}

/**
 * @param {object} options
 * @param {string} options.root  the repository root
 * @param {boolean} [options.withRelay]  true: signed pages and a proxy to the stack given to
 *   attachStack() (502 until then); false: local endpoint, unsigned pages
 */
export function createShopServer({ root, withRelay }) {
  const signingKey = new TextEncoder().encode(DEMO.signingSecret);
  const forgerKey = new TextEncoder().encode(FORGER_SECRET);
  /** @type {Map<string, object>} orderId -> order, in placement order */
  const orders = new Map();
  /** Hand-offs that came through /ordersync, and what the relay (or the proxy) answered. */
  const handoffs = [];
  /** Local-endpoint mode: every request it got. */
  const recorded = [];
  /** Relay answers that can no longer change (delivered), by order id. */
  const settledStatus = new Map();
  let lastOrderId = 0;
  /** From startStack(), once attached. */
  let stack = null;
  let switching = Promise.resolve();
  const signed = Boolean(withRelay);

  function newOrderId() {
    // Numeric (CibleR wants a Long) and unique across demo runs.
    lastOrderId = Math.max(Date.now(), lastOrderId + 1);
    return String(lastOrderId);
  }

  async function placeOrder(sampleName, orderId = newOrderId()) {
    const sample = SAMPLES[sampleName];
    const placedAt = new Date();
    const checkout = checkoutFor(sampleName, orderId, placedAt, `sess-${randomUUID().slice(0, 18)}`);
    const order = { orderId, sample: sampleName, label: sample.label, placedAt: placedAt.toISOString(), forged: Boolean(sample.forged), checkout };
    if (signed) {
      order.token = await new SignJWT({ ...checkout })
        .setProtectedHeader({ alg: "HS256", typ: "JWT" })
        .setIssuedAt()
        .setExpirationTime(TOKEN_LIFETIME)
        .sign(sample.forged ? forgerKey : signingKey);
    }
    orders.set(orderId, order);
    return order;
  }

  /** What a confirmation page (server-rendered or the Vite app) needs to show and report it. */
  function pageData(order) {
    const sample = SAMPLES[order.sample];
    return {
      orderId: order.orderId,
      sample: order.sample,
      label: sample.label,
      summary: sample.summary,
      placedAt: order.placedAt,
      lines: sample.lines,
      totals: sample.totals,
      customer: { email: order.checkout.email },
      relayUrl: RELAY_PATH,
      // Signed: the page passes the token through untouched. Unsigned (no relay): the object.
      ...(signed ? { token: order.token } : { checkout: order.checkout }),
      citrus: {
        baseUrl: citrusBaseUrl(),
        publishableKey: DEMO.citrus.publishableKey,
        teamId: DEMO.citrus.teamId,
        catalogId: DEMO.citrus.catalogId,
      },
      mode: signed ? "signed" : "local",
      samples: sampleMenu(),
    };
  }

  async function orderFromQuery(url) {
    const wanted = url.searchParams.get("order");
    const sampleName = SAMPLES[url.searchParams.get("sample")] ? url.searchParams.get("sample") : DEFAULT_SAMPLE;
    if (!wanted) return placeOrder(sampleName);
    if (orders.has(wanted)) return orders.get(wanted);
    // An order number this server has not placed yet (a bookmarked or scripted URL): the shop
    // "places" it now from the sample, so /?order=N always shows a confirmation page.
    if (/^[1-9]\d{0,14}$/.test(wanted)) return placeOrder(sampleName, wanted);
    return null;
  }

  async function confirmationPage(req, res, url) {
    if (!url.searchParams.get("order")) {
      // Post/redirect/get, as a shop does after payment: the confirmation URL names the order,
      // so a reload shows the same order (and the module's duplicate guard at work).
      const order = await orderFromQuery(url);
      const next = new URLSearchParams(url.searchParams);
      next.delete("sample");
      next.set("order", order.orderId);
      res.writeHead(303, { Location: `/?${next}`, "Cache-Control": CACHE_CONTROL });
      return res.end();
    }
    const order = await orderFromQuery(url);
    if (!order) return sendError(res, 404, "no such order");
    const template = await readFile(path.join(root, "www/index.html"), "utf8");
    const html = template.replace(
      "<!--ORDER-DATA-->",
      `<script id="order-data" type="application/json">${scriptJson(pageData(order))}</script>`,
    );
    send(res, 200, html, TYPES[".html"]);
  }

  function describeHandoff(body) {
    if (!body || typeof body !== "object") return { orderId: null, signed: false, cookieId: null };
    let orderId = body.checkout?.orderId ?? null;
    if (typeof body.token === "string") {
      try {
        orderId = decodeJwt(body.token).orderId ?? null;
      } catch {
        orderId = null;
      }
    }
    return { orderId: orderId === null ? null : String(orderId), signed: typeof body.token === "string", cookieId: body.cookieId ?? null };
  }

  /** /ordersync/v1/checkouts[/{id}] -> the relay, as the shop's reverse proxy would. */
  async function proxyToRelay(req, res, url) {
    const relayPath = url.pathname.slice(RELAY_PATH.length);
    if (!/^\/v1\/checkouts(\/[^/]+)?$/.test(relayPath)) return sendError(res, 404, "not found");
    const payload = await readBody(req);
    const isPost = req.method === "POST";
    const entry = isPost ? { at: new Date().toISOString(), ...describeHandoff(parseJson(payload)), status: null, answer: null } : null;
    if (entry) handoffs.push(entry);
    let status;
    let answerBody;
    const headers = { "Content-Type": "application/json", "Cache-Control": CACHE_CONTROL };
    try {
      if (!stack) throw Object.assign(new Error("the relay is not started yet"), { code: "starting" });
      // While the relay is switched off this really connects, and is really refused.
      const answer = await fetch(stack.relayUrl + relayPath + url.search, {
        method: req.method,
        headers: { "content-type": req.headers["content-type"] ?? "application/json" },
        body: ["GET", "HEAD"].includes(req.method) ? undefined : payload,
        signal: AbortSignal.timeout(10_000),
      });
      status = answer.status;
      answerBody = Buffer.from(await answer.arrayBuffer());
      headers["Content-Type"] = answer.headers.get("content-type") ?? "application/json";
      const retryAfter = answer.headers.get("retry-after");
      if (retryAfter) headers["Retry-After"] = retryAfter;
    } catch (error) {
      status = 502;
      answerBody = Buffer.from(JSON.stringify({ error: { message: `the relay could not be reached (${error.cause?.code ?? error.code ?? error.name})` } }));
    }
    if (entry) {
      entry.status = status;
      entry.answer = parseJson(answerBody);
    }
    res.writeHead(status, headers);
    res.end(answerBody);
  }

  async function localEndpoint(req, res, url) {
    const body = await readBody(req);
    const parsed = parseJson(body) ?? body.toString("utf8");
    recorded.push({ method: req.method, path: url.pathname, query: url.search.slice(1), body: parsed });
    if (url.pathname === `${RELAY_PATH}/v1/checkouts` && req.method === "POST") {
      const entry = { at: new Date().toISOString(), ...describeHandoff(parsed), status: 202 };
      entry.answer = { orderId: entry.orderId, status: "accepted" };
      handoffs.push(entry);
      return send(res, 202, entry.answer);
    }
    if (url.pathname === `${RELAY_PATH}-local-citrus/v1/resource/third-o`) {
      res.writeHead(200, { "Content-Type": "application/json", "Access-Control-Allow-Origin": "*" });
      return res.end("{}");
    }
    sendError(res, 404, "not found");
  }

  async function relayStatus(orderId) {
    if (settledStatus.has(orderId)) return settledStatus.get(orderId);
    if (!stack?.relayRunning) return { httpStatus: null, error: "relay stopped" };
    try {
      const answer = await fetch(`${stack.relayUrl}/v1/checkouts/${encodeURIComponent(orderId)}`, { signal: AbortSignal.timeout(3000) });
      const view = { httpStatus: answer.status, body: parseJson(Buffer.from(await answer.arrayBuffer())) };
      if (answer.ok && view.body?.status === "delivered") settledStatus.set(orderId, view);
      return view;
    } catch (error) {
      return { httpStatus: null, error: `relay unreachable (${error.cause?.code ?? error.name})` };
    }
  }

  async function sandboxJournal() {
    if (!stack) return [];
    try {
      const answer = await fetch(`${stack.sandboxUrl}/__sandbox/requests`, { signal: AbortSignal.timeout(3000) });
      return (await answer.json()).map(redactRecordedRequest);
    } catch {
      return [];
    }
  }

  async function demoState() {
    const latest = [...orders.values()].slice(-INSPECTED_ORDERS).reverse();
    const statuses = signed
      ? await Promise.all(latest.map((o) => relayStatus(o.orderId)))
      : latest.map((o) => ({ httpStatus: handoffs.some((h) => h.orderId === o.orderId) ? 202 : 404, body: null }));
    return {
      mode: signed ? "relay + sandbox" : "local endpoint",
      relay: stack ? { running: stack.relayRunning, url: stack.relayUrl } : null,
      sandboxUrl: stack?.sandboxUrl ?? null,
      orders: latest.map((o, i) => ({
        orderId: o.orderId, sample: o.sample, label: o.label, forged: o.forged, placedAt: o.placedAt,
        items: o.checkout.items.length, totalSpent: o.checkout.totalSpent, relay: statuses[i],
      })),
      handoffs: handoffs.slice(-100),
      vendors: await sandboxJournal(),
    };
  }

  async function switchRelay(req, res) {
    if (!stack) return sendError(res, 409, "no relay in local-endpoint mode");
    const body = parseJson(await readBody(req));
    if (typeof body?.running !== "boolean") return sendError(res, 400, "body must be {\"running\": true|false}");
    // One switch at a time: a double click must not start two relays on one database.
    const change = switching.then(() => (body.running ? stack.startRelay() : stack.stopRelay()));
    switching = change.catch(() => {});
    await change;
    send(res, 200, { running: stack.relayRunning });
  }

  /** The vendors' outage switch: the sandbox answers 503 to every vendor request while on. */
  async function vendorOutage(req, res) {
    if (!stack) {
      return req.method === "GET" ? send(res, 200, { down: null }) : sendError(res, 409, "no sandbox in local-endpoint mode");
    }
    const faultsUrl = `${stack.sandboxUrl}/__sandbox/faults`;
    if (req.method === "POST") {
      const body = parseJson(await readBody(req));
      if (typeof body?.down !== "boolean") return sendError(res, 400, "body must be {\"down\": true|false}");
      const answer = await fetch(faultsUrl, {
        method: "PUT",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ outage: body.down }),
      });
      if (!answer.ok) return sendError(res, 502, `the sandbox refused the change (HTTP ${answer.status})`);
    }
    const faults = await (await fetch(faultsUrl)).json();
    send(res, 200, { down: Boolean(faults.outage) });
  }

  async function serveFile(res, relative) {
    try {
      const content = await readFile(path.join(root, relative));
      res.writeHead(200, { "Content-Type": TYPES[path.extname(relative)] ?? "application/octet-stream", "Cache-Control": CACHE_CONTROL });
      res.end(content);
    } catch {
      sendError(res, 404, `${relative} is missing (npm run build builds pkg/)`);
    }
  }

  /** The Vite example's build output under /vite/, with index.html for every page path. */
  async function serveVite(res, url) {
    const dist = path.join(root, "examples/vite-app/dist");
    const wanted = path.normalize(decodeURIComponent(url.pathname.slice("/vite/".length)));
    const file = path.join(dist, wanted);
    if (!file.startsWith(dist + path.sep) || path.extname(file) === "") {
      return serveFile(res, "examples/vite-app/dist/index.html");
    }
    return serveFile(res, path.relative(root, file));
  }

  async function route(req, res) {
    const url = new URL(req.url, "http://localhost");
    const { pathname } = url;
    if (req.method === "GET" && (pathname === "/" || pathname === "/index.html")) return confirmationPage(req, res, url);
    if (req.method === "GET" && STATIC[pathname]) return serveFile(res, STATIC[pathname]);
    if (req.method === "GET" && pathname.startsWith("/vite/")) return serveVite(res, url);
    if (pathname === "/vite") {
      res.writeHead(301, { Location: `/vite/${url.search}` });
      return res.end();
    }
    if (pathname === "/shop/orders" && req.method === "POST") {
      const name = url.searchParams.get("sample");
      if (name !== null && !SAMPLES[name]) return sendError(res, 400, `sample must be one of ${Object.keys(SAMPLES).join(", ")}`);
      return send(res, 201, pageData(await placeOrder(name ?? DEFAULT_SAMPLE)));
    }
    const shopOrder = pathname.match(/^\/shop\/orders\/([^/]+)$/);
    if (shopOrder && req.method === "GET") {
      const order = orders.get(decodeURIComponent(shopOrder[1]));
      return order ? send(res, 200, pageData(order)) : sendError(res, 404, "no such order");
    }
    if (pathname === "/demo/config.json") {
      return send(res, 200, { mode: signed ? "relay+sandbox" : "local endpoint", citrusBaseUrl: citrusBaseUrl(), samples: sampleMenu() });
    }
    if (pathname === "/demo/state" && req.method === "GET") return send(res, 200, await demoState());
    if (pathname.startsWith("/demo/") && req.method === "POST" && !isJson(req)) {
      // A page on another site can POST text/plain to loopback without asking; JSON needs a
      // CORS preflight this server never grants, so the demo's switches only obey its pages.
      return sendError(res, 415, "Content-Type must be application/json");
    }
    if (pathname === "/demo/relay" && req.method === "POST") return switchRelay(req, res);
    if (pathname === "/demo/vendors" && ["GET", "POST"].includes(req.method)) return vendorOutage(req, res);
    if (pathname === "/demo/relay" && req.method === "GET") return send(res, 200, { running: stack ? stack.relayRunning : null });
    if (pathname === "/demo/requests" && req.method === "GET") {
      return send(res, 200, stack ? await sandboxJournal() : recorded);
    }
    if (signed && pathname.startsWith(`${RELAY_PATH}/`)) return proxyToRelay(req, res, url);
    if (!signed) return localEndpoint(req, res, url);
    return sendError(res, 404, "not found");
  }

  /** Where pages send the third-o request: the sandbox, or this server's local endpoint. */
  function citrusBaseUrl() {
    if (stack) return stack.sandboxUrl;
    return `http://127.0.0.1:${server.address()?.port}${RELAY_PATH}-local-citrus`;
  }

  const server = http.createServer((req, res) => {
    route(req, res).catch((error) => {
      if (!res.headersSent) sendError(res, error.status ?? 500, error.status ? error.message : "demo server error");
      else res.destroy();
      if (!error.status) console.error("[demo] request failed:", error);
    });
  });

  return {
    server,
    /** Connects the relay and the sandbox (from startStack()). */
    attachStack(started) {
      stack = started;
    },
    placeOrder,
    orders,
    /** Hand-offs that came through /ordersync, with the relay's (or the proxy's) answer. */
    handoffs,
  };
}
