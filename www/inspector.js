// The inspector: polls /demo/state (the shop server's view of its orders, the relay's status of
// each, the hand-offs on /ordersync, and the sandbox's journal) and lays it out as tables.
// Failures are red, with the vendor's (or the relay's) answer beside them.
import { setupRelaySwitch } from "/demo-bar.js";

const POLL_MS = 1000;
const $ = (id) => document.getElementById(id);

const escapeHtml = (value) =>
  String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

/** A JSON value as the vendor received it: strings quoted, null and absence told apart. */
function shown(value, present = true) {
  if (!present) return '<span class="empty">absent</span>';
  if (value === null) return '<span class="empty">null</span>';
  if (typeof value === "string") return `<span class="mono">"${escapeHtml(value)}"</span>`;
  return `<span class="mono">${escapeHtml(JSON.stringify(value))}</span>`;
}

const time = (ms) => new Date(ms).toLocaleTimeString("en-GB");
const STATE_CLASS = { delivered: "ok", accepted: "ok", pending: "warn", retrying: "warn", dead: "bad", skipped: "" };

function pill(text, kind) {
  return `<span class="pill ${kind ?? STATE_CLASS[text] ?? ""}">${escapeHtml(text)}</span>`;
}

/** The vendor's answer to a recorded request, as the sandbox recorded it. */
function vendorAnswer(entry) {
  if (entry.status === null) return entry.fault === "dropped" ? "connection dropped (injected fault)" : "no answer yet";
  const parts = [`HTTP ${entry.status}`];
  if (entry.fault) parts.push(`injected fault: ${entry.fault}`);
  if (entry.violations.length) parts.push(entry.violations.join("; "));
  return parts.join(" · ");
}

const failed = (entry) => entry.status === null ? entry.fault !== null : entry.status >= 400 || entry.violations.length > 0;

function destinationCell(view, name, handoff) {
  const status = view.relay;
  if (status.httpStatus === null) return `<td class="muted">${escapeHtml(status.error)}</td>`;
  if (status.httpStatus === 404) {
    if (!handoff) return '<td class="muted">not handed off yet</td>';
    if (handoff.status >= 500 || handoff.status === null) return `<td>${pill("queued in the browser", "warn")}<div class="note">the relay was down (HTTP ${escapeHtml(handoff.status)})</div></td>`;
    return `<td>${pill("refused", "bad")}<div class="note error-text">HTTP ${escapeHtml(handoff.status)}: ${escapeHtml(handoff.answer?.error?.message ?? "")}</div></td>`;
  }
  const destination = status.body?.destinations?.find((d) => d.destination === name);
  if (!destination) return '<td class="muted">—</td>';
  const details = [`${destination.attempts} attempt${destination.attempts === 1 ? "" : "s"}`];
  if (destination.deliveredAt) details.push(`delivered ${time(Date.parse(destination.deliveredAt))}`);
  if (destination.nextAttemptAt && destination.state !== "delivered") details.push(`next try ${time(Date.parse(destination.nextAttemptAt))}`);
  // A delivered order's last error is history (a retry that later succeeded): not red.
  const settled = destination.state === "skipped" || destination.state === "delivered";
  const errorText = destination.state === "delivered" ? `earlier: ${destination.lastError}` : destination.lastError;
  const error = destination.lastError ? `<div class="note ${settled ? "" : "error-text"}">${escapeHtml(errorText)}</div>` : "";
  return `<td class="${destination.state === "dead" ? "fail" : ""}">${pill(destination.state)}<div class="note">${details.join(" · ")}</div>${error}</td>`;
}

function renderOrders(state) {
  const rows = state.orders.map((order) => {
    const handoff = state.handoffs.findLast((h) => h.orderId === order.orderId);
    const overall = order.relay.httpStatus === 200 ? pill(order.relay.body.status) : order.relay.httpStatus === 404 ? pill("not stored", "") : "";
    const bad = order.relay.httpStatus === 404 && handoff && handoff.status >= 400 && handoff.status < 500;
    return `<tr id="order-${escapeHtml(order.orderId)}" class="${bad ? "fail" : ""}" data-order="${escapeHtml(order.orderId)}">
      <td class="mono">${escapeHtml(order.orderId)}</td><td>${escapeHtml(order.label)}</td>
      <td>${time(Date.parse(order.placedAt))}</td><td>${overall}</td>
      ${destinationCell(order, "cibler", handoff)}${destinationCell(order, "citrusad", handoff)}</tr>`;
  });
  $("orders").tBodies[0].innerHTML = rows.join("") || '<tr><td colspan="6" class="empty">No order yet: place one on the confirmation page.</td></tr>';
  const target = location.hash.slice(1);
  if (target && document.getElementById(target)) document.getElementById(target).style.outline = "2px solid #1b5fa8";
}

