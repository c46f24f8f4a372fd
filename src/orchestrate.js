// Size budget (issue 2: 14 KB brotli for everything a page loads): the browser-API plumbing of
// `reportOrder` / `flushQueue` is hand-written JavaScript, because as Rust it cost ~6 KB of
// wasm and closure glue. Cookie parsing, validation, the hand-off body and the third-o URL stay
// in Rust (src/, crates/core), which calls `osDeliver`, `osFlush` and `osStart` below.
// `scripts/build-package.sh` inlines this file into the wasm-bindgen glue, so a page still
// loads two files; every top-level name starts with `os` so it cannot clash with the glue's.
//
// Never throws into the page: every call on a page object (storage, fetch, navigator, a
// response) is inside `try`, and every promise handed back resolves, to a report or a result.
//
// localStorage holds two line-based texts, bounded in count and age (`field\tfield\n`):
// `ordersync.reported` (expiry ms, order id): orders already reported from this browser, so a
// reload does not report twice; `ordersync.pending` (created ms, relay URL, order id, body):
// hand-offs the relay has not taken yet, retried at start-up, on `online` and on every report.
// Order ids and URLs reach here without tabs or newlines (Rust refuses control characters) and
// bodies are JSON, which escapes them.

const osDay = 864e5;
const osReportedKey = "ordersync.reported";
const osPendingKey = "ordersync.pending";
const osReportedTtl = 30 * osDay;
const osMaxReported = 200;
const osPendingTtl = 7 * osDay; // a signed token expires anyway
const osMaxPending = 20;
// A request still unanswered after this long counts as unreachable (and stays queued).
const osTimeoutMs = 1e4;
// What a relay request ended as, when there is no `Response`.
const osNetworkError = 0;
const osBeaconQueued = 1;
const osNoTransport = 2;
const osTimedOut = 3;

const osSkipped = "skipped";
const osQueued = "queued";
const osFailed = "failed";
const osNotSentInvalid = "not sent: the options or the checkout were refused (see error)";
const osAlreadyReported = "this order was already reported from this browser";

// Order ids whose hand-off is on the wire, so a concurrent flush does not send it twice.
const osInFlight = new Set();
let osStarted = false;

function osStorage() {
  try {
    // Reading `localStorage` itself throws where storage is disabled.
    const storage = globalThis.localStorage;
    return storage !== null && typeof storage == "object" ? storage : null;
  } catch {
    return null;
  }
}

function osRead(storage, key) {
  try {
    const text = storage.getItem(key);
    return typeof text == "string" ? text : "";
  } catch {
    return "";
  }
}

function osWrite(storage, key, text) {
  try {
    storage.setItem(key, text);
    return true;
  } catch {
    return false;
  }
}

// Digits only (no sign, no spaces, no exponent); NaN for anything else.
const osWhole = (text) => (/^\d+$/.test(text) && +text < 2 ** 64 ? +text : NaN);

// The lines of a stored text split into at most `count` tab-separated fields (the last one
// keeps its tabs), those with `count` fields and a whole number first.
function osLines(text, count) {
  const out = [];
  for (const line of text.split("\n")) {
    const fields = line.split("\t");
    const row = [osWhole(fields[0]), ...fields.slice(1, count - 1), fields.slice(count - 1).join("\t")];
    if (fields.length >= count && row[0] === row[0]) out.push(row);
  }
  return out;
}

const osFormat = (rows) => rows.map((row) => row.join("\t") + "\n").join("");

// A stored time further ahead than this was not written by this code (a clock set back by
// more than a day aside): the entry is corrupt and dropped, never trusted for years.
const osSkew = osDay;

// The orders already reported, without the expired and the corrupt: [expires, orderId].
const osReported = (storage, now) =>
  osLines(osRead(storage, osReportedKey), 2).filter(([expires]) => expires > now && expires <= now + osReportedTtl + osSkew);

function osWasReported(storage, orderId, now) {
  return osReported(storage, now).some(([, id]) => id === orderId);
}

