//! `ordersync`: the browser half. A shop's order-confirmation page calls [`report_order`]
//! (`reportOrder` in JavaScript) with the checkout; the module reads the `cibler_id` cookie,
//! hands the checkout to the shop's relay (`POST {relayUrl}/v1/checkouts`), and builds the
//! CitrusAd front-end third-o request, sent per the `citrus.frontend` policy.
//!
//! Thin glue over `ordersync-core`: validation and the third-o query live there. This crate
//! only talks to the page (cookie, `fetch` / `sendBeacon`, `localStorage`), never throws into
//! it (every JavaScript call that can throw is caught, nothing here panics), and is written for a
//! 14 KB budget (not met yet: BENCHMARKS.md, "Size"): no serde, no `format!`, no async runtime
//! (promises are chained by hand).

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};

use js_sys::Promise;
use wasm_bindgen::prelude::*;

mod input;
mod js;
mod jws;
mod options;
mod report;
mod storage;

use options::{Order, Policy, Problem};
use report::{Channel, Report};
use storage::{Pending, Storage};

// dlmalloc, Rust's default on wasm32, is about 5 KB of the bundle; this free-list allocator is
// under 1 KB and ample for a few short calls per page.
// SAFETY: the module runs on the page's one thread (it is not built with atomics), so nothing
// allocates concurrently.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

/// The relay's hand-off endpoint, below `relayUrl`.
pub const CHECKOUTS_PATH: &str = "/v1/checkouts";
pub use ordersync_core::third_o::THIRD_O_PATH;

/// A request still unanswered after this long is treated as unreachable (and queued), so a
/// report always resolves.
const REQUEST_TIMEOUT_MS: u32 = 10_000;
/// Browsers refuse `keepalive` bodies over 64 KiB (in flight, per page); a bigger hand-off
/// goes without it.
const KEEPALIVE_MAX_BODY: usize = 60_000;

/// What a relay request ended as, in the promise chain: a `Response`, or one of these.
const NETWORK_ERROR: u8 = 0;
const BEACON_QUEUED: u8 = 1;
const NO_TRANSPORT: u8 = 2;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** A money amount: a number or a decimal string ("12.30"); at most two decimals. */
export type Amount = number | string;

export interface CheckoutItem {
  gtin: string;
  quantity: number | string;
  regularUnitPrice: Amount;
  totalOrderItemPriceAfterDiscounts: Amount;
  citrusDiscountAmount?: Amount | null;
  substitutedFor?: string | null;
  sellerId?: string | null;
  catalogId?: string | null;
}

/** The checkout, as the shop's server signs it (camelCase, as on every wire). */
export interface Checkout {
  orderId: string | number;
  /** RFC 3339 with Z or +HH:MM; defaults to now. */
  orderDate?: string | null;
  email: string;
  country: string;
  customerGuid: string;
  customerId?: string | null;
  sessionId: string;
  totalSpent: Amount;
  taxes: Amount;
  shippingCost: Amount;
  giftCode?: string | null;
  discountAmount?: Amount | null;
  items?: CheckoutItem[] | null;
}

/** When the CitrusAd front-end (third-o) request is sent. */
export type FrontendPolicy = "fallback" | "always" | "never";

export interface CitrusOptions {
  baseUrl: string;
  /** The publishable key (never the secret API key: that stays on the relay). */
  publishableKey: string;
  teamId?: string;
  catalogId: string;
  /** Default "fallback": only when the relay could not be reached. */
  frontend?: FrontendPolicy;
}

/** The checkout: a signed compact JWS from the shop's server, or a plain object (unsigned relays only). */
export type CheckoutSource =
  | { token: string; checkout?: undefined }
  | { checkout: Checkout; token?: undefined };

export type ReportOptions = CheckoutSource & {
  /** The relay's base URL, absolute or a path on this site ("/ordersync"). */
  relayUrl: string;
  citrus?: CitrusOptions;
};

export type ThirdOUrlOptions = CheckoutSource & { citrus: CitrusOptions };

export interface FieldError {
  /** "orderId", "items[3].quantity", "citrus.baseUrl", ... */
  field: string;
  message: string;
}

export type ThirdOUrlResult =
  | { url: string; error?: undefined }
  | { error: FieldError; url?: undefined };

export type RelayStatus =
  | "accepted" | "queued" | "rejected" | "beacon" | "duplicate" | "failed" | "skipped";

export interface RelayReport {
  status: RelayStatus;
  reason?: string;
  httpStatus?: number;
}

export type PixelStatus = "sent" | "failed" | "skipped";

