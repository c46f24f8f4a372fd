// The demo shop's sample orders. Each is what the shop's server knows about a paid order: the
// receipt lines a person reads (names, sellers) and the checkout ordersync reports (the
// camelCase model of README.md). Amounts are decimal strings, so no binary float is involved.
// Receipts add up: lines after discounts - gift code + shipping = total, VAT (20 %) included.

const customer = {
  email: "ann.martin@example.com",
  country: "FR",
  customerGuid: "5b0f3c1e-8d2a-4f7e-9c61-3a2b1d0e9f84",
  customerId: "C-104233",
};

/** @type {Record<string, {label: string, summary: string, lines: object[], totals: object, forged?: boolean}>} */
export const SAMPLES = {
  "one-item": {
    label: "One item",
    summary: "a single line, no code",
    lines: [
      { name: "Espresso machine, stainless steel", gtin: "3760146510017", quantity: 1, regularUnitPrice: "249.00", totalOrderItemPriceAfterDiscounts: "249.00" },
    ],
    totals: { totalSpent: "249.00", taxes: "41.50", shippingCost: "0.00", giftCode: null, discountAmount: null },
  },
  "gift-code": {
    label: "Several items, gift code",
    summary: "three lines, a sponsored-product discount and the gift code WELCOME10 (−10.00)",
    lines: [
      { name: "Coffee beans, Ethiopia 1 kg", gtin: "3760146510024", quantity: 2, regularUnitPrice: "12.90", totalOrderItemPriceAfterDiscounts: "24.80", citrusDiscountAmount: "1.00" },
      { name: "Milk frother", gtin: "3760146510031", quantity: 1, regularUnitPrice: "39.00", totalOrderItemPriceAfterDiscounts: "39.00" },
      { name: "Espresso cup, porcelain", gtin: "3760146510048", quantity: 4, regularUnitPrice: "6.50", totalOrderItemPriceAfterDiscounts: "26.00" },
    ],
    totals: { totalSpent: "84.70", taxes: "14.12", shippingCost: "4.90", giftCode: "WELCOME10", discountAmount: "10.00" },
  },
  marketplace: {
    label: "Marketplace",
    summary: "one item sold by a marketplace seller (sellerId), one sold by the shop",
    lines: [
      { name: "Olive-wood cutting board", seller: "Atelier Bois d'Olivier", gtin: "3760146510055", quantity: 1, regularUnitPrice: "34.00", totalOrderItemPriceAfterDiscounts: "34.00", sellerId: "seller-atelier-bois-0142" },
      { name: "Chef's knife 20 cm", gtin: "3760146510062", quantity: 1, regularUnitPrice: "59.00", totalOrderItemPriceAfterDiscounts: "59.00" },
    ],
    totals: { totalSpent: "93.00", taxes: "15.50", shippingCost: "0.00", giftCode: null, discountAmount: null },
  },
  "bonus-code": {
    label: "Bonus-code activation",
    summary: "no items: a referral code worth 20.00 (CibleR only; CitrusAd has nothing to count)",
    lines: [],
    totals: { totalSpent: "0.00", taxes: "0.00", shippingCost: "0.00", giftCode: "PARRAIN20", discountAmount: "20.00" },
  },
  forged: {
    label: "Forged token",
    summary: "the one-item order, signed with a key that is not the shop's: the relay must refuse it",
    lines: [
      { name: "Espresso machine, stainless steel", gtin: "3760146510017", quantity: 1, regularUnitPrice: "249.00", totalOrderItemPriceAfterDiscounts: "249.00" },
    ],
    totals: { totalSpent: "249.00", taxes: "41.50", shippingCost: "0.00", giftCode: null, discountAmount: null },
    forged: true,
  },
};

export const DEFAULT_SAMPLE = "one-item";

/** RFC 3339, UTC, whole seconds: what the shop records as the order's date. */
function rfc3339(date) {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** The checkout for `sample` as order `orderId`, placed at `placedAt`, in session `sessionId`. */
export function checkoutFor(sampleName, orderId, placedAt, sessionId) {
  const sample = SAMPLES[sampleName];
  if (!sample) throw new Error(`unknown sample ${sampleName}`);
  return {
    orderId,
    orderDate: rfc3339(placedAt),
    ...customer,
    sessionId,
    ...sample.totals,
    items: sample.lines.map(({ name: _name, seller: _seller, ...item }) => item),
  };
}
