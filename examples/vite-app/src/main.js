// A shop's confirmation page as a bundled single-page app: `ordersync` comes from the npm
// package (node_modules/ordersync, its "exports"), and Vite bundles the JS glue and emits the
// .wasm as an asset. The order and its signed token come from the shop's API.
import init, { reportOrder } from "ordersync";
import "./style.css";

const $ = (id) => document.getElementById(id);

async function loadOrder() {
  const params = new URLSearchParams(location.search);
  const id = params.get("order");
  if (id) {
    const answer = await fetch(`/shop/orders/${encodeURIComponent(id)}`);
    if (!answer.ok) throw new Error(`order ${id}: HTTP ${answer.status}`);
    return answer.json();
  }
  // No order in the URL: "pay" for a sample order, then show its confirmation URL.
  const sample = params.get("sample") ?? "one-item";
  const answer = await fetch(`/shop/orders?sample=${encodeURIComponent(sample)}`, { method: "POST" });
  const order = await answer.json();
  params.delete("sample");
  params.set("order", order.orderId);
  history.replaceState(null, "", `?${params}`);
  return order;
}

function showReceipt(order) {
  $("order-id").textContent = order.orderId;
  const body = $("lines").tBodies[0];
  for (const line of order.lines) {
    const row = body.insertRow();
    for (const text of [line.name, line.quantity, `${line.totalOrderItemPriceAfterDiscounts} €`]) {
      row.insertCell().textContent = String(text);
    }
  }
  $("total").textContent = `${order.totals.totalSpent} €`;
}

async function main() {
  const order = await loadOrder();
  showReceipt(order);
  if (!document.cookie.includes("cibler_id=")) {
    // Set by CibleR's tag on an earlier page; the demo plays that part.
    document.cookie = `cibler_id=CIB1.${Math.floor(1e8 + Math.random() * 9e8)}.${Math.floor(Date.now() / 1000)}; path=/; SameSite=Lax`;
  }
  await init();
  const frontend = new URLSearchParams(location.search).get("frontend") ?? "fallback";
  const report = await reportOrder({
    relayUrl: order.relayUrl,
    token: order.token,
    citrus: { ...order.citrus, frontend },
  });
  window.ordersyncReport = report;
  $("relay-status").textContent = report.relay.status;
  $("pixel-status").textContent = report.pixel.status;
}

main().catch((error) => {
  $("relay-status").textContent = `failed: ${error.message}`;
});
