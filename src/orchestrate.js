// Size budget (issue 2: 14 KB brotli for everything a page loads): the module's public API is
// hand-written JavaScript, and no JavaScript value crosses into Rust. `reportOrder`,
// `thirdOUrl`, `readCiblerId` and `flushQueue` (exported by the package; typed in src/lib.rs)
// read what the page passes once, safely, into a plain snapshot, check the options, and do the
// browser-API plumbing; Rust (src/calls.rs, over crates/core) computes on text: the
// `cibler_id` value of a cookie header, and the checkout validated in the fields the browser
// reads, with its third-o URL. `scripts/build-package.sh` inlines this file into the
// wasm-bindgen glue, so a page still loads two files; every other top-level name starts with
// `os` so it cannot clash with the glue's.
//
// Never throws into the page: every call on a page object (options, storage, fetch, navigator,
// a response) is inside `try`, and every promise handed back resolves, to a report or a result.
//
// localStorage holds two line-based texts, bounded in count and age (`field\tfield\n`):
// `ordersync.reported` (expiry ms, order id): orders already reported from this browser, so a
// reload does not report twice; `ordersync.pending` (created ms, relay URL, order id, body):
// hand-offs the relay has not taken yet, retried at start-up, on `online` and on every report.
// Order ids and URLs reach here without tabs or newlines (the core and osRelayUrl refuse
// control characters) and bodies are JSON, which escapes them.

// The wasm instance's exports (memory, os_alloc, os_call): bound by the glue as `init()`
// instantiates the module (scripts/build-package.sh), or by the Rust tests' entry points.
let osWasm;
const osEncoder = new TextEncoder();
const osDecoder = new TextDecoder();

export function osBind(exports) {
  osWasm = exports;
}

// A request to Rust (src/calls.rs): `[op, ...args]` as JSON text in, a string out.
function osCall(...args) {
  const bytes = osEncoder.encode(JSON.stringify(osBare(args)));
  const at = osWasm.os_alloc(bytes.length);
  new Uint8Array(osWasm.memory.buffer).set(bytes, at);
  // Views made after each call: a call that grows the memory detaches the former buffer.
  const answer = osWasm.os_call(at, bytes.length);
  const [ptr, length] = new Uint32Array(osWasm.memory.buffer, answer, 2);
  return osDecoder.decode(new Uint8Array(osWasm.memory.buffer, ptr, length));
}

// Without a prototype, so a page's `Object.prototype.toJSON` or `Array.prototype.toJSON` has no
// say in `JSON.stringify`, and a `__proto__` key stays data.
const osBare = (value) => Object.setPrototypeOf(value, null);

// The text as Rust receives it: lone UTF-16 surrogates become U+FFFD (as TextEncoder writes
// them; Rust's JSON reader refuses them, as the relay's does).
const osWell = (text) => osDecoder.decode(osEncoder.encode(text));

// `target[key]` when `key` is the target's own property (so a getter there still runs, once,
// and a polluted `Object.prototype` supplies nothing), else undefined; undefined too when a
// getter or a Proxy trap throws.
function osOwn(target, key) {
  try {
    return Object.prototype.hasOwnProperty.call(target, key) ? target[key] : undefined;
  } catch {}
}

const osIsObject = (value) => typeof value == "object" && value !== null;

// One entry more than the core takes (MAX_ITEMS + 1 in crates/core), so that it can say
// "too many" rather than the snapshot cutting an array silently.
const osMaxEntries = 1001;
// Deep enough for checkout -> items -> item -> value. A deeper container is the wrong type for
// any field, so it is kept only as an empty shell of its kind (which also stops cycles).
const osMaxDepth = 3;

// A plain, JSON-ready copy of what the page passed as the checkout, read once: own properties
// only (`Object.keys`), arrays by index up to `length` (holes are null). A Symbol, a function,
// NaN or an infinity becomes `false`, which every field refuses as the wrong type (so the error
// names its own place); a bigint becomes its decimal string (numeric fields take strings).
function osSnapshot(value, depth) {
  const type = typeof value;
  if (type == "string") return osWell(value);
  if (type == "bigint") return String(value);
  if (value == null) return null;
  if (type == "boolean" || (type == "number" && isFinite(value))) return value;
  if (type != "object") return false;
  let array = false;
  try {
    array = Array.isArray(value);
  } catch {}
  const out = osBare(array ? [] : {});
  if (depth < osMaxDepth) {
    if (array) {
      const length = osOwn(value, "length");
      const count = Math.min(osMaxEntries, typeof length == "number" ? length : 0);
      for (let index = 0; index + 1 <= count; index++) out[index] = osSnapshot(osOwn(value, index), depth + 1);
    } else {
      let keys = [];
      try {
        keys = Object.keys(value).slice(0, osMaxEntries);
      } catch {}
      for (const key of keys) out[key] = osSnapshot(osOwn(value, key), depth + 1);
    }
  }
  return out;
}

