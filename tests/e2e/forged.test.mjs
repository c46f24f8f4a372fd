// A forged token (right shape, wrong key): the relay refuses it with 401, nothing reaches a
// vendor, nothing is queued for retry, and the page is not broken: no uncaught error, a clean
// console, the receipt shown, and the next order works.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";

import { startDemo, handoffsSeen, consoleProblems } from "./harness.mjs";
import { placedOrder } from "./checks.mjs";

let demo;
before(async () => {
  demo = await startDemo();
});
after(async () => {
  await demo?.stop();
});

/**
 * Chromium itself logs every HTTP error response to the console ("Failed to load resource: the
 * server responded with a status of 401"); that line comes from the browser's network stack,
 * not from the page's code, and is what any refused request prints. Only it is set aside.
 */
function problemsBesidesTheRefusal(seen, base) {
  const refusal = (text, url) => /^Failed to load resource: the server responded with a status of 401\b/.test(text) && url === `${base}/ordersync/v1/checkouts`;
  const setAside = seen.console.filter((m) => m.type === "error" && refusal(m.text, m.location?.url));
  assert.ok(setAside.length <= 1, "at most the one network line for the refused hand-off");
  return consoleProblems({ errors: seen.errors, console: seen.console.filter((m) => !setAside.includes(m)) });
}

test("a forged token is refused, and the page is not broken", { timeout: 60_000 }, async () => {
  const { context, page, seen } = await demo.openPage();
  const report = await demo.report(page, `${demo.base}/?sample=forged`);
  const order = placedOrder(demo, report.orderId);
  assert.ok(order.forged);

  assert.equal(report.relay.status, "rejected");
  assert.equal(report.relay.httpStatus, 401);
  const [handoff] = handoffsSeen(seen, demo.base);
  assert.equal(handoff.body.token, order.token);
  assert.equal((await handoff.request.response()).status(), 401);
  const [proxied] = demo.shop.handoffs.filter((h) => h.orderId === order.orderId);
  assert.match(proxied.answer.error.message, /signature/, "the relay says why");

  // Refused for good: not stored, not queued, no vendor request, no third-o fallback.
  assert.equal((await demo.relayStatus(order.orderId)).status, 404);
  assert.equal(await page.evaluate(() => localStorage.getItem("ordersync.pending") ?? ""), "");
  assert.equal(report.pixel.status, "skipped");
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal((await demo.ciblerRequests(order.orderId)).length, 0);
  assert.equal((await demo.citrusOrders(order.orderId)).length, 0);
  assert.equal((await demo.thirdORequests(order.orderId)).length, 0);

  // The page still works: the receipt and the status are shown, nothing threw.
  assert.deepEqual(problemsBesidesTheRefusal(seen, demo.base), []);
  assert.equal(await page.locator("#relay-status").textContent(), "rejected");
  assert.equal(await page.locator("#order-id").textContent(), order.orderId);
  assert.equal(await page.locator("#lines tbody tr").count(), 1);

  // ...and the shopper's next order goes through.
  await page.locator('#samples a[data-sample="one-item"]').click();
  await page.waitForURL(/order=/);
  const next = await demo.report(page);
  assert.notEqual(next.orderId, order.orderId);
  assert.equal(next.relay.status, "accepted");
  await context.close();
});
