// Each sample order, end to end in Chromium against the real relay and sandbox: the page's
// real requests, the signed token accepted by the relay, each vendor's request exactly as the
// seeds show, the cookie's cibler_id as CibleR's cookieId; a reload reports nothing twice; and
// screenshots of the confirmation page and of the inspector showing the delivered order.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";

import { startDemo, thirdOSeen, consoleProblems, ciblerCookie, handoffsSeen, outputDir, waitFor } from "./harness.mjs";
import { placedOrder, assertSignedHandoff, assertDeliveredAsSeeds } from "./checks.mjs";

let demo;
before(async () => {
  demo = await startDemo();
});
after(async () => {
  await demo?.stop();
});

/** Places `sample` from a fresh browser profile; returns what the test needs to check it. */
async function placeSample(sample, query = "") {
  const { context, page, seen } = await demo.openPage();
  const report = await demo.report(page, `${demo.base}/?sample=${sample}${query}`);
  const orderId = new URL(page.url()).searchParams.get("order");
  assert.ok(orderId, "the confirmation URL names the order");
  assert.equal(report.orderId, orderId);
  return { context, page, seen, report, order: placedOrder(demo, orderId) };
}

for (const sample of ["one-item", "gift-code", "marketplace", "bonus-code"]) {
  test(`${sample}: signed hand-off accepted, both vendors receive it as the seeds show`, { timeout: 60_000 }, async () => {
    const { context, seen, report, order } = await placeSample(sample);
    const cookieId = await ciblerCookie(context);
    assert.match(cookieId, /^CIB1\.\d+\.\d+$/, "the page set a cibler_id cookie as CibleR's tag would");
    assert.equal(report.cookieId, cookieId);
    assert.equal(report.relay.status, "accepted");
    assert.equal(report.relay.httpStatus, 202);
    await assertSignedHandoff(demo, seen, order, cookieId);
    // Fallback policy and a reachable relay: the page sends no third-o request.
    assert.equal(thirdOSeen(seen).length, 0);
    assert.equal(report.pixel.status, "skipped");
    await assertDeliveredAsSeeds(demo, sample, order, cookieId);
    assert.equal((await demo.thirdORequests(order.orderId)).length, 0, "CitrusAd's front end got nothing");
    assert.deepEqual(consoleProblems(seen), [], "console clean, no uncaught error");
    await context.close();
  });
}

test("a reload of the confirmation page reports nothing a second time", { timeout: 60_000 }, async () => {
  const { context, page, seen, order } = await placeSample("gift-code");
  const cookieId = await ciblerCookie(context);
  await assertDeliveredAsSeeds(demo, "gift-code", order, cookieId);
  const requestsBefore = seen.requests.length;
  await page.reload();
  const again = await demo.report(page);
  assert.equal(again.orderId, order.orderId);
  assert.equal(again.relay.status, "duplicate");
  const after = { requests: seen.requests.slice(requestsBefore) };
  assert.equal(handoffsSeen(after, demo.base).length, 0, "no hand-off after the reload");
  assert.equal(thirdOSeen(after).length, 0, "no third-o request after the reload");
  // Give a stray second delivery the time it would need to show up.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  assert.equal((await demo.ciblerRequests(order.orderId)).length, 1, "CibleR still got one request");
  assert.equal((await demo.citrusOrders(order.orderId)).length, 1, "CitrusAd still got the order once");
  assert.deepEqual(consoleProblems(seen), []);
  await context.close();
});

test("screenshots: the confirmation page, and the inspector showing the delivered order", { timeout: 60_000 }, async () => {
  const { context, page, order } = await placeSample("marketplace");
  await demo.waitDelivered(order.orderId);
  await page.screenshot({ path: path.join(outputDir, "confirmation.png"), fullPage: true });
  assert.equal(await page.locator("#relay-status").textContent(), "accepted");

  const inspector = await context.newPage();
  await inspector.goto(`${demo.base}/inspector#order-${order.orderId}`);
  const row = inspector.locator(`#orders tr[data-order="${order.orderId}"]`);
  // The inspector polls: wait until its row for the order says delivered at both vendors.
  await waitFor("the inspector to show the order delivered", async () => {
    const cells = await row.locator("td").allTextContents();
    return cells.length === 6 && cells[4].includes("delivered") && cells[5].includes("delivered");
  });
  const cells = await row.locator("td").allTextContents();
  assert.equal(cells[0], order.orderId);
  assert.match(cells[3], /delivered/);
  assert.equal(await inspector.locator(`#cibler .vendor-block[data-order="${order.orderId}"]`).count(), 1, "the CibleR body is shown");
  const citrus = inspector.locator(`#citrus .citrus-order[data-order="${order.orderId}"]`);
  assert.equal(await citrus.count(), 1, "the CitrusAd order is shown");
  const sellerCells = await citrus.locator("tbody tr td:last-child").allTextContents();
  assert.deepEqual(sellerCells, ['"seller-atelier-bois-0142"', "absent"], "sellerId shown for the marketplace item, absent for the other");
  await inspector.screenshot({ path: path.join(outputDir, "inspector.png"), fullPage: true });
  await context.close();
});
