//! The package's exports (wasm-bindgen), with their TypeScript types.
//!
//! The types are written out here (wasm-bindgen's `typescript_custom_section`) rather than
//! generated: they describe exactly the objects [`crate::report`] serializes and
//! [`crate::options`] reads, more precisely than generated types could (unions of literal
//! statuses, a checkout given either as a token or as an object, never both).

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::options::{Citrus, Source};
use crate::report::{self, FieldError};
use crate::{cookie, handoff, page, queue};

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

/** The shopper's consent, as the shop's consent banner recorded it. Absent: granted. */
export interface Consent {
  /** false: no `cibler_id` cookie is read and no third-o request is sent; the hand-off to the shop's own relay still goes. */
  marketing: boolean;
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
  consent?: Consent;
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

/** Why a queued hand-off was dropped unsent: its token's `exp` passed, or it was queued 7 days ago. */
export type DropCause = "token-expired" | "too-old";

/** A queued hand-off (of an earlier order) dropped unsent. */
export interface DroppedHandOff {
  orderId: string;
  cause: DropCause;
  reason: string;
}

export interface Report {
  orderId: string | null;
  cookieId: string | null;
  relay: RelayReport;
  pixel: PixelReport;
  /** The refused option or checkout field that stopped the report. */
  error?: FieldError;
  /** Queued hand-offs of earlier orders dropped unsent since the last report or flush (expired). */
  dropped?: DroppedHandOff[];
}

export interface FlushResult {
  delivered: number;
  rejected: number;
  remaining: number;
  /** Queued hand-offs dropped unsent since the last report or flush (expired). */
  dropped: DroppedHandOff[];
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

/// The `cibler_id` cookie's value, `None` when absent or where there is no `document`.
pub fn read_cibler_id() -> Option<String> {
    cookie::read_cibler_id()
}

/// `readCiblerId()`: [`read_cibler_id`] as the page gets it, `null` when there is none
/// (wasm-bindgen would answer `undefined` for `None`).
#[wasm_bindgen(js_name = readCiblerId, skip_typescript)]
pub fn read_cibler_id_js() -> JsValue {
    read_cibler_id().map_or(JsValue::NULL, JsValue::from)
}

/// `thirdOUrl(options)`: `{ url }` or `{ error: { field, message } }`; the checkout's errors
/// first, then the citrus options', then the URL's.
#[wasm_bindgen(js_name = thirdOUrl, skip_typescript)]
pub fn third_o_url(options: JsValue) -> JsValue {
    #[derive(serde::Serialize)]
    struct Url {
        url: String,
    }
    #[derive(serde::Serialize)]
    struct Refused {
        error: FieldError,
    }
    match third_o(&options) {
        Ok(url) => report::to_js(&Url { url }),
        Err(error) => report::to_js(&Refused { error }),
    }
}

fn third_o(options: &JsValue) -> Result<String, FieldError> {
    let source = Source::read(options)?;
    let citrus = Citrus::read(options);
    let checkout = source.checkout()?;
    match citrus {
        Some(Ok(citrus)) => citrus.third_o_url(&checkout, &page::now_iso()),
        Some(Err(error)) => Err(error),
        None => Err(FieldError::new("citrus", "is required")),
    }
}

/// `reportOrder(options)`: hands the order to the relay and sends the third-o request per
/// policy, then retries what is queued (after this order's hand-off, so older ones never delay
/// it or use up its keepalive quota). Always resolves (never rejects, never throws) to a
/// `Report`.
#[wasm_bindgen(js_name = reportOrder, skip_typescript)]
pub fn report_order(options: JsValue) -> Promise {
    let started = handoff::start(&options);
    let (mut dropped, flushing) = queue::flush();
    wasm_bindgen_futures::spawn_local(async move {
        flushing.await;
    });
    dropped.splice(0..0, queue::untold_drops());
    let started = started.with_dropped(dropped);
    future_to_promise(async move { Ok(report::to_js(&started.finish().await)) })
}

/// `flushQueue()`: retries the queued hand-offs; resolves to `{ delivered, rejected, remaining,
/// dropped }`.
#[wasm_bindgen(js_name = flushQueue, skip_typescript)]
pub fn flush_queue() -> Promise {
    let mut dropped = queue::untold_drops();
    let (now_dropped, flushing) = queue::flush();
    dropped.extend(now_dropped);
    future_to_promise(async move {
        let mut result = flushing.await;
        result.dropped = dropped;
        Ok(report::to_js(&result))
    })
}

/// Run by `init()`: retries what earlier pages left queued, and again whenever the browser
/// comes back online; sends what is in flight when the page is hidden. Calling it again does
/// nothing.
#[wasm_bindgen(start)]
pub fn start() {
    queue::start();
}
