// The demo's back end as real processes: the vendor sandbox (`ordersync-sandbox`, playing
// CibleR and CitrusAd) and the relay (`ordersync-relay serve`, SQLite outbox, keys pointing at
// the sandbox). Used by the demo server (www/dev-server.mjs) and by the end-to-end tests
// (tests/e2e/), so both run exactly the same stack. Everything listens on 127.0.0.1 only.
//
// The relay can be stopped and started again on the same port and database, which is how the
// demo shows the browser module queueing a hand-off while the relay is away.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createWriteStream, mkdirSync } from "node:fs";
import path from "node:path";
import readline from "node:readline";

/** The demo's settings. The keys are the seed documents' placeholders where they show one. */
export const DEMO = Object.freeze({
  // HS256 needs at least 32 bytes (RFC 7518 §3.2); the relay refuses shorter secrets.
  signingSecret: "ordersync-demo-signing-secret-not-for-production",
  cibler: {
    customerId: "demo-customer",
    apiKey: "xxxx-xxxx-xxxx-xxxx-xxxx",
    siteId: "13",
    environment: "Prod",
  },
  citrus: {
    apiKey: "demo-citrusad-secret-key",
    teamId: "9f48572c-0a5b-4997-9a0e-ed74f4d32dc6",
    catalogId: "6adb93d0-7he4-4d4e-9b47-e5d3714c976a",
    publishableKey: "pk_demo_publishable",
  },
});

const START_DEADLINE_MS = 20_000;
const STOP_DEADLINE_MS = 15_000;

/**
 * Spawns `bin args`, waits for its first stdout line `... listening on http://HOST:PORT`, and
 * returns `{ child, url }`. Everything else it prints goes to `logFile`.
 */
async function spawnListening(bin, args, env, logFile) {
  const log = createWriteStream(logFile, { flags: "a" });
  const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  child.stderr.pipe(log);
  const lines = readline.createInterface({ input: child.stdout });
  const exited = once(child, "exit").then(([code, signal]) => {
    throw new Error(`${path.basename(bin)} ${args[0]} exited (${signal ?? code}) before listening; see ${logFile}`);
  });
  const listening = (async () => {
    for await (const line of lines) {
      log.write(`${line}\n`);
      const match = line.match(/listening on (http:\/\/\S+)/);
      if (match) return match[1];
    }
    throw new Error(`${path.basename(bin)} ${args[0]} closed its output before listening; see ${logFile}`);
  })();
  const timeout = new Promise((_, reject) => {
    const timer = setTimeout(() => reject(new Error(`${path.basename(bin)} ${args[0]} did not listen within ${START_DEADLINE_MS} ms; see ${logFile}`)), START_DEADLINE_MS);
    timer.unref();
  });
  try {
    const url = await Promise.race([listening, exited, timeout]);
    // Keep draining stdout into the log, or a chatty child would block on a full pipe.
    lines.on("line", (line) => log.write(`${line}\n`));
    exited.catch(() => {});
    return { child, url };
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
}

/** SIGTERM (the relay and the sandbox shut down gracefully on it), SIGKILL after a deadline. */
async function stopChild(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), STOP_DEADLINE_MS);
  await exited;
  clearTimeout(timer);
}

async function waitUntilReady(url) {
  const deadline = Date.now() + START_DEADLINE_MS;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`${url}/readyz`)).ok) return;
    } catch {
      // not yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`relay at ${url} not ready within ${START_DEADLINE_MS} ms`);
}

/**
 * Starts the sandbox and the relay.
 *
 * @param {object} options
 * @param {string} options.relayBin   path of the `ordersync-relay` binary
 * @param {string} [options.sandboxBin]  path of the `ordersync-sandbox` binary (default: beside
 *   the relay's, as `cargo build -p ordersync-relay -p ordersync-sandbox` leaves them)
 * @param {string} options.dataDir    where the SQLite outbox and the logs go
 * @param {string} options.allowedOrigin  the shop's origin (CORS), e.g. http://127.0.0.1:8080
 * @param {number} [options.relayPort=0]  0 picks a free port (kept across relay restarts)
 * @param {number} [options.sandboxPort=0]
 * @param {Record<string, string>} [options.relayEnv]  more relay settings (e.g. the console's)
 */
