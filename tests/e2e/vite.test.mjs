// The bundler path: examples/vite-app, built by Vite 7 with `ordersync` installed from the
// packed package (scripts/test-e2e.sh: npm pack, npm install, vite build), served under /vite/
// by the shop server. It must work as the plain page does: signed hand-off accepted, vendors'
// requests as the seeds show, reload reported once.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";

import { startDemo, root, thirdOSeen, consoleProblems, ciblerCookie, handoffsSeen } from "./harness.mjs";
import { placedOrder, assertSignedHandoff, assertDeliveredAsSeeds } from "./checks.mjs";

const dist = path.join(root, "examples/vite-app/dist");
const sha256 = (file) => createHash("sha256").update(readFileSync(file)).digest("hex");

let demo;
before(async () => {
  demo = await startDemo();
});
after(async () => {
  await demo?.stop();
});

test("the Vite build bundles the current package", () => {
  let assets;
  try {
    assets = readdirSync(path.join(dist, "assets"));
  } catch {
    assert.fail(`${dist} is missing: scripts/test-e2e.sh builds it (npm pack, npm install, vite build)`);
  }
  const wasm = assets.filter((name) => /^ordersync_bg-.*\.wasm$/.test(name));
  assert.equal(wasm.length, 1, `one hashed .wasm asset in ${assets.join(", ")}`);
  assert.equal(sha256(path.join(dist, "assets", wasm[0])), sha256(path.join(root, "pkg/ordersync_bg.wasm")), "the bundled module is pkg/'s, byte for byte");
});

test("a Vite-built app importing ordersync from the package reports like the plain page", { timeout: 60_000 }, async () => {
  const { context, page, seen } = await demo.openPage();
  const report = await demo.report(page, `${demo.base}/vite/?sample=gift-code`);
  const order = placedOrder(demo, report.orderId);
  assert.equal(new URL(page.url()).searchParams.get("order"), order.orderId);

  const paths = seen.requests.map((r) => new URL(r.url).pathname);
  assert.ok(paths.some((p) => /^\/vite\/assets\/index-[\w-]+\.js$/.test(p)), "the bundled script");
  assert.ok(paths.some((p) => /^\/vite\/assets\/ordersync_bg-[\w-]+\.wasm$/.test(p)), "the .wasm as a Vite asset");
  assert.equal(paths.filter((p) => p.startsWith("/pkg/")).length, 0, "nothing from the plain page's /pkg/");

  assert.equal(report.relay.status, "accepted");
  assert.equal(report.pixel.status, "skipped");
  assert.equal(thirdOSeen(seen).length, 0);
  const cookieId = await ciblerCookie(context);
  assert.equal(report.cookieId, cookieId);
  await assertSignedHandoff(demo, seen, order, cookieId);
  await assertDeliveredAsSeeds(demo, "gift-code", order, cookieId);

  const requestsBefore = seen.requests.length;
  await page.reload();
  const again = await demo.report(page);
  assert.equal(again.relay.status, "duplicate");
  assert.equal(handoffsSeen({ requests: seen.requests.slice(requestsBefore) }, demo.base).length, 0);
  assert.deepEqual(consoleProblems(seen), []);
  await context.close();
});
