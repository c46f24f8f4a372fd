// Queued hand-offs outlive a relay outage longer than the old 15-minute token lifetime, and
// never their token (README, "Signing checkouts": tokens 7 days, the browser queue at most 7
// days and never past the token's exp, the relay's memory of order ids 400 days).
//
// The relay is really stopped while the order is placed, so the hand-off is queued in the
// browser. Time then passes for the page through Playwright's clock (the page's `Date` is moved
// ahead; the module's logic runs unchanged): 20 minutes, past the old 15-minute tokens, and
// the shopper's next visit delivers the order exactly once (the sandbox's journal); or 8 days,
// past the 7-day token, and the next visit drops the hand-off unsent and says so in its report.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";

import { startDemo, handoffsSeen, queuedHandOffs, waitFor } from "./harness.mjs";
import { placedOrder } from "./checks.mjs";

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

let demo;
before(async () => {
  demo = await startDemo();
});
after(async () => {
  await demo?.stop();
});


/** Places an order while the relay is stopped: the report says `queued`. */
async function orderWhileRelayIsDown(page) {
  assert.equal((await demo.switchRelay(false)).running, false);
  await assert.rejects(fetch(`${demo.stack.relayUrl}/healthz`));
  try {
    const report = await demo.report(page, `${demo.base}/?sample=one-item&frontend=never`);
    assert.equal(report.relay.status, "queued");
    assert.match(await queuedHandOffs(page), new RegExp(`\\t${report.orderId}\\t`));
    return report.orderId;
  } finally {
    assert.equal((await demo.switchRelay(true)).running, true);
    await waitFor("the relay to answer again", async () => (await fetch(`${demo.stack.relayUrl}/healthz`).catch(() => null))?.ok);
  }
}

/** The shopper comes back `later` ms after the order: the page's clock moves ahead, it reloads. */
async function comeBackLater(page, later) {
  await page.clock.setSystemTime(Date.now() + later);
  await page.reload();
  return demo.report(page);
}

test("relay down longer than 15 minutes: the queued hand-off is delivered once on the next visit", { timeout: 90_000 }, async () => {
  const { context, page, seen } = await demo.openPage();
  await page.clock.install();
  const orderId = await orderWhileRelayIsDown(page);
  const order = placedOrder(demo, orderId);
  const exp = JSON.parse(Buffer.from(order.token.split(".")[1], "base64url")).exp;
  assert.ok(exp * 1000 - Date.now() > 6 * DAY, "the shop signs for 7 days");

  const beforeVisit = seen.requests.length;
  const again = await comeBackLater(page, 20 * MINUTE);
  assert.equal(again.relay.status, "duplicate");
  assert.equal(again.dropped, undefined, "nothing dropped");
  await waitFor("the queued hand-off to leave localStorage", async () => (await queuedHandOffs(page)) === "");
  const retried = handoffsSeen({ requests: seen.requests.slice(beforeVisit) }, demo.base);
  assert.equal(retried.length, 1, "sent once");
  assert.equal(retried[0].body.token, order.token);

  await demo.waitDelivered(orderId);
  assert.equal((await demo.ciblerRequests(orderId)).length, 1, "CibleR got the order once");
  assert.equal((await demo.citrusOrders(orderId)).length, 1, "CitrusAd got the order once");
  await context.close();
});

test("a queued hand-off whose token expired is dropped unsent, and the next report says so", { timeout: 90_000 }, async () => {
  const { context, page, seen } = await demo.openPage();
  await page.clock.install();
  const orderId = await orderWhileRelayIsDown(page);

  const beforeVisit = seen.requests.length;
  const again = await comeBackLater(page, 8 * DAY);
  assert.equal(again.relay.status, "duplicate");
  assert.equal(again.dropped?.length, 1, JSON.stringify(again));
  assert.equal(again.dropped[0].orderId, orderId);
  assert.equal(again.dropped[0].cause, "token-expired");
  assert.equal(await queuedHandOffs(page), "", "no longer queued");
  assert.equal(handoffsSeen({ requests: seen.requests.slice(beforeVisit) }, demo.base).length, 0, "never sent");
  assert.equal((await demo.relayStatus(orderId)).status, 404, "the relay never got it");
  assert.equal((await demo.ciblerRequests(orderId)).length, 0);
  await context.close();
});