export async function startStack({
  relayBin,
  sandboxBin = path.join(path.dirname(relayBin), "ordersync-sandbox"),
  dataDir,
  allowedOrigin,
  relayPort = 0,
  sandboxPort = 0,
  relayEnv: extraRelayEnv = {},
}) {
  mkdirSync(dataDir, { recursive: true });
  const sandbox = await spawnListening(
    sandboxBin,
    ["--listen", `127.0.0.1:${sandboxPort}`],
    {
      // Strict about credentials too: a request with the wrong key is refused and recorded.
      ORDERSYNC_SANDBOX_CIBLER_CUSTOMER_ID: DEMO.cibler.customerId,
      ORDERSYNC_SANDBOX_CIBLER_API_KEY: DEMO.cibler.apiKey,
      ORDERSYNC_SANDBOX_CITRUS_API_KEY: DEMO.citrus.apiKey,
    },
    path.join(dataDir, "sandbox.log"),
  );

  // Secrets through the environment, never on the command line (where `ps` shows them).
  const relayEnv = {
    ORDERSYNC_SIGNING_SECRET: DEMO.signingSecret,
    ORDERSYNC_DATABASE_URL: `sqlite://${path.join(dataDir, "demo.db")}`,
    ORDERSYNC_ALLOWED_ORIGINS: allowedOrigin,
    ORDERSYNC_CIBLER_BASE_URL: sandbox.url,
    ORDERSYNC_CIBLER_CUSTOMER_ID: DEMO.cibler.customerId,
    ORDERSYNC_CIBLER_API_KEY: DEMO.cibler.apiKey,
    ORDERSYNC_CIBLER_SITE_ID: DEMO.cibler.siteId,
    ORDERSYNC_CIBLER_ENVIRONMENT: DEMO.cibler.environment,
    ORDERSYNC_CITRUS_BASE_URL: sandbox.url,
    ORDERSYNC_CITRUS_API_KEY: DEMO.citrus.apiKey,
    ORDERSYNC_CITRUS_TEAM_ID: DEMO.citrus.teamId,
    ORDERSYNC_CITRUS_CATALOG_ID: DEMO.citrus.catalogId,
    // Every request reaches the relay from the shop server's proxy, so every shopper (and the
    // inspector's polling) shares one client address: size the per-client limit for all.
    ORDERSYNC_RATE_LIMIT_PER_MINUTE: "6000",
    ORDERSYNC_RATE_LIMIT_BURST: "600",
    // Quick retries, so a demo outage heals within seconds once the vendors are back.
    ORDERSYNC_BACKOFF_BASE: "500ms",
    ORDERSYNC_BACKOFF_CAP: "5s",
    ORDERSYNC_LOG_FORMAT: "text",
    NO_COLOR: "1",
    ...extraRelayEnv,
  };
  const relayLog = path.join(dataDir, "relay.log");
  let relay = null;
  let relayUrl = null;
  let port = relayPort;

  const startRelay = async () => {
    if (relay) return;
    const started = await spawnListening(relayBin, ["serve", "--listen", `127.0.0.1:${port}`], relayEnv, relayLog);
    relay = started.child;
    relayUrl = started.url;
    port = Number(new URL(relayUrl).port);
    relay.once("exit", () => {
      if (relay === started.child) relay = null;
    });
    await waitUntilReady(relayUrl);
  };
  const stopRelay = async () => {
    const child = relay;
    relay = null;
    await stopChild(child);
  };

  try {
    await startRelay();
  } catch (error) {
    await stopChild(sandbox.child);
    throw error;
  }

  return {
    sandboxUrl: sandbox.url,
    /** The relay's URL, also while it is stopped (it comes back on the same port). */
    get relayUrl() {
      return relayUrl;
    },
    get relayRunning() {
      return relay !== null;
    },
    logs: { relay: relayLog, sandbox: path.join(dataDir, "sandbox.log") },
    startRelay,
    stopRelay,
    async stop() {
      await Promise.all([stopRelay(), stopChild(sandbox.child)]);
    },
  };
}