export interface PixelReport {
  status: PixelStatus;
  reason?: string;
  /** The option or field that kept the third-o request from being built. */
  field?: string;
  /** The third-o URL, whenever it could be built (sent or not). */
  url?: string;
}

export interface Report {
  orderId: string | null;
  cookieId: string | null;
  relay: RelayReport;
  pixel: PixelReport;
  /** The refused option or checkout field that stopped the report. */
  error?: FieldError;
}

export interface FlushResult {
  delivered: number;
  rejected: number;
  remaining: number;
}
"#;

/// Order ids whose hand-off is on the wire, so a concurrent flush does not send it twice.
struct InFlight(RefCell<Vec<String>>);

#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
static IN_FLIGHT: InFlight = InFlight(RefCell::new(Vec::new()));

// SAFETY: wasm32 without the `atomics` feature has exactly one thread, so the cell is never
// shared between threads. (`thread_local!` would do the same at the cost of its lazy
// initialisation and access-error formatting code in the bundle.)
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
unsafe impl Sync for InFlight {}

#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
fn with_in_flight<R>(f: impl FnOnce(&mut Vec<String>) -> R) -> Option<R> {
    let mut ids = IN_FLIGHT.0.try_borrow_mut().ok()?;
    Some(f(&mut ids))
}

#[cfg(not(all(target_arch = "wasm32", not(target_feature = "atomics"))))]
fn with_in_flight<R>(f: impl FnOnce(&mut Vec<String>) -> R) -> Option<R> {
    thread_local! {
        static IN_FLIGHT: InFlight = const { InFlight(RefCell::new(Vec::new())) };
    }
    IN_FLIGHT.with(|cell| {
        let mut ids = cell.0.try_borrow_mut().ok()?;
        Some(f(&mut ids))
    })
}

/// The `cibler_id` cookie's value, or `null` (also where there is no `document`).
#[wasm_bindgen(js_name = readCiblerId, unchecked_return_type = "string | null")]
pub fn read_cibler_id_js() -> JsValue {
    read_cibler_id().map_or(JsValue::NULL, |id| JsValue::from_str(&id))
}

/// The `cibler_id` cookie's value, `None` when absent or where there is no `document`.
pub fn read_cibler_id() -> Option<String> {
    let document = js::get(&js::global(), "document");
    js::get_string(&document, "cookie")
        .and_then(|header| ordersync_core::cookie::cibler_id(&header))
}

/// The CitrusAd third-o URL for a checkout: `{ url }` or `{ error: { field, message } }`.
#[wasm_bindgen(js_name = thirdOUrl, unchecked_return_type = "ThirdOUrlResult")]
pub fn third_o_url(
    #[wasm_bindgen(unchecked_param_type = "ThirdOUrlOptions")] options: JsValue,
) -> JsValue {
    let url = options::order(&options).and_then(|order| {
        let citrus = options::citrus(&options)?.ok_or_else(|| Problem {
            field: "citrus".to_owned(),
            message: "is required",
        })?;
        options::third_o_url(&order.checkout, &citrus, &js::now_rfc3339())
    });
    let out = js::object();
    match url {
        Ok(url) => js::set(&out, "url", &JsValue::from_str(&url)),
        Err(problem) => js::set(&out, "error", &report::problem_to_js(&problem)),
    }
    out
}

/// Reports one order: hands it to the relay and sends the third-o request per policy.
/// Always resolves (never rejects, never throws) to a `Report`.
#[wasm_bindgen(js_name = reportOrder, unchecked_return_type = "Promise<Report>")]
pub fn report_order(
    #[wasm_bindgen(unchecked_param_type = "ReportOptions")] options: JsValue,
) -> Promise {
    let now_ms = js::now_ms();
    let now = js::now_rfc3339();
    let mut report = Report::new(read_cibler_id());
    let delivery = Delivery::prepare(&options, &mut report, &now, now_ms);
    // After this order's hand-off, so older ones never delay it or use up its keepalive quota.
    let _ = flush_queue();
    match delivery {
        Some(delivery) => delivery.start(report),
        None => js::resolved(&report.to_js()),
    }
}

