//! `ordersync`: the browser half. A shop's order-confirmation page calls `reportOrder` with the
//! checkout; the module reads the `cibler_id` cookie, hands the checkout to the shop's relay
//! (`POST {relayUrl}/v1/checkouts`), and builds the CitrusAd front-end third-o request, sent
//! per the `citrus.frontend` policy.
//!
//! Size budget (issue 2: 14 KB brotli for everything a page loads; BENCHMARKS.md, "Size"): no
//! JavaScript value crosses into Rust. The public API (`reportOrder`, `thirdOUrl`,
//! `readCiblerId`, `flushQueue`) is hand-written JavaScript in `src/orchestrate.js`, inlined
//! into the glue by `scripts/build-package.sh`: it reads what the page passes once, safely,
//! into a plain snapshot, checks the options, and does the browser-API plumbing (localStorage
//! idempotency and queue, `fetch` / `sendBeacon` with a timeout, the `online` listener, the
//! promise flow and the report). Rust computes on text only, through one raw export
//! ([`os_call`]: a JSON array in, a string out; see [`calls`]): the `cibler_id` value of a
//! cookie header, and the checkout validated by `ordersync-core` in the fields the browser
//! reads with its third-o URL. No wasm-bindgen string or object marshalling, no serde, no
//! `format!`, no async runtime; nothing here panics.
//!
//! The Rust functions [`report_order`], [`third_o_url`], [`read_cibler_id`], [`flush_queue`]
//! call the JavaScript API: the tests (`tests/`) use them; the package does not export them.

use js_sys::Promise;
use std::cell::UnsafeCell;
use wasm_bindgen::prelude::*;

pub mod calls;

// dlmalloc, Rust's default on wasm32, is about 5 KB of the bundle; this free-list allocator is
// under 1 KB and ample for a few short calls per page.
// SAFETY: the module runs on the page's one thread (it is not built with atomics), so nothing
// allocates concurrently.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

/// The relay's hand-off endpoint, below `relayUrl` (`src/orchestrate.js` posts to it).
pub const CHECKOUTS_PATH: &str = "/v1/checkouts";
pub use ordersync_core::third_o::THIRD_O_PATH;

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

/** The `cibler_id` cookie's value, or `null` (also where there is no `document`). */
export function readCiblerId(): string | null;

/** The CitrusAd third-o URL for a checkout: `{ url }` or `{ error: { field, message } }`. Never throws. */
export function thirdOUrl(options: ThirdOUrlOptions): ThirdOUrlResult;

/** Reports one order: hands it to the relay and sends the third-o request per policy. Always resolves (never rejects, never throws) to a `Report`. */
export function reportOrder(options: ReportOptions): Promise<Report>;

/** Retries the hand-offs queued in `localStorage` (also done by `init()`, on `online`, and on every `reportOrder`). */
export function flushQueue(): Promise<FlushResult>;
"#;

/// A buffer of `len` bytes for JavaScript to write a request into (then passed to [`os_call`],
/// which frees it).
#[no_mangle]
pub extern "C" fn os_alloc(len: usize) -> *mut u8 {
    Box::into_raw(vec![0u8; len].into_boxed_slice()).cast()
}

/// The last answer of [`os_call`]: kept until the next call, so JavaScript can read it.
struct Answer(UnsafeCell<(String, [usize; 2])>);

// SAFETY: the module runs on the page's one thread (no atomics), and `os_call` is not reentrant.
unsafe impl Sync for Answer {}

static ANSWER: Answer = Answer(UnsafeCell::new((String::new(), [0; 2])));

/// Answers one request from `src/orchestrate.js` (`osCall`): the UTF-8 text of a JSON array
/// `[op, ...args]` in the buffer from [`os_alloc`] (freed here), answered by [`calls::call`].
/// Returns the address of `[pointer, length]` of the answer's UTF-8 text, valid until the next
/// call.
///
/// # Safety
/// `ptr` and `len` are exactly a buffer from [`os_alloc`], filled with UTF-8 (what
/// `TextEncoder` writes); only the module's own glue calls this.
#[no_mangle]
pub unsafe extern "C" fn os_call(ptr: *mut u8, len: usize) -> *const usize {
    let request = Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len));
    let answer = &mut *ANSWER.0.get();
    answer.0 = calls::call(std::str::from_utf8_unchecked(&request));
    answer.1 = [answer.0.as_ptr() as usize, answer.0.len()];
    answer.1.as_ptr()
}

#[wasm_bindgen(module = "/src/orchestrate.js")]
extern "C" {
    /// Retries what earlier pages left queued, and listens for `online`; once.
    #[wasm_bindgen(js_name = osStart)]
    fn os_start();

    /// Hands the wasm exports (memory, `os_alloc`, `os_call`) to the JavaScript API. In the
    /// package, `scripts/build-package.sh` makes the glue do it as it instantiates the module
    /// (no JavaScript value crosses into Rust, so no externref table is linked); the Rust entry
    /// points below, which only the tests use, do it through `wasm_bindgen::exports()`.
    #[wasm_bindgen(js_name = osBind)]
    fn os_bind(exports: JsValue);

    #[wasm_bindgen(js_name = readCiblerId)]
    fn read_cibler_id_js() -> Option<String>;

    #[wasm_bindgen(js_name = thirdOUrl)]
    fn third_o_url_js(options: &JsValue) -> JsValue;

    #[wasm_bindgen(js_name = reportOrder)]
    fn report_order_js(options: &JsValue) -> Promise;

    #[wasm_bindgen(js_name = flushQueue)]
    fn flush_queue_js() -> Promise;
}

/// Run by `init()`: retries what earlier pages left queued, and again whenever the browser
/// comes back online. Calling it again does nothing.
#[wasm_bindgen(start)]
pub fn start() {
    os_start();
}

/// `readCiblerId()`: the `cibler_id` cookie's value, `None` when absent or where there is no
/// `document`.
pub fn read_cibler_id() -> Option<String> {
    os_bind(wasm_bindgen::exports());
    read_cibler_id_js()
}

/// `thirdOUrl(options)`: `{ url }` or `{ error: { field, message } }`.
pub fn third_o_url(options: JsValue) -> JsValue {
    os_bind(wasm_bindgen::exports());
    third_o_url_js(&options)
}

/// `reportOrder(options)`: always resolves (never rejects, never throws) to a `Report`.
pub fn report_order(options: JsValue) -> Promise {
    os_bind(wasm_bindgen::exports());
    report_order_js(&options)
}

/// `flushQueue()`: resolves to `{ delivered, rejected, remaining }`.
pub fn flush_queue() -> Promise {
    os_bind(wasm_bindgen::exports());
    flush_queue_js()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_javascript_posts_to_the_checkouts_path() {
        let script = include_str!("orchestrate.js");
        assert!(script.contains(&["\"", CHECKOUTS_PATH, "\""].concat()));
    }
}
