// The relay is away (stopped with the inspector's switch, as a user would): the page queues the
// hand-off in localStorage and sends CitrusAd's third-o request instead (fallback policy), with
// procods / pris / quas aligned. When the relay is back and the page is visited again, the
// queued hand-off is delivered, and both vendors get the order as the seeds show.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";

import { startDemo, thirdOSeen, handoffsSeen, ciblerCookie, queuedHandOffs, waitFor } from "./harness.mjs";
import { placedOrder, assertDeliveredAsSeeds } from "./checks.mjs";
import { THIRD_O_COLUMNS, thirdOScalars } from "./expected.mjs";

let demo;
before(async () => {
  demo = await startDemo();
});
after(async () => {
  await demo?.stop();
});


/** Clicks the relay switch on the inspector page and waits until it says `running`. */
async function flipRelaySwitch(inspector, running) {
  await inspector.locator("#relay-switch").click();
  await waitFor(`the relay switch to show ${running ? "running" : "stopped"}`, async () =>
    (await inspector.locator("#relay-switch").getAttribute("data-running")) === String(running));
  assert.equal(demo.stack.relayRunning, running);
}

test("relay down: hand-off queued, third-o sent with aligned arrays; delivered once the relay is back", { timeout: 90_000 }, async () => {
  const { context, page, seen } = await demo.openPage();
  const inspector = await context.newPage();
  await inspector.goto(`${demo.base}/inspector`);
  await waitFor("the relay switch", async () => (await inspector.locator("#relay-switch").getAttribute("data-running")) === "true");
  await flipRelaySwitch(inspector, false);
  // Really down: nothing answers on the relay's port.
  await assert.rejects(fetch(`${demo.stack.relayUrl}/healthz`));

  const report = await demo.report(page, `${demo.base}/?sample=gift-code`);
  const orderId = report.orderId;
  const order = placedOrder(demo, orderId);
  assert.equal(report.relay.status, "queued");
  assert.equal(report.relay.httpStatus, 502, "the shop's proxy answered 502 Bad Gateway");
  assert.equal(report.pixel.status, "sent");

  // The page's own third-o request, to the sandbox playing CitrusAd.
  const sent = thirdOSeen(seen);
  assert.equal(sent.length, 1, "one third-o request");
  assert.equal(new URL(sent[0].url).origin, demo.stack.sandboxUrl);
  const query = sent[0].query;
  for (const [name, value] of Object.entries(thirdOScalars(order))) assert.equal(query.get(name), value, name);
  const columns = { procods: query.getAll("procods"), pris: query.getAll("pris"), quas: query.getAll("quas") };
  assert.deepEqual(columns, THIRD_O_COLUMNS["gift-code"], "one entry per item, in item order, same length");
  // ...and the sandbox found it conforming (index-aligned arrays, every required parameter).
  const received = await waitFor("the sandbox to record the third-o request", async () => {
    const list = await demo.thirdORequests(orderId);
    return list.length === 1 && list[0].status !== null ? list : null;
  });
  assert.equal(received[0].status, 200);
  assert.deepEqual(received[0].violations, []);
  assert.equal(received[0].query, new URL(sent[0].url).search.slice(1), "the sandbox got the query the page sent");

  // Queued in this browser, and nothing reached a vendor's back end.
  assert.match(await queuedHandOffs(page), new RegExp(`\\t${orderId}\\t`));
  assert.equal((await demo.ciblerRequests(orderId)).length, 0);
  assert.equal((await demo.citrusOrders(orderId)).length, 0);

  await flipRelaySwitch(inspector, true);
  const beforeVisit = seen.requests.length;
  // The shopper comes back to the shop: the module's start-up retries the queue.
  await page.reload();
  const again = await demo.report(page);
  assert.equal(again.relay.status, "duplicate", "the order itself is not reported again");
  await waitFor("the queued hand-off to leave localStorage", async () => (await queuedHandOffs(page)) === "");
  const retried = handoffsSeen({ requests: seen.requests.slice(beforeVisit) }, demo.base);
  assert.equal(retried.length, 1, "the queued hand-off was sent once");
  assert.equal(retried[0].body.token, order.token, "the queued hand-off is the shop's signed token");
  assert.equal((await retried[0].request.response()).status(), 202);
  assert.equal(thirdOSeen({ requests: seen.requests.slice(beforeVisit) }).length, 0, "no second third-o request");

  const cookieId = await ciblerCookie(context);
  assert.equal(retried[0].body.cookieId, cookieId);
  await assertDeliveredAsSeeds(demo, "gift-code", order, cookieId);
  await context.close();
});

test("vendors down: the relay retries, the inspector shows the vendors' 503s in red, then the delivery", { timeout: 90_000 }, async () => {
  const { context, page } = await demo.openPage();
  const inspector = await context.newPage();
  await inspector.goto(`${demo.base}/inspector`);
  const vendors = inspector.locator("#vendors-switch");
  await waitFor("the vendors switch", async () => (await vendors.getAttribute("data-down")) === "false");
  await vendors.click();
  await waitFor("the outage to begin", async () => (await vendors.getAttribute("data-down")) === "true");
  try {
    const report = await demo.report(page, `${demo.base}/?sample=one-item`);
    assert.equal(report.relay.status, "accepted", "the relay takes the order while the vendors are down");
    const orderId = report.orderId;
    const row = inspector.locator(`#orders tr[data-order="${orderId}"]`);
    await waitFor("the inspector to show the order retrying at both vendors", async () => {
      const cells = await row.locator("td").allTextContents();
      return cells.length === 6 && /retrying/.test(cells[4]) && /HTTP 503/.test(cells[4]) && /retrying/.test(cells[5]);
    });
    const failedCibler = inspector.locator(`#cibler .vendor-block.fail[data-order="${orderId}"]`);
    await waitFor("a failed CibleR request shown", async () => (await failedCibler.count()) > 0);
    assert.match(await failedCibler.first().textContent(), /HTTP 503 · injected fault: outage/, "the vendor's answer beside it");
    assert.equal(await failedCibler.first().evaluate((e) => getComputedStyle(e).borderLeftColor), "rgb(179, 38, 30)", "in red");
  } finally {
    await vendors.click();
    await waitFor("the outage to end", async () => (await vendors.getAttribute("data-down")) === "false");
  }
  const orderId = await page.evaluate(() => window.ordersyncReport.orderId);
  await demo.waitDelivered(orderId);
  const row = inspector.locator(`#orders tr[data-order="${orderId}"]`);
  await waitFor("the inspector to show the order delivered", async () => {
    const cells = await row.locator("td").allTextContents();
    return cells.length === 6 && /^delivered/.test(cells[4]) && /^delivered/.test(cells[5]);
  });
  await context.close();
});