function renderHandoffs(state) {
  const rows = [...state.handoffs].reverse().map((h) => {
    const bad = h.status === null || h.status >= 400;
    const message = h.answer?.error?.message ?? h.answer?.status ?? "";
    return `<tr class="${bad ? "fail" : ""}"><td>${time(Date.parse(h.at))}</td><td class="mono">${escapeHtml(h.orderId ?? "?")}</td>
      <td>${h.signed ? "signed token" : "unsigned object"}</td><td class="mono">${escapeHtml(h.cookieId ?? "null")}</td>
      <td>HTTP ${escapeHtml(h.status ?? "—")} · ${escapeHtml(message)}</td></tr>`;
  });
  $("handoffs").tBodies[0].innerHTML = rows.join("") || '<tr><td colspan="5" class="empty">Nothing yet.</td></tr>';
}

const CIBLER_FIELDS = [
  ["orderContext", "key"], ["orderContext", "email"], ["orderContext", "country"], ["orderContext", "environnement"],
  ["orderContext", "siteId"], ["orderContext", "customerGuid"], ["orderContext", "cookieId"],
  ["orderInformation", "orderId"], ["orderInformation", "totalSpent"], ["orderInformation", "taxes"],
  ["orderInformation", "giftCode"], ["orderInformation", "shippingCost"], ["orderInformation", "discountAmount"],
];

function renderCibler(entries) {
  if (!entries.length) return '<p class="empty">Nothing yet.</p>';
  const cards = entries.map((e) => {
    const rows = CIBLER_FIELDS.map(([group, field]) => {
      const parent = e.body?.[group];
      const present = parent !== undefined && parent !== null && typeof parent === "object" && field in parent;
      return `<tr><th>${group}.${field}</th><td>${shown(parent?.[field], present)}</td></tr>`;
    }).join("");
    const kind = failed(e) ? "fail" : "ok";
    return `<div class="vendor-block ${kind}" data-order="${escapeHtml(e.body?.orderInformation?.orderId ?? "")}">
      <div>${time(e.receivedAtMs)} · <span class="mono">${escapeHtml(e.method)} ${escapeHtml(decodeURIComponent(e.path))}</span> ·
        <span class="${kind === "fail" ? "error-text" : ""}">${escapeHtml(vendorAnswer(e))}</span></div>
      <table class="compact"><tbody>${rows}</tbody></table></div>`;
  });
  return `<div class="cards">${cards.join("")}</div>`;
}

const ITEM_FIELDS = ["gtin", "quantity", "regularUnitPrice", "totalOrderItemPriceAfterDiscounts", "citrusDiscountAmount", "substitutedFor", "catalogId", "sellerId"];
const ORDER_FIELDS = ["id", "customerId", "teamId", "sessionId", "orderDate"];

function renderCitrusOrder(order) {
  const facts = ORDER_FIELDS.map((f) => `<span><span class="muted">${f}</span> ${shown(order[f], f in order)}</span>`).join("");
  const items = Array.isArray(order.orderItems) ? order.orderItems : [];
  const rows = items.map((item) => `<tr>${ITEM_FIELDS.map((f) => `<td>${shown(item[f], f in item)}</td>`).join("")}</tr>`).join("");
  return `<div class="citrus-order" data-order="${escapeHtml(order.id ?? "")}">
    <div class="facts-line">${facts}</div>
    <div style="overflow-x:auto"><table class="compact"><thead><tr><th colspan="${ITEM_FIELDS.length}">orderItems (${items.length})</th></tr>
    <tr>${ITEM_FIELDS.map((f) => `<th>${f}</th>`).join("")}</tr></thead><tbody>${rows}</tbody></table></div></div>`;
}

