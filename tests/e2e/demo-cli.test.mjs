// `npm start` as a user runs it: scripts/demo.sh (here with what test-e2e.sh already built) and
// the demo server it runs (www/dev-server.mjs with --relay-bin) start the relay and the sandbox,
// print the URLs, serve a signed confirmation page and the inspector over loopback, and on
// Ctrl-C (SIGINT) or SIGTERM stop everything they started: no process left on any port.
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

/** Reads `child`'s stdout lines until the demo printed all its URLs; returns them parsed. */
async function demoUrls(child) {
  const lines = [];
  readline.createInterface({ input: child.stdout }).on("line", (line) => lines.push(line));
  await waitFor("the demo's URLs", () => lines.some((l) => l.includes("vendor sandbox")), 30_000);
  const first = lines.find((l) => l.startsWith("demo: "));
  const match = first?.match(/^demo: (http:\/\/127\.0\.0\.1:\d+)\/\s+\(relay (http:\/\/127\.0\.0\.1:\d+), sandbox (http:\/\/127\.0\.0\.1:\d+)\)$/);
  assert.ok(match, `first line: ${first}`);
  assert.ok(lines.some((l) => l.includes(`${match[1]}/inspector`)), "the inspector's URL is printed");
  return { shop: match[1], relay: match[2], sandbox: match[3] };
}

test("npm start (scripts/demo.sh): up on loopback, and Ctrl-C stops all of it", { timeout: 60_000 }, async () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "ordersync-demo-sh-"));
  const demo = spawn("bash", ["scripts/demo.sh"], {
    cwd: root,
    env: { ...process.env, PORT: "0", RELAY_PORT: "0", SANDBOX_PORT: "0", ORDERSYNC_DEMO_DIR: dataDir, ORDERSYNC_DEMO_NO_BUILD: "1", ORDERSYNC_RELAY_BIN: relayBin },
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    const { shop, relay, sandbox } = await demoUrls(demo);
    assert.equal((await fetch(`${relay}/readyz`)).status, 200);
    const placed = await fetch(`${shop}/?sample=gift-code`, { redirect: "manual" });
    assert.equal(placed.status, 303);
    assert.equal((await fetch(new URL(placed.headers.get("location"), shop))).status, 200);
    demo.kill("SIGINT");
    await waitFor("demo.sh to exit", () => demo.exitCode !== null || demo.signalCode !== null, 20_000);
    for (const url of [`${shop}/`, `${relay}/healthz`, `${sandbox}/__sandbox/requests`]) {
      assert.ok(await refused(url), `${url} is closed after Ctrl-C`);
    }
  } finally {
    if (demo.exitCode === null) demo.kill("SIGKILL");
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test("the demo server starts the stack, prints its URLs, and stops it all on SIGTERM", { timeout: 60_000 }, async () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "ordersync-demo-cli-"));
  const server = spawn("node", ["www/dev-server.mjs", "--port", "0", "--relay-bin", relayBin, "--data-dir", dataDir], {
    cwd: root,
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    const { shop, relay, sandbox } = await demoUrls(server);

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
