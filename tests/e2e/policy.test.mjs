// CitrusAd's front-end policy, as named: "always" sends the third-o request even though the
// relay took the order; "never" sends none even though the relay is down.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";

import { startDemo, thirdOSeen, consoleProblems, ciblerCookie, waitFor } from "./harness.mjs";
import { placedOrder, assertSignedHandoff, assertDeliveredAsSeeds } from "./checks.mjs";
import { THIRD_O_COLUMNS, thirdOScalars } from "./expected.mjs";

let demo;
before(async () => {
  demo = await startDemo();
});
after(async () => {
  await demo?.stop();
});

test('frontend "always": third-o sent and the relay delivers too', { timeout: 60_000 }, async () => {
  const { context, page, seen } = await demo.openPage();
  const report = await demo.report(page, `${demo.base}/?sample=marketplace&frontend=always`);
  const order = placedOrder(demo, report.orderId);
  assert.equal(report.relay.status, "accepted");
  assert.equal(report.pixel.status, "sent");
  const sent = thirdOSeen(seen);
  assert.equal(sent.length, 1);
  for (const [name, value] of Object.entries(thirdOScalars(order))) assert.equal(sent[0].query.get(name), value, name);
  assert.deepEqual(
    { procods: sent[0].query.getAll("procods"), pris: sent[0].query.getAll("pris"), quas: sent[0].query.getAll("quas") },
    THIRD_O_COLUMNS.marketplace,
  );
  const received = await waitFor("the sandbox's third-o record", async () => {
    const list = await demo.thirdORequests(order.orderId);
    return list.length === 1 && list[0].status !== null ? list[0] : null;
  });
  assert.equal(received.status, 200);
  assert.deepEqual(received.violations, []);
  const cookieId = await ciblerCookie(context);
  await assertSignedHandoff(demo, seen, order, cookieId);
  await assertDeliveredAsSeeds(demo, "marketplace", order, cookieId);
  assert.deepEqual(consoleProblems(seen), []);
  await context.close();
});

test('frontend "never": relay down, the hand-off is queued and no third-o request goes out', { timeout: 60_000 }, async () => {
  await demo.switchRelay(false);
  try {
    const { context, page, seen } = await demo.openPage();
    const report = await demo.report(page, `${demo.base}/?sample=one-item&frontend=never`);
    assert.equal(report.relay.status, "queued");
    assert.equal(report.pixel.status, "skipped");
    assert.match(report.pixel.reason, /never/);
    assert.ok(report.pixel.url, "the URL is still built, for the report");
    assert.equal(thirdOSeen(seen).length, 0, "the page sent no third-o request");
    // Leave time for a late request to arrive, then check the vendor side too.
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal((await demo.thirdORequests(report.orderId)).length, 0);
    await context.close();
  } finally {
    await demo.switchRelay(true);
  }
});
