// Compiled with `tsc --noEmit --strict` by scripts/test-browser.sh: the package's types
// describe the real shapes, accept what a shop writes and refuse what the module would refuse.
import init, { flushQueue, readCiblerId, reportOrder, thirdOUrl } from "ordersync";
import type { Checkout, DroppedHandOff, FlushResult, Report, ReportOptions, ThirdOUrlResult } from "ordersync";

const checkout: Checkout = {
  orderId: 1001,
  email: "ann@example.com",
  country: "FR",
  customerGuid: "guid-1",
  sessionId: "sess-1",
  totalSpent: "150.00",
  taxes: 20,
  shippingCost: "0",
  items: [{ gtin: "3017620422003", quantity: 2, regularUnitPrice: "4.25", totalOrderItemPriceAfterDiscounts: 8.5 }],
};
const citrus = { baseUrl: "https://citrus.example", publishableKey: "pk", catalogId: "c", frontend: "fallback" } as const;

export async function confirmationPage(token: string): Promise<string> {
  await init();
  const cookie: string | null = readCiblerId();
  const signed: Report = await reportOrder({ relayUrl: "/ordersync", token, citrus });
  const plain: Report = await reportOrder({ relayUrl: "https://relay.example", checkout, consent: { marketing: false } });
  const dropped: DroppedHandOff[] | undefined = signed.dropped;
  const relayStatus: "accepted" | "queued" | "rejected" | "beacon" | "duplicate" | "failed" | "skipped" =
    signed.relay.status;
  const pixel: string | undefined = plain.pixel.url;
  const field: string | undefined = plain.error?.field;
  const url: ThirdOUrlResult = thirdOUrl({ checkout, citrus });
  const built: string = url.error ? url.error.message : url.url;
  const flushed: FlushResult = await flushQueue();
  const cause: "token-expired" | "too-old" | undefined = flushed.dropped[0]?.cause;
  return [cookie, relayStatus, pixel, field, built, flushed.remaining, dropped?.length, cause].join();
}

// @ts-expect-error: a checkout needs an orderId
const missingId: Checkout = { ...checkout, orderId: undefined };
// @ts-expect-error: not both a token and a checkout
const both: ReportOptions = { relayUrl: "/r", token: "a.b.c", checkout };
// @ts-expect-error: the policy is one of three words
const policy: ReportOptions = { relayUrl: "/r", checkout, citrus: { ...citrus, frontend: "sometimes" } };
// @ts-expect-error: a report's relay status is not any string
const status: Report["relay"]["status"] = "sent";
// @ts-expect-error: consent says true or false
const consent: ReportOptions = { relayUrl: "/r", checkout, consent: { marketing: "no" } };
export { missingId, both, policy, status, consent };