function osRememberReported(storage, orderId, now) {
  const rows = osReported(storage, now).filter(([, id]) => id !== orderId);
  rows.push([now + osReportedTtl, orderId]);
  osWrite(storage, osReportedKey, osFormat(rows.slice(-osMaxReported)));
}

// The hand-offs still to deliver, oldest first, without those past their age and those
// created in the future (corrupt): [created, url, orderId, body].
const osPending = (storage, now) =>
  osLines(osRead(storage, osPendingKey), 4).filter(([created]) => created + osPendingTtl > now && created <= now + osSkew);

function osAddPending(storage, row, now) {
  const rows = osPending(storage, now).filter((kept) => kept[2] !== row[2]);
  rows.push(row);
  return osWrite(storage, osPendingKey, osFormat(rows.slice(-osMaxPending)));
}

function osRemovePending(storage, orderId, now) {
  const rows = osPending(storage, now);
  const kept = rows.filter((row) => row[2] !== orderId);
  if (kept.length != rows.length) osWrite(storage, osPendingKey, osFormat(kept));
}

// Marks `orderId` as on the wire; false when it already is.
function osClaim(orderId) {
  const free = !osInFlight.has(orderId);
  osInFlight.add(orderId);
  return free;
}

// `fetch(url, init)` with a timeout, its rejection turned into `osNetworkError`; undefined when
// `fetch` is missing or throws at once. The abort signal cancels the request, but a `fetch`
// (a page's wrapper, a polyfill) may ignore it and never settle: a timer resolves the request
// as `osTimedOut` after the same time, so no report or flush waits forever.
function osFetch(url, init) {
  try {
    init.signal = AbortSignal.timeout(osTimeoutMs);
  } catch {}
  try {
    const settled = globalThis.fetch(url, init).then(undefined, () => osNetworkError);
    if (!(settled instanceof Promise)) return;
    let timer;
    const late = new Promise((resolve) => {
      try {
        timer = setTimeout(resolve, osTimeoutMs + 500, osTimedOut);
      } catch {}
    });
    return Promise.race([settled, late]).then((outcome) => {
      try {
        clearTimeout(timer);
      } catch {}
      return outcome;
    });
  } catch {}
}

// POSTs a hand-off: `fetch` (with `keepalive` when asked, so it survives the page unloading),
// or `navigator.sendBeacon` where `fetch` is missing or throws at once. The string body makes
// both send `text/plain;charset=UTF-8`, a "simple" request with no CORS preflight, which the
// relay accepts as JSON. Resolves to the `Response`, or to a code when there is none.
function osPost(url, body, keepalive) {
  const init = { method: "POST", body };
  if (keepalive) init.keepalive = true;
  let request = osFetch(url, init);
  if (!request) {
    let code = osNoTransport;
    try {
      if (globalThis.navigator.sendBeacon(url, body) === true) code = osBeaconQueued;
    } catch {}
    request = Promise.resolve(code);
  }
  return request;
}

// The third-o GET: `no-cors` (CitrusAd's answer is not needed, only the request), `keepalive`.
const osSendPixel = (url) =>
  osFetch(url, { mode: "no-cors", keepalive: true }) || Promise.resolve(osNoTransport);

// How a relay request ended: [kind, HTTP status]. Kinds: "delivered" (2xx), "refused" (another
// 4xx: retrying cannot help), "retry" (network error, aborted by the signal's timeout, 408, 429,
// 5xx), "late" (no answer, not even to the abort, within the timeout: retried too), "beacon",
// "none" (no transport at all).
// Every response body is cancelled, but a refusal's when `readRefusal` (then the caller reads it).
function osClassify(outcome, readRefusal) {
  if (outcome === null || typeof outcome != "object") {
    return [outcome === osBeaconQueued ? "beacon" : outcome === osNoTransport ? "none" : outcome === osTimedOut ? "late" : "retry"];
  }
  let code = 0;
  try {
    const status = outcome.status;
    if (typeof status == "number") code = Math.min(65535, Math.max(0, Math.trunc(status))) || 0;
  } catch {}
  const kind =
    code > 199 && code < 300 ? "delivered" : code > 399 && code < 500 && code != 408 && code != 429 ? "refused" : "retry";
  // Release the body: until it is read or cancelled, Chromium keeps counting a finished
  // keepalive request against the 64 KiB of keepalive bodies a page may have in flight, and
  // refuses later hand-offs with a network error.
  if (kind != "refused" || !readRefusal) {
    try {
      outcome.body.cancel().catch(() => {});
    } catch {}
  }
  return [kind, code];
}

