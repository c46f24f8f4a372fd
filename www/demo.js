// The demo confirmation page's script. The part a shop writes is `reportOrder(...)` below:
// the shop's server rendered the order and its signed token into the page (#order-data); the
// page hands the token to ordersync, which reports it through the shop's own /ordersync path.
// The rest shows the receipt and what ordersync did.
import init, { reportOrder, readCiblerId } from "/pkg/ordersync.js";
import { setupRelaySwitch } from "/demo-bar.js";

const $ = (id) => document.getElementById(id);
const order = JSON.parse($("order-data").textContent);
const params = new URLSearchParams(location.search);
const frontend = params.get("frontend") ?? "fallback";

/** CibleR's tag sets this cookie on an earlier page of the shop; the demo plays that part. */
function ensureCiblerCookie() {
  if (document.cookie.split(";").some((c) => c.trim().startsWith("cibler_id="))) return;
  const id = `CIB1.${Math.floor(1e8 + Math.random() * 9e8)}.${Math.floor(Date.now() / 1000)}`;
  document.cookie = `cibler_id=${id}; path=/; max-age=${60 * 60 * 24 * 30}; SameSite=Lax`;
}

const money = (amount) => `${amount} €`;

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function showReceipt() {
  $("order-id").textContent = order.orderId;
  $("placed-at").textContent = new Date(order.placedAt).toLocaleString("en-GB");
  $("email").textContent = order.customer.email;
  const body = $("lines").tBodies[0];
  let subtotal = 0;
  for (const line of order.lines) {
    const row = body.insertRow();
    const name = cell(row, line.name);
    if (line.seller) {
      const badge = document.createElement("span");
      badge.className = "seller";
      badge.textContent = `sold by ${line.seller}`;
      name.append(badge);
    }
    if (line.citrusDiscountAmount) {
      const note = document.createElement("div");
      note.className = "note";
      note.textContent = `sponsored-product discount −${money(line.citrusDiscountAmount)}`;
      name.append(note);
    }
    cell(row, String(line.quantity), "num");
    cell(row, money(line.regularUnitPrice), "num");
    cell(row, money(line.totalOrderItemPriceAfterDiscounts), "num");
    subtotal += Math.round(Number(line.totalOrderItemPriceAfterDiscounts) * 100);
  }
  const foot = $("lines").tFoot;
  const total = (label, amount, className) => {
    const row = foot.insertRow();
    if (className) row.className = className;
    const first = cell(row, label);
    first.colSpan = 3;
    cell(row, amount, "num");
  };
  const { totals } = order;
  // Display only: the amounts ordersync reports are the checkout's decimal strings.
  total("Items", money((subtotal / 100).toFixed(2)));
  if (totals.giftCode) total(`Gift code ${totals.giftCode}`, `−${money(totals.discountAmount)}`);
  total("Shipping", money(totals.shippingCost));
  total(`Total (incl. VAT ${money(totals.taxes)})`, money(totals.totalSpent), "total");
  if (order.lines.length === 0) {
    $("lines").hidden = true;
    $("no-items").hidden = false;
    $("no-items").textContent = `Bonus code ${totals.giftCode} activated: ${money(totals.discountAmount)} of credit on your account. Nothing to ship.`;
  }
  $("signing").textContent = order.token
    ? `signed by the shop's server (JWS HS256, ${order.token.length} characters)${order.sample === "forged" ? " — with the wrong key, on purpose" : ""}`
    : "unsigned (local endpoint mode)";
}

function pill(element, status, good, warn) {
  element.textContent = status;
  element.className = `pill ${good.includes(status) ? "ok" : warn.includes(status) ? "warn" : status === "skipped" ? "" : "bad"}`;
}

function showReport(report) {
  pill($("relay-status"), report.relay.status, ["accepted", "duplicate"], ["queued", "beacon"]);
  $("relay-reason").textContent = [report.relay.httpStatus && `HTTP ${report.relay.httpStatus}`, report.relay.reason].filter(Boolean).join(" · ");
  pill($("pixel-status"), report.pixel.status, ["sent"], []);
  $("pixel-reason").textContent = [`policy ${frontend}`, report.pixel.reason].filter(Boolean).join(" · ");
  $("cookie").textContent = report.cookieId ?? "none";
  $("report").textContent = JSON.stringify(report, null, 2);
  showQueue();
}

/** The module's queue of hand-offs waiting for the relay (one line each in localStorage). */
function showQueue() {
  let pending = 0;
  try {
    pending = (localStorage.getItem("ordersync.pending") ?? "").split("\n").filter(Boolean).length;
  } catch {
    // storage disabled: nothing can be queued
  }
  $("queue").textContent = pending === 0 ? "nothing" : `${pending} hand-off${pending > 1 ? "s" : ""} waiting for the relay (retried on the next page load and when the browser comes back online)`;
}

function showSampleLinks() {
  const box = $("samples");
  for (const [name, sample] of Object.entries(order.samples ?? {})) {
    const link = document.createElement("a");
    link.href = `/?sample=${name}&frontend=${encodeURIComponent(frontend)}`;
    link.dataset.sample = name;
    link.textContent = sample.label;
    const small = document.createElement("small");
    small.textContent = sample.summary;
    link.append(small);
    box.append(link);
  }
  for (const link of document.querySelectorAll("[data-policy]")) {
    link.href = `/?sample=${order.sample}&frontend=${link.dataset.policy}`;
    if (link.dataset.policy === frontend) link.classList.add("current");
  }
  $("inspector-link").href = `/inspector#order-${order.orderId}`;
}

async function main() {
  showReceipt();
  showSampleLinks();
  ensureCiblerCookie();
  setupRelaySwitch(showQueue);

  await init();
  // What a shop writes on its confirmation page:
  const report = await reportOrder({
    relayUrl: order.relayUrl,
    ...(order.token ? { token: order.token } : { checkout: order.checkout }),
    citrus: { ...order.citrus, frontend },
  });
  window.ordersyncReport = report;
  showReport(report);
  // Shown as the module read it: the cookie value it sent (null when there is none).
  $("cookie").textContent = readCiblerId() ?? "none";
}

main().catch((error) => {
  $("report").textContent = `demo page failed: ${error}`;
});