/// Retries the hand-offs queued in `localStorage` (also done at start-up, on `online`, and on
/// every `reportOrder`). Resolves to `{ delivered, rejected, remaining }`.
#[wasm_bindgen(js_name = flushQueue, unchecked_return_type = "Promise<FlushResult>")]
pub fn flush_queue() -> Promise {
    let now_ms = js::now_ms();
    let entries: Vec<Pending> = Storage::open()
        .map(|storage| storage.pending(now_ms))
        .unwrap_or_default()
        .into_iter()
        .filter(|entry| claim(&entry.order_id))
        .collect();
    let requests = js_sys::Array::new();
    for entry in &entries {
        // Without keepalive: a flush runs at page load or on `online`, not at unload, and
        // keepalive bodies are capped at 64 KiB in flight per page.
        requests.push(&post(&entry.url, &entry.body, false));
    }
    let on_settled = Closure::once_into_js(move |outcomes: JsValue| {
        let storage = Storage::open();
        let now_ms = js::now_ms();
        let (mut delivered, mut rejected) = (0u32, 0u32);
        for (index, entry) in entries.iter().enumerate() {
            release(&entry.order_id);
            let outcome = classify(&js::get_index(&outcomes, index as u32));
            match outcome {
                Outcome::Delivered(_) | Outcome::Beacon => delivered += 1,
                Outcome::Refused(_) => rejected += 1,
                Outcome::Retry(_) | Outcome::NoTransport => continue,
            }
            if let Some(storage) = &storage {
                storage.remove_pending(&entry.order_id, now_ms);
            }
        }
        let remaining = storage.map_or(0, |storage| storage.pending(now_ms).len());
        let out = js::object();
        js::set(&out, "delivered", &JsValue::from(delivered));
        js::set(&out, "rejected", &JsValue::from(rejected));
        js::set(&out, "remaining", &JsValue::from(remaining as u32));
        out
    });
    settle(&js::all(&requests), &on_settled)
}

/// Run by `init()`: retries what earlier pages left queued, and again whenever the browser
/// comes back online. Calling it again does nothing.
#[wasm_bindgen(start)]
pub fn start() {
    static STARTED: AtomicBool = AtomicBool::new(false);
    if STARTED.swap(true, Ordering::Relaxed) {
        return;
    }
    let on_online = Closure::<dyn FnMut()>::new(|| {
        let _ = flush_queue();
    })
    .into_js_value();
    let online = JsValue::from_str("online");
    let _ = js::call(&js::global(), "addEventListener", &[&online, &on_online]);
    let _ = flush_queue();
}

/// One `reportOrder` call in flight: what was decided before sending, and the report so far.
struct Delivery {
    report: Report,
    order_id: String,
    queued: bool,
    /// The third-o URL still to send under the `fallback` policy.
    fallback_pixel: Option<String>,
    /// The third-o request already sent under the `always` policy.
    early_pixel: Option<Promise>,
    relay: Promise,
}

impl Delivery {
    /// Validates, checks for a duplicate, queues and sends. `None` when the report is final.
    fn prepare(options: &JsValue, report: &mut Report, now: &str, now_ms: u64) -> Option<Delivery> {
        let order = options::order(options).map_err(|p| report.note(p)).ok()?;
        let order_id = order.checkout.order_id.clone();
        report.order_id = Some(order_id.clone());
        let relay_url = options::checkouts_url(options)
            .map_err(|p| report.note(p))
            .ok()?;
        let pixel = plan_pixel(options, &order, report, now);

        let storage = Storage::open();
        if storage
            .as_ref()
            .is_some_and(|s| s.was_reported(&order_id, now_ms))
        {
            report.relay = Channel::new(report::DUPLICATE, report::ALREADY_REPORTED);
            if pixel.is_some() {
                report.pixel.status = report::SKIPPED;
                report.pixel.reason = Some(report::ALREADY_REPORTED);
            }
            return None;
        }
        let body = options::handoff_body(&order, report.cookie_id.as_deref(), now);
        let queued = storage.as_ref().is_some_and(|s| {
            s.remember_reported(&order_id, now_ms);
            let entry = Pending {
                created_ms: now_ms,
                url: relay_url.clone(),
                order_id: order_id.clone(),
                body: body.clone(),
            };
            s.add_pending(entry, now_ms)
        });
        claim(&order_id);
        let relay = post(&relay_url, &body, body.len() <= KEEPALIVE_MAX_BODY);
        let (fallback_pixel, early_pixel) = match pixel {
            Some((url, Policy::Always)) => (None, Some(send_pixel(&url))),
            Some((url, _)) => (Some(url), None),
            None => (None, None),
        };
        Some(Delivery {
            report: Report::new(None),
            order_id,
            queued,
            fallback_pixel,
            early_pixel,
            relay,
        })
    }

    fn start(mut self, report: Report) -> Promise {
        self.report = report;
        let relay = self.relay.clone();
        let on_relay = Closure::once_into_js(move |outcome: JsValue| self.after_relay(&outcome));
        settle(&relay, &on_relay)
    }