// The field the relay's refusal names (`{"error": {"field"}}`, its 400 for a checkout the
// browser does not fully validate), or undefined.
function osRefusedField(response) {
  try {
    return response
      .json()
      .then((body) => body.error.field)
      .then((field) => (typeof field == "string" ? field : undefined), () => {});
  } catch {
    return Promise.resolve();
  }
}

function osChannel(status, reason) {
  return { status, reason };
}

// The report with its members in a fixed order, and only those that are set.
function osReportOut(report) {
  const channel = (c) => {
    const out = { status: c.status };
    for (const key of ["reason", "httpStatus", "field", "url"]) if (c[key] != null) out[key] = c[key];
    return out;
  };
  const out = { orderId: report.orderId, cookieId: report.cookieId, relay: channel(report.relay), pixel: channel(report.pixel) };
  if (report.error) out.error = report.error;
  return out;
}

// The relay's outcome in the report; whether the relay was reached (took the hand-off or
// refused it for good).
function osRecordRelay(report, [kind, code], queued, field) {
  const lost = queued ? osQueued : osFailed;
  report.relay =
    kind == "delivered"
      ? { status: "accepted", httpStatus: code }
      : kind == "refused"
        ? { status: "rejected", reason: "the relay refused the hand-off (not retried)", httpStatus: code, field }
        : kind == "beacon"
          ? osChannel("beacon", "fetch is unavailable; handed to navigator.sendBeacon")
          : kind == "none"
            ? osChannel(lost, "neither fetch nor navigator.sendBeacon is available")
            : {
                status: lost,
                reason: queued
                  ? (kind == "late" ? "the relay gave no answer within 10 s (timed out)" : "the relay could not be reached or asked to retry") +
                    "; queued in localStorage for a later retry"
                  : (kind == "late" ? "the relay gave no answer within 10 s (timed out)" : "the relay could not be reached") +
                    " and localStorage is unavailable, so nothing was queued",
                httpStatus: code,
              };
  return kind == "delivered" || kind == "refused" || kind == "beacon";
}

function osAfterPixel(report, outcome) {
  const pixel = report.pixel;
  if (outcome !== null && typeof outcome == "object") {
    pixel.status = "sent";
    pixel.reason = null;
  } else {
    pixel.status = osFailed;
    pixel.reason =
      outcome === osNoTransport ? "fetch is unavailable" : outcome === osTimedOut ? "no answer within 10 s (timed out)" : "the request failed (network error or blocked)";
  }
}

