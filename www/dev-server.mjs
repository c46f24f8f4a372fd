// The demo's web server: serves the confirmation page (www/index.html, www/demo.js) and the
// built package (pkg/), and puts the relay on the shop's own origin under /ordersync, as a
// shop's reverse proxy would (first-party path: no CORS, out of reach of generic ad-blocking
// rules). With --relay it forwards there (the real ordersync-relay, vendors played by its
// sandbox); without it, a small local endpoint answers 202 and records what it got.
//
//   node www/dev-server.mjs [--port 8080] [--relay http://127.0.0.1:8787 --sandbox http://127.0.0.1:8788]
import http from "node:http";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const port = Number(arg("--port", "8080"));
const relay = arg("--relay", "");
const sandbox = arg("--sandbox", "");
const recorded = [];

const files = {
  "/": ["www/index.html", "text/html; charset=utf-8"],
  "/index.html": ["www/index.html", "text/html; charset=utf-8"],
  "/demo.js": ["www/demo.js", "text/javascript; charset=utf-8"],
  "/pkg/ordersync.js": ["pkg/ordersync.js", "text/javascript; charset=utf-8"],
  "/pkg/ordersync_bg.wasm": ["pkg/ordersync_bg.wasm", "application/wasm"],
};

function json(res, status, body) {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(JSON.stringify(body, null, 2));
}

async function body(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function forward(req, res, target) {
  const payload = await body(req);
  try {
    const answer = await fetch(target, {
      method: req.method,
      headers: { "content-type": req.headers["content-type"] ?? "application/json" },
      body: ["GET", "HEAD"].includes(req.method) ? undefined : payload,
    });
    res.writeHead(answer.status, {
      "Content-Type": answer.headers.get("content-type") ?? "application/json",
    });
    res.end(Buffer.from(await answer.arrayBuffer()));
  } catch (error) {
    json(res, 502, { error: { message: `relay unreachable: ${error.cause?.code ?? error.message}` } });
  }
}

async function localEndpoint(req, res, url) {
  const text = (await body(req)).toString("utf8");
  let parsed = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // shown as text
  }
  recorded.push({ method: req.method, path: url.pathname, query: url.search.slice(1), body: parsed });
  if (url.pathname === "/ordersync/v1/checkouts" && req.method === "POST") {
    return json(res, 202, { orderId: parsed?.checkout?.orderId ?? null, status: "accepted" });
  }
  if (url.pathname === "/citrus/v1/resource/third-o") return json(res, 200, {});
  json(res, 404, { error: { message: "not found" } });
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, "http://localhost");
  const file = files[url.pathname];
  if (file && req.method === "GET") {
    try {
      const content = await readFile(path.join(root, file[0]));
      res.writeHead(200, { "Content-Type": file[1], "Cache-Control": "no-store" });
      return res.end(content);
    } catch {
      return json(res, 404, { error: { message: `${file[0]} missing: run npm run build` } });
    }
  }
  if (url.pathname === "/demo/config.json") {
    return json(res, 200, {
      mode: relay ? "relay+sandbox" : "local endpoint",
      citrusBaseUrl: sandbox || `http://127.0.0.1:${port}/citrus`,
    });
  }
  if (url.pathname === "/demo/requests") {
    if (!sandbox) return json(res, 200, recorded);
    return forward(req, res, `${sandbox}/__sandbox/requests`);
  }
  if (url.pathname.startsWith("/ordersync/") && relay) {
    return forward(req, res, relay + url.pathname.slice("/ordersync".length) + url.search);
  }
  return localEndpoint(req, res, url);
});

server.listen(port, "127.0.0.1", () => {
  console.log(`demo: http://127.0.0.1:${port}/  (${relay ? `relay ${relay}, sandbox ${sandbox}` : "local endpoint"})`);
});
