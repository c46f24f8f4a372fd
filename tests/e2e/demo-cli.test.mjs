// The demo's server as `npm start` runs it (www/dev-server.mjs with --relay-bin): it starts the
// relay and the sandbox, prints the URLs, serves a signed confirmation page and the inspector
// over loopback, and on SIGTERM stops everything it started (no process left on any port).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";

import { root, waitFor } from "./harness.mjs";

const relayBin = process.env.ORDERSYNC_RELAY_BIN ?? path.join(root, "target/debug/ordersync-relay");

async function refused(url) {
  try {
    await fetch(url, { signal: AbortSignal.timeout(2000) });
    return false;
  } catch (error) {
    return error.cause?.code === "ECONNREFUSED";
  }
}

test("the demo server starts the stack, prints its URLs, and stops it all on SIGTERM", { timeout: 60_000 }, async () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "ordersync-demo-cli-"));
  const server = spawn("node", ["www/dev-server.mjs", "--port", "0", "--relay-bin", relayBin, "--data-dir", dataDir], {
    cwd: root,
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    const lines = [];
    const reader = readline.createInterface({ input: server.stdout });
    reader.on("line", (line) => lines.push(line));
    await waitFor("the demo's URLs", () => lines.some((l) => l.includes("vendor sandbox")), 30_000);
    const first = lines[0].match(/^demo: (http:\/\/127\.0\.0\.1:\d+)\/\s+\(relay (http:\/\/127\.0\.0\.1:\d+), sandbox (http:\/\/127\.0\.0\.1:\d+)\)$/);
    assert.ok(first, `first line: ${lines[0]}`);
    const [, shop, relay, sandbox] = first;
    assert.ok(lines.some((l) => l.includes(`${shop}/inspector`)), "the inspector's URL is printed");

    // Everything up, on loopback.
    assert.equal((await fetch(`${relay}/readyz`)).status, 200);
    assert.equal((await fetch(`${sandbox}/__sandbox/requests`)).status, 200);
    const placed = await fetch(`${shop}/?sample=one-item`, { redirect: "manual" });
    assert.equal(placed.status, 303);
    const page = await fetch(new URL(placed.headers.get("location"), shop));
    const html = await page.text();
    assert.equal(page.status, 200);
    const data = JSON.parse(html.match(/<script id="order-data" type="application\/json">(.*?)<\/script>/s)[1]);
    assert.match(data.token, /^[\w-]+\.[\w-]+\.[\w-]+$/, "the page carries a compact JWS");
    assert.equal(data.checkout, undefined, "and not the plain checkout");
    assert.equal((await fetch(`${shop}/inspector`)).status, 200);

    server.kill("SIGTERM");
    const [code] = await once(server, "exit");
    assert.equal(code, 0);
    for (const url of [`${shop}/`, `${relay}/healthz`, `${sandbox}/__sandbox/requests`]) {
      assert.ok(await refused(url), `${url} is closed after SIGTERM`);
    }
  } finally {
    if (server.exitCode === null) server.kill("SIGKILL");
    rmSync(dataDir, { recursive: true, force: true });
  }
});