// One `reportOrder` call, after Rust read the cookie and the options. With `errorField` set,
// the options or checkout were refused; otherwise `relayUrl` and `body` are the hand-off, and
// the pixel fields what Rust decided for the third-o request (`pixelUrl` without a
// `pixelReason`: to be sent, at once when `always`, else only if the relay is not reached).
function osReport(cookieId, orderId, errorField, errorMessage, relayUrl, body, keepalive, pixelUrl, pixelReason, pixelField, always) {
  const report = {
    orderId: orderId ?? null,
    cookieId: cookieId ?? null,
    relay: osChannel(osSkipped, osNotSentInvalid),
    pixel: osChannel(osSkipped, osNotSentInvalid),
  };
  if (errorField != null) {
    report.error = { field: errorField, message: errorMessage };
    return Promise.resolve(osReportOut(report));
  }
  report.pixel = { status: osSkipped, reason: pixelReason, field: pixelField, url: pixelUrl };
  const pixelPlanned = pixelUrl != null && pixelReason == null;
  const now = Date.now();
  const storage = osStorage();
  if (storage && osWasReported(storage, orderId, now)) {
    report.relay = osChannel("duplicate", osAlreadyReported);
    if (pixelPlanned) report.pixel.reason = osAlreadyReported;
    return Promise.resolve(osReportOut(report));
  }
  let queued = false;
  if (storage) {
    osRememberReported(storage, orderId, now);
    queued = osAddPending(storage, [now, relayUrl, orderId, body], now);
  }
  osClaim(orderId);
  const relay = osPost(relayUrl, body, keepalive);
  const early = pixelPlanned && always ? osSendPixel(pixelUrl) : null;
  let result;
  return relay.then((outcome) => {
    osInFlight.delete(orderId);
    result = osClassify(outcome, true);
    return result[0] == "refused" ? osRefusedField(outcome) : undefined;
  }).then((field) => {
    const reached = osRecordRelay(report, result, queued, field);
    if (reached) {
      const storage = osStorage();
      if (storage) osRemovePending(storage, orderId, Date.now());
    }
    let pixel = early;
    if (pixelPlanned && !always) {
      if (reached) {
        report.pixel.reason = "the relay was reached (citrus.frontend is \"fallback\"), so the relay reports to CitrusAd";
      } else {
        pixel = osSendPixel(pixelUrl);
      }
    }
    if (!pixel) return osReportOut(report);
    return pixel.then((outcome) => {
      osAfterPixel(report, outcome);
      return osReportOut(report);
    });
  }).then(undefined, () => osReportOut(report));
}

// Called by Rust's `reportOrder`: reports this order, then retries what is queued (after this
// order's hand-off, so older ones never delay it or use up its keepalive quota).
export function osDeliver(...args) {
  let report;
  try {
    report = osReport(...args);
  } catch {
    report = Promise.resolve(osReportOut({ orderId: args[1] ?? null, cookieId: args[0] ?? null, relay: osChannel(osFailed), pixel: osChannel(osSkipped) }));
  }
  osFlush();
  return report;
}

// `flushQueue`: retries the queued hand-offs, without keepalive (a flush runs at load or on
// `online`, not at unload). Resolves to { delivered, rejected, remaining }.
export function osFlush() {
  const result = { delivered: 0, rejected: 0, remaining: 0 };
  try {
    const storage = osStorage();
    const rows = storage ? osPending(storage, Date.now()).filter((row) => osClaim(row[2])) : [];
    const requests = rows.map(([, url, , body]) => osPost(url, body, false));
    return Promise.all(requests).then((outcomes) => {
      const storage = osStorage();
      const now = Date.now();
      rows.forEach(([, , orderId], index) => {
        osInFlight.delete(orderId);
        const [kind] = osClassify(outcomes[index]);
        if (kind == "retry" || kind == "late" || kind == "none") return;
        if (kind == "refused") result.rejected++;
        else result.delivered++;
        if (storage) osRemovePending(storage, orderId, now);
      });
      if (storage) result.remaining = osPending(storage, now).length;
      return result;
    });
  } catch {
    return Promise.resolve(result);
  }
}

// Rust's own-property read of what the page passes (options, checkout, items): `target[key]`
// when `key` is the target's own property (so a getter there still runs, and a polluted
// `Object.prototype` supplies nothing), else undefined; undefined too when a getter or a Proxy
// trap throws.
export function osOwn(target, key) {
  try {
    return Object.prototype.hasOwnProperty.call(target, key) ? target[key] : undefined;
  } catch {}
}

// Run by `init()`: retries what earlier pages left queued, and again whenever the browser
// comes back online. Calling it again does nothing.
export function osStart() {
  if (osStarted) return;
  osStarted = true;
  try {
    globalThis.addEventListener("online", () => osFlush());
  } catch {}
  osFlush();
}
