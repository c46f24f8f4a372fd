// Assertions shared by the end-to-end tests: a reported order reached the relay as the shop
// signed it, and each vendor received it exactly as the seed documents show.
import assert from "node:assert/strict";
import { decodeJwt } from "jose";

import { CIBLER_PATH, CITRUS_AUTHORIZATION, ciblerBody, citrusOrder } from "./expected.mjs";
import { handoffsSeen } from "./harness.mjs";

/** The order the shop's server placed, and what it generated for it. */
export function placedOrder(demo, orderId) {
  const order = demo.shop.orders.get(orderId);
  assert.ok(order, `the shop placed order ${orderId}`);
  return { ...order, orderDate: order.checkout.orderDate, sessionId: order.checkout.sessionId };
}

/**
 * The page handed the shop's signed token to /ordersync exactly once, with the browser's
 * cibler_id as cookieId, and the relay answered 202. Returns the hand-off body.
 */
export async function assertSignedHandoff(demo, seen, order, cookieId) {
  const handoffs = handoffsSeen(seen, demo.base);
  assert.equal(handoffs.length, 1, "one hand-off from the page");
  const [handoff] = handoffs;
  assert.deepEqual(Object.keys(handoff.body).sort(), ["cookieId", "token"], "a signed hand-off: token and cookieId only");
  assert.equal(handoff.body.token, order.token, "the token is the one the shop's server signed, untouched");
  // A "simple" request (no CORS preflight), as the shared contract says; the body is JSON.
  assert.match((await handoff.request.allHeaders())["content-type"] ?? "", /^text\/plain;charset=UTF-8$/i);
  assert.equal(handoff.body.cookieId, cookieId, "cookieId is the browser's cibler_id cookie");
  const claims = decodeJwt(handoff.body.token);
  assert.equal(claims.orderId, order.orderId);
  assert.ok(claims.exp > Date.now() / 1000, "the token carries a future exp");
  const response = await handoff.request.response();
  assert.equal(response.status(), 202, "the relay accepted the signed token");
  // The module cancels the answer's body unread (it needs the status only), so the answer is
  // read where the shop's proxy passed it on.
  const proxied = demo.shop.handoffs.filter((h) => h.orderId === order.orderId);
  assert.equal(proxied.length, 1);
  assert.equal(proxied[0].status, 202);
  assert.equal(proxied[0].answer.orderId, order.orderId);
  assert.equal(proxied[0].answer.status, "accepted");
  return handoff.body;
}

/** CibleR got one request for the order, exactly the seed's body with this order's data. */
export async function assertCiblerReceived(demo, sample, order, cookieId) {
  const requests = await demo.ciblerRequests(order.orderId);
  assert.equal(requests.length, 1, "one CibleR request per order");
  const [request] = requests;
  assert.equal(request.method, "POST");
  assert.equal(decodeURIComponent(request.path), CIBLER_PATH);
  assert.match(request.headers["content-type"] ?? "", /^application\/json/);
  assert.deepEqual(request.body, ciblerBody(sample, { orderId: order.orderId, cookieId }));
  assert.deepEqual(request.violations, [], "the sandbox found nothing against the seed");
  assert.equal(request.status, 200);
  return request;
}

/** CitrusAd got the order once, in a batch as the seed shows (or never, without items). */
export async function assertCitrusReceived(demo, sample, order) {
  const expected = citrusOrder(sample, order);
  const found = await demo.citrusOrders(order.orderId);
  if (expected === null) {
    assert.equal(found.length, 0, "an order without items is not sent to CitrusAd");
    return;
  }
  assert.equal(found.length, 1, "the order is in one CitrusAd batch");
  const [{ request, order: received }] = found;
  assert.deepEqual(received, expected);
  assert.deepEqual(request.violations, []);
  assert.equal(request.status, 200);
  assert.equal(request.headers.authorization, CITRUS_AUTHORIZATION, "Authorization: Basic <API_KEY>, as documented");
  assert.equal(request.headers.accept, "application/json");
  assert.match(request.headers["content-type"] ?? "", /^application\/json/);
}

/** Delivered at the relay (per destination), then each vendor's request checked. */
export async function assertDeliveredAsSeeds(demo, sample, order, cookieId) {
  const noItems = citrusOrder(sample, order) === null;
  await demo.waitDelivered(order.orderId, { cibler: "delivered", citrusad: noItems ? "skipped" : "delivered" });
  await assertCiblerReceived(demo, sample, order, cookieId);
  await assertCitrusReceived(demo, sample, order);
}
