//! The `Report` every `reportOrder` call resolves to: for the relay hand-off and for the
//! CitrusAd front-end request, what happened and why, plus the cookie used and the first
//! refused field. Its TypeScript shape is in `lib.rs` (`typescript_custom_section`).

use wasm_bindgen::JsValue;

use crate::js;
use crate::options::Problem;

/// What happened on one channel (the relay hand-off, or the third-o request).
#[derive(Debug, Clone, Default)]
pub struct Channel {
    pub status: &'static str,
    pub reason: Option<&'static str>,
    pub http_status: Option<u16>,
    /// The field a refused pixel option or checkout field names (`items`, `citrus.baseUrl`).
    pub field: Option<String>,
    pub url: Option<String>,
}

impl Channel {
    pub fn new(status: &'static str, reason: &'static str) -> Channel {
        Channel {
            status,
            reason: Some(reason),
            ..Channel::default()
        }
    }

    fn to_js(&self) -> JsValue {
        let out = js::object();
        js::set(&out, "status", &JsValue::from_str(self.status));
        if let Some(reason) = self.reason {
            js::set(&out, "reason", &JsValue::from_str(reason));
        }
        if let Some(code) = self.http_status {
            js::set(&out, "httpStatus", &JsValue::from(code));
        }
        if let Some(field) = &self.field {
            js::set(&out, "field", &JsValue::from_str(field));
        }
        if let Some(url) = &self.url {
            js::set(&out, "url", &JsValue::from_str(url));
        }
        out
    }
}

pub struct Report {
    pub order_id: Option<String>,
    pub cookie_id: Option<String>,
    pub relay: Channel,
    pub pixel: Channel,
    pub error: Option<Problem>,
}

impl Report {
    pub fn new(cookie_id: Option<String>) -> Report {
        Report {
            order_id: None,
            cookie_id,
            relay: Channel::new(SKIPPED, NOT_SENT_INVALID),
            pixel: Channel::new(SKIPPED, NOT_SENT_INVALID),
            error: None,
        }
    }

    /// Keeps the first problem: it is the one that stopped the rest.
    pub fn note(&mut self, problem: Problem) {
        self.error.get_or_insert(problem);
    }

    pub fn to_js(&self) -> JsValue {
        let out = js::object();
        js::set(&out, "orderId", &optional_string(&self.order_id));
        js::set(&out, "cookieId", &optional_string(&self.cookie_id));
        js::set(&out, "relay", &self.relay.to_js());
        js::set(&out, "pixel", &self.pixel.to_js());
        if let Some(problem) = &self.error {
            js::set(&out, "error", &problem_to_js(problem));
        }
        out
    }
}

/// `{ field, message }`.
pub fn problem_to_js(problem: &Problem) -> JsValue {
    let out = js::object();
    js::set(&out, "field", &JsValue::from_str(&problem.field));
    js::set(&out, "message", &JsValue::from_str(problem.message));
    out
}

fn optional_string(value: &Option<String>) -> JsValue {
    value.as_deref().map_or(JsValue::NULL, JsValue::from_str)
}

// Channel statuses.
pub const ACCEPTED: &str = "accepted";
pub const QUEUED: &str = "queued";
pub const REJECTED: &str = "rejected";
pub const BEACON: &str = "beacon";
pub const DUPLICATE: &str = "duplicate";
pub const FAILED: &str = "failed";
pub const SENT: &str = "sent";
pub const SKIPPED: &str = "skipped";

// Reasons.
pub const NOT_SENT_INVALID: &str = "not sent: the options or the checkout were refused (see error)";
pub const ALREADY_REPORTED: &str = "this order was already reported from this browser";
pub const RELAY_REFUSED: &str = "the relay refused the hand-off (not retried)";
pub const RELAY_UNREACHABLE_QUEUED: &str =
    "the relay could not be reached or asked to retry; queued in localStorage for a later retry";
pub const RELAY_UNREACHABLE_LOST: &str =
    "the relay could not be reached and localStorage is unavailable, so nothing was queued";
pub const HANDED_TO_BEACON: &str = "fetch is unavailable; handed to navigator.sendBeacon";
pub const NO_TRANSPORT: &str = "neither fetch nor navigator.sendBeacon is available";
pub const PIXEL_NOT_CONFIGURED: &str = "no citrus options given";
pub const PIXEL_POLICY_NEVER: &str = "citrus.frontend is \"never\"";
pub const PIXEL_RELAY_REACHED: &str =
    "the relay was reached (citrus.frontend is \"fallback\"), so the relay reports to CitrusAd";
pub const PIXEL_NETWORK_ERROR: &str = "the request failed (network error or blocked)";
pub const PIXEL_NO_FETCH: &str = "fetch is unavailable";