const osProblem = (field, message) => ({ field, message });
const osMustBeString = "must be a string";

// The checkout's source: `{ error }`, or `[snapshot or payload text, isToken, token]`.
function osSource(options) {
  if (!osIsObject(options)) return { error: osProblem("options", "must be an object") };
  const token = osOwn(options, "token");
  const plain = osOwn(options, "checkout");
  if (token != null && plain != null) return { error: osProblem("token", "must not be given together with checkout") };
  if (plain != null) return [osSnapshot(plain, 0), false];
  if (token == null) return { error: osProblem("checkout", "is required (or token)") };
  if (typeof token != "string") return { error: osProblem("token", osMustBeString) };
  return [osPayload(token) ?? null, true, token];
}

// The payload text of a compact JWS (`header.payload.signature`; the payload strict unpadded
// base64url of UTF-8), else undefined. The module only reads the claims, to validate the
// checkout and build the third-o request; the relay checks the signature.
function osPayload(token) {
  const [header, payload, signature, extra] = token.split(".");
  if (header && signature != null && extra == null && /^[\w-]*$/.test(payload) && payload.length % 4 != 1) {
    try {
      const bytes = Uint8Array.from(atob(payload.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
      return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
    } catch {}
  }
}

// The `citrus` options checked (types, the policy): undefined when absent, `{ error }`, or
// `{ config: [baseUrl, publishableKey, teamId, catalogId], policy }`.
function osCitrus(options) {
  const citrus = osOwn(options, "citrus");
  if (citrus == null) return;
  if (!osIsObject(citrus)) return { error: osProblem("citrus", "must be an object") };
  let error;
  const text = (name, required) => {
    const value = osOwn(citrus, name);
    const field = "citrus." + name;
    if (value == null) {
      if (required) error ??= osProblem(field, "is required");
      return null;
    }
    if (typeof value == "string") return osWell(value);
    error ??= osProblem(field, osMustBeString);
  };
  const policy = text("frontend") ?? "fallback";
  if (!error && policy != "fallback" && policy != "always" && policy != "never") {
    error = osProblem("citrus.frontend", 'must be "fallback", "always" or "never"');
  }
  const config = [text("baseUrl", 1), text("publishableKey", 1), text("teamId"), text("catalogId", 1)];
  return error ? { error } : { config, policy };
}

// The checkout validated by Rust, with its third-o URL when `config` is given:
// `{ error }` or `{ orderId, url, urlError }`.
function osOrder([source, isToken], config, now) {
  const answer = osCall("o", source, isToken, now, ...(config || [])).split("\t");
  if (answer[0] == "!") return { error: osProblem(answer[1], answer[2]) };
  return {
    orderId: answer[1],
    url: answer[2] == "=" ? answer[3] : undefined,
    urlError: answer[2] == "!" ? osProblem(answer[3], answer[4]) : undefined,
  };
}

// A longer `relayUrl` is refused: a base URL is short, and a longer one would only be queued
// and retried for days against servers that refuse long request lines.
const osMaxRelayUrlBytes = 2048;

// `{relayUrl}/v1/checkouts`, or `{ error }`. `relayUrl` is an absolute http(s) URL or a path on
// the shop's own origin (where a reverse proxy forwards to the relay, out of reach of ad
// blockers). A path must not start with `//` or `/\`: browsers read both as a protocol-relative
// URL naming another host. Backslashes are refused anywhere (URL parsers read them as `/` in
// http(s) URLs, so they never mean what they seem), and so are whitespace and control
// characters (Rust's `char::is_whitespace` and `is_control`: the class below).
function osRelayUrl(options) {
  const field = "relayUrl";
  let url = osOwn(options, field);
  if (url == null) return { error: osProblem(field, "is required") };
  if (typeof url != "string") return { error: osProblem(field, osMustBeString) };
  url = osWell(url);
  if (osEncoder.encode(url).length > osMaxRelayUrlBytes) return { error: osProblem(field, "must be at most 2048 bytes long") };
  if (!/^(https?:\/\/|\/(?!\/))/.test(url) || /[?#\\\0-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/.test(url)) {
    return {
      error: osProblem(field, "must be an http(s) URL or a path on this site (not //host), without query, fragment or backslash"),
    };
  }
  return url.replace(/\/+$/, "") + "/v1/checkouts";
}

// Browsers refuse `keepalive` bodies over 64 KiB (in flight, per page); a bigger hand-off goes
// without it.
const osKeepaliveMaxBody = 6e4;

// `reportOrder`'s decisions, as osReport's arguments: the refused option or field, or the
// hand-off (relay URL, body) and what to do with the third-o request.
function osPlan(options) {
  const cookieId = readCiblerId();
  const now = new Date().toISOString();
  const source = osSource(options);
  const citrus = source.error ? undefined : osCitrus(options);
  const order = source.error ? source : osOrder(source, citrus?.config, now);
  if (order.error) return [cookieId, null, order.error.field, order.error.message];
  const relayUrl = osRelayUrl(options);
  if (relayUrl.error) return [cookieId, order.orderId, relayUrl.error.field, relayUrl.error.message];
  const [checkout, isToken, token] = source;
  if (!isToken && checkout.orderDate == null) {
    // A plain checkout without `orderDate` gets now (last, as the relay writes it), so a
    // hand-off delivered late from the queue still carries the time of the order, the same
    // one the third-o request used.
    delete checkout.orderDate;
    checkout.orderDate = now;
  }
  const body = JSON.stringify(osBare(isToken ? { token, cookieId } : { checkout, cookieId }));
  const keepalive = osEncoder.encode(body).length <= osKeepaliveMaxBody;
  const problem = citrus ? citrus.error || order.urlError : osProblem(undefined, "no citrus options given");
  const policy = problem ? "never" : citrus.policy;
  return [
    cookieId,
    order.orderId,
    null,
    null,
    relayUrl,
    body,
    keepalive,
    problem ? null : order.url,
    problem ? problem.message : policy == "never" ? 'citrus.frontend is "never"' : null,
    problem?.field,
    policy == "always",
  ];
}

// The `cibler_id` cookie's value, or null (also where there is no `document`).
export function readCiblerId() {
  try {
    const cookie = globalThis.document.cookie;
    if (typeof cookie == "string") return osCall("k", osWell(cookie)) || null;
  } catch {}
  return null;
}

// `{ url }` or `{ error: { field, message } }`, the checkout's errors first, then the citrus
// options', then the URL's.
export function thirdOUrl(options) {
  try {
    const source = osSource(options);
    if (source.error) return { error: source.error };
    const citrus = osCitrus(options);
    const order = osOrder(source, citrus?.config, new Date().toISOString());
    const error = order.error || (citrus ? citrus.error || order.urlError : osProblem("citrus", "is required"));
    return error ? { error } : { url: order.url };
  } catch {
    return { error: osProblem("options", osWasm ? "could not be read" : "cannot be read before init() has resolved") };
  }
}

// Reports one order: hands it to the relay and sends the third-o request per policy, then
// retries what is queued (after this order's hand-off, so older ones never delay it or use up
// its keepalive quota). Always resolves (never rejects, never throws) to a report.
export function reportOrder(options) {
  let report;
  try {
    report = osReport(...osPlan(options));
  } catch {
    report = Promise.resolve(osReportOut({ orderId: null, cookieId: null, relay: osChannel(osFailed), pixel: osChannel(osSkipped) }));
  }
  flushQueue();
  return report;
}

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

// One `reportOrder` call, after osPlan read the cookie and the options. With `errorField` set,
// the options or checkout were refused; otherwise `relayUrl` and `body` are the hand-off, and
// the pixel fields what osPlan decided for the third-o request (`pixelUrl` without a
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

// `flushQueue`: retries the queued hand-offs, without keepalive (a flush runs at load or on
// `online`, not at unload). Resolves to { delivered, rejected, remaining }.
export function flushQueue() {
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

// Run by `init()`: retries what earlier pages left queued, and again whenever the browser
// comes back online. Calling it again does nothing.
export function osStart() {
  if (osStarted) return;
  osStarted = true;
  try {
    globalThis.addEventListener("online", () => flushQueue());
  } catch {}
  flushQueue();
}
