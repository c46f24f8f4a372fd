//! `ordersync`: the browser half. A shop's order-confirmation page calls [`report_order`]
//! (`reportOrder` in JavaScript) with the checkout; the module reads the `cibler_id` cookie,
//! hands the checkout to the shop's relay (`POST {relayUrl}/v1/checkouts`), and builds the
//! CitrusAd front-end third-o request, sent per the `citrus.frontend` policy.
//!
//! Thin glue over `ordersync-core`: validation and the third-o query live there. This crate
//! reads the cookie and the options, validates the checkout, and builds the hand-off body and
//! the third-o URL; the browser-API plumbing (localStorage idempotency and queue, `fetch` /
//! `sendBeacon` with a timeout, the `online` listener, the promise flow and the report) is
//! hand-written JavaScript in `src/orchestrate.js`, imported here and inlined into the glue by
//! `scripts/build-package.sh`, because the 14 KB budget demands it (BENCHMARKS.md, "Size").
//! Nothing here throws into the page (every JavaScript call that can throw is caught, nothing
//! panics): no serde, no `format!`, no async runtime.

use js_sys::Promise;
use wasm_bindgen::prelude::*;

mod input;
mod js;
mod jws;
mod options;

use options::{Order, Policy, Problem};

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

/// Browsers refuse `keepalive` bodies over 64 KiB (in flight, per page); a bigger hand-off
/// goes without it.
const KEEPALIVE_MAX_BODY: usize = 60_000;

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

/** Options and checkouts are read from their own properties only (getters included), never from a prototype. */
export type ReportOptions = CheckoutSource & {
  /** The relay's base URL, absolute http(s) or a path on this site ("/ordersync", not "//host"); no query, fragment or backslash; at most 2,048 bytes. */
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
  /** The checkout field the relay's refusal (400) names: the browser validates only the fields it reads. */
  field?: string;
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
        Err(problem) => js::set(&out, "error", &problem_to_js(&problem)),
    }
    out
}

// The browser-API plumbing (storage, queue, fetch / sendBeacon, timeouts, the promise chain
// and the report) is hand-written JavaScript for the size budget: src/orchestrate.js.
#[wasm_bindgen(module = "/src/orchestrate.js")]
extern "C" {
    #[wasm_bindgen(js_name = osDeliver)]
    #[allow(clippy::too_many_arguments)]
    fn deliver(
        cookie_id: Option<String>,
        order_id: Option<String>,
        error_field: Option<String>,
        error_message: Option<&str>,
        relay_url: Option<String>,
        body: Option<String>,
        keepalive: bool,
        pixel_url: Option<String>,
        pixel_reason: Option<&str>,
        pixel_field: Option<String>,
        always: bool,
    ) -> Promise;

    #[wasm_bindgen(js_name = osFlush)]
    fn flush() -> Promise;

    #[wasm_bindgen(js_name = osStart)]
    fn start_js();
}

/// Reports one order: hands it to the relay and sends the third-o request per policy.
/// Always resolves (never rejects, never throws) to a `Report`.
#[wasm_bindgen(js_name = reportOrder, unchecked_return_type = "Promise<Report>")]
pub fn report_order(
    #[wasm_bindgen(unchecked_param_type = "ReportOptions")] options: JsValue,
) -> Promise {
    let cookie_id = read_cibler_id();
    let now = js::now_rfc3339();
    let (order, relay_url) = match prepare(&options) {
        Ok(prepared) => prepared,
        Err((order_id, problem)) => {
            return deliver(
                cookie_id,
                order_id,
                Some(problem.field),
                Some(problem.message),
                None,
                None,
                false,
                None,
                None,
                None,
                false,
            )
        }
    };
    let body = options::handoff_body(&order, cookie_id.as_deref(), &now);
    let keepalive = body.len() <= KEEPALIVE_MAX_BODY;
    let pixel = plan_pixel(&options, &order, &now);
    deliver(
        cookie_id,
        Some(order.checkout.order_id),
        None,
        None,
        Some(relay_url),
        Some(body),
        keepalive,
        pixel.url,
        pixel.reason,
        pixel.field,
        pixel.policy == Policy::Always,
    )
}

/// The validated order and the relay's hand-off URL, or the problem that refused them (with
/// the order id when the checkout itself was valid).
fn prepare(options: &JsValue) -> Result<(Order, String), (Option<String>, Problem)> {
    let order = options::order(options).map_err(|problem| (None, problem))?;
    match options::checkouts_url(options) {
        Ok(url) => Ok((order, url)),
        Err(problem) => Err((Some(order.checkout.order_id), problem)),
    }
}

/// Retries the hand-offs queued in `localStorage` (also done at start-up, on `online`, and on
/// every `reportOrder`). Resolves to `{ delivered, rejected, remaining }`.
#[wasm_bindgen(js_name = flushQueue, unchecked_return_type = "Promise<FlushResult>")]
pub fn flush_queue() -> Promise {
    flush()
}

/// Run by `init()`: retries what earlier pages left queued, and again whenever the browser
/// comes back online. Calling it again does nothing.
#[wasm_bindgen(start)]
pub fn start() {
    start_js();
}

/// What was decided for the third-o request: its URL when it could be built, and why it will
/// not be sent (with the refused field) when it will not.
struct PixelPlan {
    url: Option<String>,
    reason: Option<&'static str>,
    field: Option<String>,
    policy: Policy,
}

/// Builds the third-o URL (always, so the report shows it) and says whether and when to send it.
fn plan_pixel(options: &JsValue, order: &Order, now: &str) -> PixelPlan {
    let refused = |problem: Problem| PixelPlan {
        url: None,
        reason: Some(problem.message),
        field: Some(problem.field),
        policy: Policy::Never,
    };
    let citrus = match options::citrus(options) {
        Ok(Some(citrus)) => citrus,
        Ok(None) => {
            return PixelPlan {
                url: None,
                reason: Some("no citrus options given"),
                field: None,
                policy: Policy::Never,
            }
        }
        Err(problem) => return refused(problem),
    };
    match options::third_o_url(&order.checkout, &citrus, now) {
        Ok(url) => PixelPlan {
            url: Some(url),
            reason: (citrus.policy == Policy::Never).then_some("citrus.frontend is \"never\""),
            field: None,
            policy: citrus.policy,
        },
        Err(problem) => refused(problem),
    }
}

/// `{ field, message }`.
fn problem_to_js(problem: &Problem) -> JsValue {
    let out = js::object();
    js::set(&out, "field", &JsValue::from_str(&problem.field));
    js::set(&out, "message", &JsValue::from_str(problem.message));
    out
}