    /// Records the relay's outcome, then sends the third-o request if the policy says so.
    fn after_relay(mut self, outcome: &JsValue) -> JsValue {
        release(&self.order_id);
        let outcome = classify(outcome);
        let reached = self.record_relay(outcome);
        let pixel = match (self.early_pixel.take(), self.fallback_pixel.take()) {
            (Some(sent), _) => Some(sent),
            (None, Some(url)) if !reached => Some(send_pixel(&url)),
            (None, Some(_)) => {
                self.report.pixel.status = report::SKIPPED;
                self.report.pixel.reason = Some(report::PIXEL_RELAY_REACHED);
                None
            }
            (None, None) => None,
        };
        match pixel {
            Some(pixel) => {
                let on_pixel =
                    Closure::once_into_js(move |outcome: JsValue| self.after_pixel(&outcome));
                settle(&pixel, &on_pixel).into()
            }
            None => self.report.to_js(),
        }
    }

    /// Whether the relay took the hand-off or refused it for good (either way: reached).
    fn record_relay(&mut self, outcome: Outcome) -> bool {
        let relay = &mut self.report.relay;
        let reached = match outcome {
            Outcome::Delivered(code) => {
                *relay = Channel::default();
                relay.status = report::ACCEPTED;
                relay.http_status = Some(code);
                true
            }
            Outcome::Refused(code) => {
                *relay = Channel::new(report::REJECTED, report::RELAY_REFUSED);
                relay.http_status = Some(code);
                true
            }
            Outcome::Beacon => {
                *relay = Channel::new(report::BEACON, report::HANDED_TO_BEACON);
                true
            }
            Outcome::Retry(code) => {
                *relay = if self.queued {
                    Channel::new(report::QUEUED, report::RELAY_UNREACHABLE_QUEUED)
                } else {
                    Channel::new(report::FAILED, report::RELAY_UNREACHABLE_LOST)
                };
                relay.http_status = code;
                false
            }
            Outcome::NoTransport => {
                let status = if self.queued {
                    report::QUEUED
                } else {
                    report::FAILED
                };
                *relay = Channel::new(status, report::NO_TRANSPORT);
                false
            }
        };
        if reached {
            if let Some(storage) = Storage::open() {
                storage.remove_pending(&self.order_id, js::now_ms());
            }
        }
        reached
    }

    fn after_pixel(mut self, outcome: &JsValue) -> JsValue {
        let pixel = &mut self.report.pixel;
        if outcome.is_object() {
            pixel.status = report::SENT;
            pixel.reason = None;
        } else {
            pixel.status = report::FAILED;
            pixel.reason = Some(if outcome.as_f64() == Some(f64::from(NO_TRANSPORT)) {
                report::PIXEL_NO_FETCH
            } else {
                report::PIXEL_NETWORK_ERROR
            });
        }
        self.report.to_js()
    }
}

/// Builds the third-o URL (always, so the report shows it) and says whether and when to send
/// it; records in the report why not when it will not be sent.
fn plan_pixel(
    options: &JsValue,
    order: &Order,
    report: &mut Report,
    now: &str,
) -> Option<(String, Policy)> {
    let skip = |report: &mut Report, reason: &'static str, field: Option<String>| {
        report.pixel = Channel::new(report::SKIPPED, reason);
        report.pixel.field = field;
    };
    let citrus = match options::citrus(options) {
        Ok(Some(citrus)) => citrus,
        Ok(None) => {
            skip(report, report::PIXEL_NOT_CONFIGURED, None);
            return None;
        }
        Err(problem) => {
            skip(report, problem.message, Some(problem.field));
            return None;
        }
    };
    match options::third_o_url(&order.checkout, &citrus, now) {
        Ok(url) => {
            report.pixel = Channel {
                status: report::SKIPPED,
                url: Some(url.clone()),
                ..Channel::default()
            };
            if citrus.policy == Policy::Never {
                report.pixel.reason = Some(report::PIXEL_POLICY_NEVER);
                return None;
            }
            Some((url, citrus.policy))
        }
        Err(problem) => {
            skip(report, problem.message, Some(problem.field));
            None
        }
    }
}

/// How a relay request ended.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    /// 2xx: accepted (or already stored).
    Delivered(u16),
    /// Another 4xx: the relay will never take this hand-off; retrying cannot help.
    Refused(u16),
    /// Network error, timeout, 408, 429 or 5xx: keep it queued.
    Retry(Option<u16>),
    Beacon,
    NoTransport,
}

