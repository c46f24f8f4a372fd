// What each vendor must receive for each demo sample, written out by hand in the shape the seed
// documents print (their examples: crates/core/tests/seed_examples/): the CibleR order body of
// "Body example for a 150CHF deposit with 30CHF bonus code" and the CitrusAd `orders[]` entry
// of "Single item orders" / "Marketplace sellerId", with this demo's data in place of the
// seed's. The values are stated here independently of www/samples.mjs, so a wrong sample, a
// wrong mapping in the relay or the core, or a wrong sandbox record all fail the comparison.
// Numbers are compared as JSON values (the sandbox records parsed JSON, so 84.70 arrives here
// as 84.7).
//
// Per order, only what the shop's server generates at placement is passed in: the order id,
// its date and the CitrusAd session id, plus the cibler_id cookie the browser held.

const CIBLER_CONTEXT = {
  key: "xxxx-xxxx-xxxx-xxxx-xxxx",
  email: "ann.martin@example.com",
  country: "FR",
  environnement: "Prod",
  siteId: 13,
  customerGuid: "5b0f3c1e-8d2a-4f7e-9c61-3a2b1d0e9f84",
};
const TEAM_ID = "9f48572c-0a5b-4997-9a0e-ed74f4d32dc6";
const CATALOG_ID = "6adb93d0-7he4-4d4e-9b47-e5d3714c976a";

export const CIBLER_PATH = "/api/campaignBehaviors/order/demo-customer";
export const CITRUS_AUTHORIZATION = "Basic demo-citrusad-secret-key";

const INFORMATION = {
  "one-item": { totalSpent: 249.0, taxes: 41.5, giftCode: null, shippingCost: 0.0, discountAmount: null },
  "gift-code": { totalSpent: 84.7, taxes: 14.12, giftCode: "WELCOME10", shippingCost: 4.9, discountAmount: 10.0 },
  marketplace: { totalSpent: 93.0, taxes: 15.5, giftCode: null, shippingCost: 0.0, discountAmount: null },
  "bonus-code": { totalSpent: 0.0, taxes: 0.0, giftCode: "PARRAIN20", shippingCost: 0.0, discountAmount: 20.0 },
};

const item = (gtin, quantity, regularUnitPrice, totalOrderItemPriceAfterDiscounts, extra = {}) => ({
  gtin,
  quantity,
  regularUnitPrice,
  totalOrderItemPriceAfterDiscounts,
  catalogId: CATALOG_ID,
  citrusDiscountAmount: null,
  substitutedFor: null,
  ...extra,
});

const ITEMS = {
  "one-item": [item("3760146510017", 1, 249.0, 249.0)],
  "gift-code": [
    item("3760146510024", 2, 12.9, 24.8, { citrusDiscountAmount: 1.0 }),
    item("3760146510031", 1, 39.0, 39.0),
    item("3760146510048", 4, 6.5, 26.0),
  ],
  // The seed: "In the event the purchased product does not have a sellerId, it can be omitted."
  marketplace: [
    item("3760146510055", 1, 34.0, 34.0, { sellerId: "seller-atelier-bois-0142" }),
    item("3760146510062", 1, 59.0, 59.0),
  ],
  "bonus-code": [],
};

/** The third-o columns (procods / pris / quas), in item order, as the page must send them. */
export const THIRD_O_COLUMNS = {
  "one-item": { procods: ["3760146510017"], pris: ["249.00"], quas: ["1"] },
  "gift-code": { procods: ["3760146510024", "3760146510031", "3760146510048"], pris: ["12.90", "39.00", "6.50"], quas: ["2", "1", "4"] },
  marketplace: { procods: ["3760146510055", "3760146510062"], pris: ["34.00", "59.00"], quas: ["1", "1"] },
};

export function ciblerBody(sample, { orderId, cookieId }) {
  return {
    orderContext: { ...CIBLER_CONTEXT, cookieId },
    orderInformation: { orderId: Number(orderId), ...INFORMATION[sample] },
  };
}

/** The CitrusAd order entry, or null for a sample CitrusAd must not receive (no items). */
export function citrusOrder(sample, { orderId, orderDate, sessionId }) {
  if (ITEMS[sample].length === 0) return null;
  return {
    customerId: "C-104233",
    teamId: TEAM_ID,
    sessionId,
    orderDate,
    id: orderId,
    orderItems: ITEMS[sample],
  };
}

/** The third-o query's single-valued parameters. */
export function thirdOScalars({ orderId, orderDate, sessionId }) {
  return {
    key: "pk_demo_publishable",
    teaid: TEAM_ID,
    catid: CATALOG_ID,
    ordid: orderId,
    ordts: orderDate,
    sesid: sessionId,
    cusid: "C-104233",
  };
}
