// The ordersync console's script: polls console/api/overview and draws the page from it.
// Every text from the relay goes in with textContent (never as HTML); the chart is SVG built
// with the DOM. Requests that change something carry the X-Ordersync-Console header, which the
// relay requires of them (a page of another site cannot add it).
"use strict";

(() => {
  const API = "console/api/";
  const CHANGE_HEADERS = { "Content-Type": "application/json", "X-Ordersync-Console": "1" };
  const NAMES = { cibler: "CibleR", citrusad: "CitrusAd" };
  const SVG = "http://www.w3.org/2000/svg";
  const ERROR_CHARS = 120;
  /** Times as 24-hour hh:mm:ss, the same width on every row. */
  const CLOCK = { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" };

  let refreshMs = 3000;
  let timer = null;
  let search = "";
  let lastGood = 0;

  const $ = (id) => document.getElementById(id);

  /** An element with a class and text (or children). */
  function el(tag, className, content) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (Array.isArray(content)) node.append(...content.filter((c) => c !== null && c !== undefined));
    else if (content !== undefined && content !== null) node.textContent = String(content);
    return node;
  }

  function badge(state) {
    return el("span", `badge ${state}`, state);
  }

  function time(ms) {
    const date = new Date(ms);
    const today = new Date().toDateString() === date.toDateString();
    const text = today ? date.toLocaleTimeString([], CLOCK) : date.toLocaleString([], { ...CLOCK, year: "numeric", month: "short", day: "numeric" });
    const node = el("time", null, text);
    node.dateTime = date.toISOString();
    node.title = date.toISOString();
    return node;
  }

  function format(n) {
    return Number(n).toLocaleString();
  }

  async function load() {
    clearTimeout(timer);
    try {
      const query = search ? `?search=${encodeURIComponent(search)}` : "";
      const answer = await fetch(`${API}overview${query}`, { cache: "no-store" });
      if (answer.status === 401) {
        // Signed out elsewhere, or the session ended: back to the sign-in form.
        window.location.reload();
        return;
      }
      if (!answer.ok) throw new Error(await problemOf(answer));
      const overview = await answer.json();
      refreshMs = overview.refreshMs || refreshMs;
      render(overview);
      lastGood = Date.now();
      showProblem(null);
      const freshness = $("freshness");
      freshness.classList.remove("stale");
      freshness.textContent = `Updated ${new Date(overview.generatedAtMs).toLocaleTimeString([], CLOCK)} · every ${Math.round(refreshMs / 1000)} s`;
    } catch (error) {
      const freshness = $("freshness");
      freshness.classList.add("stale");
      freshness.textContent = lastGood ? `Not updated since ${new Date(lastGood).toLocaleTimeString([], CLOCK)}` : "Relay unreachable";
      showProblem(`Cannot read the relay: ${error.message}`);
    } finally {
      timer = setTimeout(load, refreshMs);
    }
  }

  async function problemOf(answer) {
    try {
      const body = await answer.json();
      return body.error?.message ?? body.message ?? `HTTP ${answer.status}`;
    } catch {
      return `HTTP ${answer.status}`;
    }
  }

  function showProblem(text) {
    const problem = $("problem");
    problem.hidden = !text;
    problem.textContent = text ?? "";
  }

  function render(overview) {
    renderDestinations(overview.destinations);
    renderChart(overview.activity);
    // The chart and the deliveries over the hour and the day are read less often (they read
    // every order held): say when.
    $("chart-as-of").textContent = `as of ${new Date(overview.historyReadAtMs).toLocaleTimeString([], CLOCK)}`;
    renderDeadLetters(overview.deadLetters, overview.deadLettersTotal);
    renderOrders(overview.orders, overview.search);
  }

  function renderDestinations(destinations) {
    const cards = destinations.map((d) => {
      const name = NAMES[d.destination] ?? d.destination;
      const status = !d.enabled ? el("span", "badge off", "Off") : d.circuitOpen ? el("span", "badge open", "Circuit open") : el("span", "badge closed", "Circuit closed");
      status.title = !d.enabled
        ? "Not configured on this relay"
        : d.circuitOpen
          ? "The vendor keeps failing: the relay probes it with one order at a time"
          : "The vendor answers: orders flow";
      const stat = (label, value, bad) => el("div", `stat${bad ? " bad" : ""}`, [el("span", "value", format(value)), el("span", "label", label)]);
      const card = el("article", "card", [
        el("div", "card-head", [el("h3", null, name), status]),
        el("div", "stats", [
          stat("Pending", d.pending, false),
          stat("Retrying", d.retrying, false),
          stat("Delivered 1 h", d.deliveredLastHour, false),
          stat("Delivered 24 h", d.deliveredLastDay, false),
          stat("Dead", d.dead, d.dead > 0),
        ]),
      ]);
      card.dataset.destination = d.destination;
      if (!d.enabled) card.classList.add("off");
      if (d.circuitOpen || d.dead > 0) card.classList.add("failing");
      return card;
    });
    $("destinations").replaceChildren(...cards);
  }

  function svg(tag, attributes, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /** Two bars a minute (accepted, delivered) over the last hour, with a few gridlines. */
  function renderChart(activity) {
    const minutes = activity.minutes;
    const width = 1200;
    const height = 190;
    const left = 34;
    const bottom = 20;
    const top = 8;
    const plotHeight = height - bottom - top;
    const peak = Math.max(1, ...minutes.map((m) => Math.max(m.accepted, m.delivered)));
    const scale = niceCeiling(peak);
    const slot = (width - left) / minutes.length;
    const barWidth = Math.max(1, (slot - 2) / 2);
    const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", role: "img" });
    const totals = minutes.reduce((sum, m) => [sum[0] + m.accepted, sum[1] + m.delivered], [0, 0]);
    chart.append(svg("title", {}, `Last hour: ${totals[0]} orders accepted, ${totals[1]} delivered`));
    for (const fraction of [0, 0.5, 1]) {
      const y = top + plotHeight * (1 - fraction);
      chart.append(svg("line", { class: "gridline", x1: left, x2: width, y1: y, y2: y }));
      chart.append(svg("text", { class: "axis", x: left - 6, y: y + 4, "text-anchor": "end" }, format(scale * fraction)));
    }
    minutes.forEach((m, i) => {
      const x = left + i * slot + 1;
      for (const [value, kind, offset] of [[m.accepted, "accepted", 0], [m.delivered, "delivered", barWidth]]) {
        if (value === 0) continue;
        const barHeight = Math.max(1.5, (value / scale) * plotHeight);
        const bar = svg("rect", { class: `bar-${kind}`, x: x + offset, y: top + plotHeight - barHeight, width: barWidth, height: barHeight, rx: 1 });
        bar.append(svg("title", {}, `${new Date(m.minuteMs).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}: ${value} ${kind}`));
        chart.append(bar);
      }
    });
    for (const ago of [60, 45, 30, 15, 0]) {
      const i = Math.min(minutes.length - 1, minutes.length - 1 - ago + (ago === 60 ? 1 : 0));
      const x = left + i * slot + slot / 2;
      const label = ago === 0 ? "now" : `−${ago} min`;
      chart.append(svg("text", { class: "axis", x, y: height - 4, "text-anchor": ago === 0 ? "end" : ago === 60 ? "start" : "middle" }, label));
    }
    $("chart").replaceChildren(chart);
    $("accepted-total").textContent = format(totals[0]);
    $("delivered-total").textContent = format(totals[1]);
  }

  /** The smallest of 1, 2, 5 × 10^n at or above `n`: round gridline labels. */
  function niceCeiling(n) {
    const power = 10 ** Math.floor(Math.log10(n));
    return [1, 2, 5, 10].map((f) => f * power).find((v) => v >= n);
  }

  function renderDeadLetters(deadLetters, total) {
    const count = $("dead-count");
    count.textContent = format(total);
    count.classList.toggle("bad", total > 0);
    const rows = deadLetters.map((dead) => {
      // A refusal's error is its status alone ("HTTP 400"): shown once, as the status.
      const onlyTheStatus = dead.vendorStatus && dead.error === `HTTP ${dead.vendorStatus}`;
      const answer = el("div", "answer", [
        dead.vendorStatus ? el("span", "status", `HTTP ${dead.vendorStatus} `) : null,
        onlyTheStatus ? null : el("span", "error", dead.error ?? ""),
        dead.vendorResponse ? el("pre", "mono", dead.vendorResponse) : null,
      ]);
      const retry = el("button", "quiet", "Retry");
      retry.type = "button";
      retry.dataset.action = "retry";
      retry.addEventListener("click", () => act("retry", dead, retry));
      const discard = el("button", "danger", "Discard");
      discard.type = "button";
      discard.dataset.action = "discard";
      discard.addEventListener("click", () => confirmDiscard(dead, discard));
      const row = el("tr", "failed", [
        el("td", "order-id mono", dead.orderId),
        el("td", null, NAMES[dead.destination] ?? dead.destination),
        el("td", null, format(dead.attempts)),
        el("td", null, [answer]),
        el("td", null, [time(dead.updatedAtMs)]),
        el("td", null, [el("div", "actions", [retry, discard])]),
      ]);
      row.dataset.orderId = dead.orderId;
      row.dataset.destination = dead.destination;
      return row;
    });
    if (total > deadLetters.length) {
      const more = el("td", "hint", `${format(total - deadLetters.length)} more: see \`ordersync-relay dead-letters list\`.`);
      more.colSpan = 6;
      rows.push(el("tr", null, [more]));
    }
    $("dead-letters").tBodies[0].replaceChildren(...rows);
    $("dead-letters").hidden = rows.length === 0;
    $("dead-empty").hidden = rows.length > 0;
  }

  function renderOrders(orders, answered) {
    const cell = (order, destination) => {
      const d = order.destinations.find((x) => x.destination === destination);
      if (!d) return el("td", "none", "—");
      return el("td", null, [badge(d.state), d.attempts ? el("span", "attempts", `× ${d.attempts}`) : null]);
    };
    const rows = orders.map((order) => {
      const errors = order.destinations
        .filter((d) => d.lastError && d.state !== "delivered")
        .map((d) => `${NAMES[d.destination] ?? d.destination}: ${d.lastError}`);
      const failing = order.destinations.some((d) => d.state === "dead" || d.state === "retrying");
      const row = el("tr", failing ? "failed" : null, [
        el("td", "order-id mono", order.orderId),
        el("td", null, [time(order.acceptedAtMs)]),
        el("td", null, [badge(order.state)]),
        cell(order, "cibler"),
        cell(order, "citrusad"),
        errors.length ? shortened(errors.join(" · "), failing ? "error" : "none") : el("td", "none", "—"),
      ]);
      row.dataset.orderId = order.orderId;
      return row;
    });
    $("orders").tBodies[0].replaceChildren(...rows);
    $("orders-title").textContent = answered ? `Orders whose id starts with “${answered}”` : "Latest orders";
    $("orders").hidden = rows.length === 0;
    const empty = $("orders-empty");
    empty.hidden = rows.length > 0;
    empty.textContent = answered ? `No order id starts with “${answered}”.` : "No orders yet.";
  }

  /** A table cell with at most ERROR_CHARS of `text`, all of it on hover. */
  function shortened(text, className) {
    const cell = el("td", className, text.length > ERROR_CHARS ? `${text.slice(0, ERROR_CHARS)}…` : text);
    cell.title = text;
    return cell;
  }

  function confirmDiscard(dead, button) {
    const dialog = $("confirm");
    $("confirm-text").textContent = `Order ${dead.orderId} will never be sent to ${NAMES[dead.destination] ?? dead.destination}. The order is kept until the retention, then forgotten like a delivered one.`;
    dialog.returnValue = "";
    dialog.onclose = () => {
      if (dialog.returnValue === "discard") act("discard", dead, button);
    };
    dialog.showModal();
  }

  async function act(action, dead, button) {
    button.disabled = true;
    try {
      const answer = await fetch(`${API}dead-letters/${action}`, {
        method: "POST",
        headers: CHANGE_HEADERS,
        body: JSON.stringify({ orderId: dead.orderId, destination: dead.destination }),
      });
      if (!answer.ok) throw new Error(await problemOf(answer));
      const name = NAMES[dead.destination] ?? dead.destination;
      toast(action === "retry" ? `Order ${dead.orderId} queued again for ${name}.` : `Order ${dead.orderId} discarded for ${name}.`);
    } catch (error) {
      toast(`Could not ${action} order ${dead.orderId}: ${error.message}`, true);
      button.disabled = false;
    }
    await load();
  }

  let toastTimer = null;
  function toast(text, failure = false) {
    const node = $("toast");
    node.textContent = text;
    node.classList.toggle("failure", failure);
    node.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => {
      node.hidden = true;
    }, 5000);
  }

  function start() {
    $("search").addEventListener("submit", (event) => {
      event.preventDefault();
      search = $("search-input").value.trim();
      $("search-clear").hidden = !search;
      load();
    });
    $("search-clear").addEventListener("click", () => {
      $("search-input").value = "";
      search = "";
      $("search-clear").hidden = true;
      load();
    });
    $("sign-out").addEventListener("click", async () => {
      await fetch("console/logout", { method: "POST", headers: CHANGE_HEADERS }).catch(() => {});
      window.location.reload();
    });
    load();
  }

  start();
})();
