// The demo confirmation page's script: what a shop writes, plus a view of the outcome.
import init, { reportOrder, readCiblerId } from "/pkg/ordersync.js";

const $ = (id) => document.getElementById(id);

// A stable order id per page URL, so a reload shows the duplicate guard at work.
const params = new URLSearchParams(location.search);
if (!params.get("order")) {
  params.set("order", String(Date.now()).slice(-9));
  history.replaceState(null, "", `?${params}`);
}
const orderId = params.get("order");

// CibleR's tag would have set this cookie on an earlier page of the shop.
if (!readCookieSet()) {
  document.cookie = `cibler_id=CIB1.${Math.floor(Math.random() * 1e9)}.${Math.floor(Date.now() / 1000)}; path=/; SameSite=Lax`;
}
function readCookieSet() {
  return document.cookie.split(";").some((c) => c.trim().startsWith("cibler_id="));
}

const checkout = {
  orderId,
  email: "ann.martin@example.com",
  country: "FR",
  customerGuid: "5b0f3c1e-8d2a-4f7e-9c61-3a2b1d0e9f84",
  sessionId: "sess-" + orderId,
  totalSpent: "62.40",
  taxes: "10.40",
  shippingCost: "4.90",
  giftCode: null,
  discountAmount: null,
  items: [
    { gtin: "3017620422003", quantity: 2, regularUnitPrice: "4.25", totalOrderItemPriceAfterDiscounts: "8.50" },
    { gtin: "8000500310427", quantity: 1, regularUnitPrice: "38.60", totalOrderItemPriceAfterDiscounts: "38.60" },
  ],
};

function showLines() {
  const body = $("lines").querySelector("tbody");
  for (const item of checkout.items) {
    const row = body.insertRow();
    row.insertCell().textContent = item.gtin;
    row.insertCell().textContent = item.quantity;
    const unit = row.insertCell();
    unit.textContent = item.regularUnitPrice;
    unit.className = "num";
    const total = row.insertCell();
    total.textContent = item.totalOrderItemPriceAfterDiscounts;
    total.className = "num";
  }
}

async function main() {
  $("order-id").textContent = orderId;
  showLines();
  const config = await (await fetch("/demo/config.json")).json();
  $("mode").textContent = config.mode;
  await init();
  $("cookie").textContent = readCiblerId() ?? "none";

  const report = await reportOrder({
    relayUrl: "/ordersync",
    checkout,
    citrus: {
      baseUrl: config.citrusBaseUrl,
      publishableKey: "pk_demo_publishable",
      teamId: "demo-team",
      catalogId: "demo-catalog",
      frontend: "fallback",
    },
  });
  $("relay-status").textContent = report.relay.status;
  $("pixel-status").textContent = report.pixel.status;
  $("report").textContent = JSON.stringify(report, null, 2);
  window.ordersyncReport = report;

  setTimeout(showRequests, 1500);
}

async function showRequests() {
  const requests = await (await fetch("/demo/requests")).json();
  $("requests").textContent = JSON.stringify(requests, null, 2);
}

$("new-order").addEventListener("click", () => {
  location.search = "";
});

main().catch((error) => {
  $("report").textContent = `demo failed: ${error}`;
});
