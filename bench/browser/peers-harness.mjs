// Shared by bench/browser/peers.mjs and bench/browser/loads.mjs: compressed sizes, a loopback
// static server with a stand-in relay endpoint, headless Chromium, and order statistics.
import http from "node:http";
import { readFileSync } from "node:fs";
import { once } from "node:events";
import { gzipSync, brotliCompressSync, constants } from "node:zlib";
import os from "node:os";
import { chromium } from "playwright-core";

/** Raw, gzip -9 and brotli -q 11 bytes of a buffer (the same settings as scripts/size.mjs). */
export function sizes(bytes) {
  return {
    raw: bytes.length,
    gzip: gzipSync(bytes, { level: 9 }).length,
    brotli: brotliCompressSync(bytes, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: 11,
        [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
      },
    }).length,
  };
}

export const addSizes = (a, b) => ({ raw: a.raw + b.raw, gzip: a.gzip + b.gzip, brotli: a.brotli + b.brotli });
export const ZERO = { raw: 0, gzip: 0, brotli: 0 };

const TYPES = { ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".html": "text/html", ".json": "application/json" };

/**
 * A loopback HTTP server. `files(pathname)` returns a file path to serve (or null); `pages`
 * maps a pathname to HTML text. POST /ordersync/v1/checkouts answers 202 as the relay would,
 * GET .../v1/resource/third-o answers 200. `state.handoffs` counts hand-offs, `state.served`
 * lists the pathnames of the files served.
 */
export async function startServer({ files, pages = new Map() }) {
  const state = { handoffs: 0, served: [] };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://localhost");
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      if (req.method === "POST" && url.pathname === "/ordersync/v1/checkouts") {
        state.handoffs++;
        let orderId = null;
        try {
          orderId = JSON.parse(Buffer.concat(chunks).toString("utf8")).checkout?.orderId ?? null;
        } catch {
          // answered all the same: this endpoint only stands in for the relay's timing
        }
        res.writeHead(202, { "Content-Type": "application/json" });
        return res.end(JSON.stringify({ orderId, status: "accepted" }));
      }
      if (req.method === "GET" && url.pathname.endsWith("/v1/resource/third-o")) {
        res.writeHead(200, { "Content-Type": "application/json" });
        return res.end("{}");
      }
      if (pages.has(url.pathname)) {
        res.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" });
        return res.end(pages.get(url.pathname));
      }
      const file = files(url.pathname);
      if (file) {
        try {
          const body = readFileSync(file);
          state.served.push(url.pathname);
          const ext = file.slice(file.lastIndexOf("."));
          res.writeHead(200, { "Content-Type": TYPES[ext] ?? "application/octet-stream", "Cache-Control": "no-cache" });
          return res.end(body);
        } catch {
          // fall through to 404
        }
      }
      res.writeHead(404);
      res.end();
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { base: `http://127.0.0.1:${server.address().port}`, state, close: () => server.close() };
}

/** Headless Chromium with the flags DESIGN.md measured on this machine. */
/** Headless Chromium with DESIGN.md's flags, plus `extraArgs` (a diagnostic's `--js-flags`). */
export function launchChromium(extraArgs = []) {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
      "--disable-sync", "--no-first-run", "--disable-quic", ...extraArgs],
  });
}

/** Median, p95 (nearest rank), min and max. */
export function stats(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
  return { n: sorted.length, median: rank(0.5), p95: rank(0.95), min: sorted[0], max: sorted[sorted.length - 1] };
}

export function machine() {
  const cpus = os.cpus();
  return `${cpus.length} cores (${cpus[0]?.model ?? "unknown"}), load average ${os.loadavg().map((l) => l.toFixed(1)).join(" ")}, node ${process.version}`;
}

export const argValue = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
};