function renderCitrusBatch(entry) {
  const orders = Array.isArray(entry.body?.orders) ? entry.body.orders : [];
  const kind = failed(entry) ? "fail" : "ok";
  return `<div class="vendor-block ${kind}">
    <div>${time(entry.receivedAtMs)} · ${orders.length} order${orders.length === 1 ? "" : "s"} in the batch ·
      <span class="${kind === "fail" ? "error-text" : ""}">${escapeHtml(vendorAnswer(entry))}</span></div>
    ${orders.map(renderCitrusOrder).join("")}</div>`;
}

const THIRD_O_SCALARS = ["key", "teaid", "catid", "ordid", "ordts", "sesid", "cusid"];

/** The third-o query decoded: its scalars, and procods / pris / quas side by side. */
function renderThirdO(entry) {
  const query = new URLSearchParams(entry.query ?? "");
  const columns = ["procods", "pris", "quas"].map((name) => query.getAll(name));
  const length = Math.max(...columns.map((c) => c.length));
  const aligned = columns.every((c) => c.length === length);
  const scalars = THIRD_O_SCALARS.map((name) => `<tr><th>${name}</th><td class="mono">${query.has(name) ? escapeHtml(query.get(name)) : '<span class="empty">absent</span>'}</td></tr>`).join("");
  const lines = Array.from({ length }, (_, i) =>
    `<tr><td class="num">${i}</td>${columns.map((c) => `<td class="mono">${i < c.length ? escapeHtml(c[i]) : '<span class="error-text">missing</span>'}</td>`).join("")}</tr>`).join("");
  const kind = failed(entry) || !aligned ? "fail" : "ok";
  return `<div class="vendor-block ${kind}" data-order="${escapeHtml(query.get("ordid") ?? "")}">
    <div>${time(entry.receivedAtMs)} · order ${escapeHtml(query.get("ordid") ?? "?")} ·
      <span class="${kind === "fail" ? "error-text" : ""}">${escapeHtml(vendorAnswer(entry))}${aligned ? ` · ${length} aligned line${length === 1 ? "" : "s"}` : " · arrays NOT aligned"}</span></div>
    <div style="display:flex; gap:2rem; flex-wrap:wrap">
      <table style="width:auto"><tbody>${scalars}</tbody></table>
      <table style="width:auto" class="aligned"><thead><tr><th class="num">#</th><th>procods</th><th>pris</th><th>quas</th></tr></thead><tbody>${lines}</tbody></table>
    </div></div>`;
}

function renderVendors(entries) {
  const latestFirst = [...entries].reverse();
  $("cibler").innerHTML = renderCibler(latestFirst.filter((e) => e.path.startsWith("/api/campaignBehaviors/order/")));
  const batches = latestFirst.filter((e) => e.method === "POST" && e.path === "/v1/orders");
  $("citrus").innerHTML = batches.map(renderCitrusBatch).join("") || '<p class="empty">Nothing yet.</p>';
  const thirdO = latestFirst.filter((e) => e.method === "GET" && e.path === "/v1/resource/third-o");
  $("third-o").innerHTML = thirdO.map(renderThirdO).join("") ||
    '<p class="empty">Nothing yet: with the default policy (fallback) the page sends it only when the relay cannot be reached.</p>';
}

function setupVendorsSwitch() {
  const button = $("vendors-switch");
  const show = (down) => {
    button.disabled = down === null;
    button.dataset.down = String(down);
    button.textContent = down === null ? "none" : down ? "outage (503) · end it" : "up · cause an outage";
    button.className = down === null ? "switch" : `switch ${down ? "off" : "on"}`;
  };
  button.addEventListener("click", async () => {
    button.disabled = true;
    const answer = await fetch("/demo/vendors", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ down: button.dataset.down !== "true" }),
    });
    show((await answer.json()).down ?? null);
  });
  fetch("/demo/vendors").then((r) => r.json()).then((s) => show(s.down ?? null), () => show(null));
}

async function poll() {
  try {
    const state = await (await fetch("/demo/state")).json();
    renderOrders(state);
    renderHandoffs(state);
    renderVendors(state.vendors);
    $("updated").textContent = `Updated ${new Date().toLocaleTimeString("en-GB")} · ${state.mode}.`;
    document.body.dataset.ready = "true";
  } catch (error) {
    $("updated").textContent = `Could not reach the demo server (${error}).`;
  }
  setTimeout(poll, POLL_MS);
}

setupRelaySwitch();
setupVendorsSwitch();
poll();
