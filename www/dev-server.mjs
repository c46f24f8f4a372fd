// The demo, as one process to start (scripts/demo.sh runs it; `npm start` runs that):
//
//   node www/dev-server.mjs --relay-bin target/debug/ordersync-relay [--port 8080]
//        [--data-dir .ordersync] [--relay-port 8787] [--sandbox-port 8788]
//     starts the vendor sandbox and the relay (www/stack.mjs), then the shop server
//     (www/shop-server.mjs) with signed checkouts and the relay proxied under /ordersync.
//
//   node www/dev-server.mjs [--port 8080]
//     the shop server alone, with a local endpoint in place of the relay (unsigned checkouts):
//     enough to try the browser module without building the relay.
//
// Prints the URLs (the first stdout line is `demo: http://127.0.0.1:PORT/ ...`), runs until
// SIGINT or SIGTERM, then stops every process it started.
import { fileURLToPath } from "node:url";
import { once } from "node:events";
import { existsSync } from "node:fs";
import path from "node:path";

import { createShopServer } from "./shop-server.mjs";
import { startStack } from "./stack.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const port = Number(arg("--port", "8080"));
const relayBin = arg("--relay-bin", "");
const dataDir = path.resolve(root, arg("--data-dir", ".ordersync"));

const shop = createShopServer({ root, withRelay: Boolean(relayBin) });
shop.server.listen(port, "127.0.0.1");
await once(shop.server, "listening");
const origin = `http://127.0.0.1:${shop.server.address().port}`;

let stack = null;
let stopping = false;
async function stop(signal) {
  if (stopping) return;
  stopping = true;
  console.error(`[demo] ${signal}: stopping`);
  shop.server.close();
  shop.server.closeAllConnections();
  await stack?.stop();
  process.exit(0);
}
process.on("SIGINT", () => stop("SIGINT"));
process.on("SIGTERM", () => stop("SIGTERM"));

if (relayBin) {
  try {
    stack = await startStack({
      relayBin,
      dataDir,
      allowedOrigin: origin,
      relayPort: Number(arg("--relay-port", "0")),
      sandboxPort: Number(arg("--sandbox-port", "0")),
    });
  } catch (error) {
    console.error(`[demo] could not start the relay and the sandbox: ${error.message}`);
    shop.server.close();
    process.exit(1);
  }
  shop.attachStack(stack);
  console.log(`demo: ${origin}/  (relay ${stack.relayUrl}, sandbox ${stack.sandboxUrl})`);
  console.log(`  order-confirmation page  ${origin}/`);
  console.log(`  inspector                ${origin}/inspector`);
  const viteBuilt = existsSync(path.join(root, "examples/vite-app/dist/index.html"));
  console.log(`  Vite-built app           ${origin}/vite/${viteBuilt ? "" : "  (not built yet: scripts/test-e2e.sh builds it)"}`);
  console.log(`  relay (proxied)          ${origin}/ordersync/v1/checkouts  -> ${stack.relayUrl}`);
  console.log(`  vendor sandbox           ${stack.sandboxUrl}/__sandbox/requests`);
  console.log(`  logs                     ${path.relative(root, stack.logs.relay)}, ${path.relative(root, stack.logs.sandbox)}`);
} else {
  console.log(`demo: ${origin}/  (local endpoint)`);
}
