// The local test server the wasm-bindgen-test suites talk to: it plays the relay and the
// CitrusAd third-o endpoint, records every request, and answers with permissive CORS (the
// test page is served by wasm-bindgen-test-runner from another port, so every call is
// cross-origin, as a relay on another host would be).
//
//   POST /r/<name>/v1/checkouts    -> the status set for <name> (default 202)
//   GET  <any>/v1/resource/third-o -> 200
//   PUT  /__status/<name>/<code>   -> sets the relay status for <name>; with `?field=F`, its
//                                     error body names F, as the relay's 400 names the field
//   GET  /__requests               -> every recorded request, in order, as JSON
//
// Prints "listening http://127.0.0.1:PORT" once ready. Loopback only; stops on SIGTERM or
// after --max-seconds (default 900), whichever comes first.
import http from "node:http";

const maxSeconds = Number(process.argv[process.argv.indexOf("--max-seconds") + 1]) || 900;
const statuses = new Map();
const fields = new Map();
const recorded = [];

function cors(res) {
  res.setHeader("Access-Control-Allow-Origin", "*");
  res.setHeader("Access-Control-Allow-Methods", "GET, POST, PUT, OPTIONS");
  res.setHeader("Access-Control-Allow-Headers", "Content-Type");
  res.setHeader("Access-Control-Max-Age", "600");
  // wasm-bindgen-test-runner serves its page with COEP require-corp: a no-cors response (the
  // third-o request) without this header is blocked, and fetch rejects although the request
  // reached us. A shop page with COEP would see the same with a CitrusAd host lacking it.
  res.setHeader("Cross-Origin-Resource-Policy", "cross-origin");
}

function send(res, status, body) {
  res.statusCode = status;
  res.setHeader("Content-Type", "application/json");
  res.end(JSON.stringify(body));
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    cors(res);
    const url = new URL(req.url, "http://localhost");
    const text = Buffer.concat(chunks).toString("utf8");
    if (req.method === "OPTIONS") {
      res.statusCode = 204;
      return res.end();
    }
    if (url.pathname === "/__requests") return send(res, 200, recorded);
    const control = url.pathname.match(/^\/__status\/([^/]+)\/(\d{3})$/);
    if (control && req.method === "PUT") {
      statuses.set(control[1], Number(control[2]));
      fields.set(control[1], url.searchParams.get("field") ?? undefined);
      return send(res, 200, { ok: true });
    }
    let body = text;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      // kept as text: a test asserts on it
    }
    recorded.push({
      method: req.method,
      path: url.pathname,
      query: url.search.slice(1),
      headers: req.headers,
      body,
    });
    const relay = url.pathname.match(/^\/r\/([^/]+)\/v1\/checkouts$/);
    if (relay && req.method === "POST") {
      const status = statuses.get(relay[1]) ?? 202;
      const orderId = body && (body.checkout?.orderId ?? null);
      if (status === 429) res.setHeader("Retry-After", "1");
      return send(res, status, status < 300
        ? { orderId, status: "accepted" }
        : { error: { message: "test server answered " + status, field: fields.get(relay[1]) } });
    }
    if (url.pathname.endsWith("/v1/resource/third-o") && req.method === "GET") {
      return send(res, 200, {});
    }
    send(res, 404, { error: { message: "not found" } });
  });
});

server.listen(0, "127.0.0.1", () => {
  console.log(`listening http://127.0.0.1:${server.address().port}`);
});
const stop = () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
setTimeout(() => process.exit(0), maxSeconds * 1000).unref();