fn classify(outcome: &JsValue) -> Outcome {
    if outcome.is_object() {
        // Release the body: until it is read or cancelled, Chromium keeps counting a finished
        // keepalive request against the 64 KiB of keepalive bodies a page may have in flight,
        // and refuses later hand-offs with a network error (measured: 1 in 3 of 60 hand-offs
        // of 6.7 KB in a row fail without this, none with it).
        let _ = js::call(&js::get(outcome, "body"), "cancel", &[]);
        let code = js::get(outcome, "status").as_f64().unwrap_or(0.0) as u16;
        return match code {
            200..=299 => Outcome::Delivered(code),
            408 | 429 => Outcome::Retry(Some(code)),
            400..=499 => Outcome::Refused(code),
            _ => Outcome::Retry(Some(code)),
        };
    }
    match outcome.as_f64() {
        Some(n) if n == f64::from(BEACON_QUEUED) => Outcome::Beacon,
        Some(n) if n == f64::from(NO_TRANSPORT) => Outcome::NoTransport,
        _ => Outcome::Retry(None),
    }
}

/// POSTs a hand-off: `fetch` with `keepalive` (so it survives the page unloading), or
/// `navigator.sendBeacon` where `fetch` is missing or throws at once. The string body makes
/// both send `text/plain;charset=UTF-8`, a "simple" request with no CORS preflight, which the
/// relay accepts as JSON. Resolves to the `Response`, or to a code when there is none.
fn post(url: &str, body: &str, keepalive: bool) -> Promise {
    let init = js::object();
    js::set(&init, "method", &JsValue::from_str("POST"));
    js::set(&init, "body", &JsValue::from_str(body));
    if keepalive {
        js::set(&init, "keepalive", &JsValue::TRUE);
    }
    match fetch(url, &init) {
        Some(response) => response,
        None => {
            let navigator = js::get(&js::global(), "navigator");
            let args = [&JsValue::from_str(url), &JsValue::from_str(body)];
            let queued = js::call(&navigator, "sendBeacon", &args).is_ok_and(|ok| ok == true);
            let code = if queued { BEACON_QUEUED } else { NO_TRANSPORT };
            js::resolved(&JsValue::from(code))
        }
    }
}

/// The third-o GET: `no-cors` (CitrusAd's answer is not needed, only the request), `keepalive`.
/// Resolves to the (opaque) `Response`, or to a code when there is none.
fn send_pixel(url: &str) -> Promise {
    let init = js::object();
    js::set(&init, "mode", &JsValue::from_str("no-cors"));
    js::set(&init, "keepalive", &JsValue::TRUE);
    fetch(url, &init).unwrap_or_else(|| js::resolved(&JsValue::from(NO_TRANSPORT)))
}

/// `fetch(url, init)` with a timeout, its rejection turned into [`NETWORK_ERROR`]; `None` when
/// `fetch` is missing or throws synchronously.
fn fetch(url: &str, init: &JsValue) -> Option<Promise> {
    let global = js::global();
    let abort_signal = js::get(&global, "AbortSignal");
    if let Ok(signal) = js::call(
        &abort_signal,
        "timeout",
        &[&JsValue::from(REQUEST_TIMEOUT_MS)],
    ) {
        js::set(init, "signal", &signal);
    }
    let request = js::call(&global, "fetch", &[&JsValue::from_str(url), init]).ok()?;
    // `Number.bind(null, 0)` is `() => 0` without a Rust closure (and its glue) per request.
    let number = js::get(&global, "Number");
    let zero = JsValue::from(NETWORK_ERROR);
    let on_error = js::call(&number, "bind", &[&JsValue::NULL, &zero]).ok()?;
    let settled = js::then(&request, &JsValue::UNDEFINED, &on_error).ok()?;
    settled.dyn_into::<Promise>().ok()
}

/// `promise.then(on_settled)`; a promise of `undefined` if even that fails (it cannot for the
/// promises built here, which never reject).
fn settle(promise: &Promise, on_settled: &JsValue) -> Promise {
    js::then(promise, on_settled, &JsValue::UNDEFINED)
        .ok()
        .and_then(|next| next.dyn_into::<Promise>().ok())
        .unwrap_or_else(|| js::resolved(&JsValue::UNDEFINED))
}

/// Marks `order_id` as on the wire; `false` when it already is.
fn claim(order_id: &str) -> bool {
    with_in_flight(|ids| {
        let free = !ids.iter().any(|id| id == order_id);
        if free {
            ids.push(order_id.to_owned());
        }
        free
    })
    .unwrap_or(false)
}

fn release(order_id: &str) {
    with_in_flight(|ids| ids.retain(|id| id != order_id));
}
