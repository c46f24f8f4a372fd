//! What the page gets back: the report of a `reportOrder` call and the result of a
//! `flushQueue` call, serialized by serde-wasm-bindgen as plain objects
//! (`Serializer::json_compatible()`: absent options left out, `null` where the types say so).
//! Their TypeScript types, in `api.rs`, describe exactly these structs.

use serde::Serialize;
use wasm_bindgen::JsValue;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RelayStatus {
    /// The relay answered 2xx.
    Accepted,
    /// Not taken yet (unreachable, 408, 429, 5xx, timed out): kept for a later retry.
    Queued,
    /// The relay refused it (another 4xx): retrying cannot help.
    Rejected,
    /// Handed to `navigator.sendBeacon` (no `fetch`): delivered by the browser, unanswered.
    Beacon,
    /// Already reported from this browser (a reload of the confirmation page).
    Duplicate,
    /// Not taken and not kept (no storage, or no way to send at all).
    Failed,
    /// Not sent: the options or the checkout were refused.
    Skipped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PixelStatus {
    Sent,
    Failed,
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RelayReport {
    pub status: RelayStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// The checkout field the relay's refusal (400) names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PixelReport {
    pub status: PixelStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The option or field that kept the third-o request from being built.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The third-o URL, whenever it could be built (sent or not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// A refused option or checkout field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Why a queued hand-off was dropped unsent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DropCause {
    /// Its signed token's `exp` has passed: the relay would refuse it.
    TokenExpired,
    /// Queued 7 days ago (the queue's longest lifetime).
    TooOld,
}

/// A queued hand-off dropped unsent by the call that reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dropped {
    pub order_id: String,
    pub cause: DropCause,
    pub reason: &'static str,
}

impl Dropped {
    pub fn new(order_id: String, cause: DropCause) -> Dropped {
        let reason = match cause {
            DropCause::TokenExpired => {
                "its token expired before the relay took it, so it was dropped, not sent"
            }
            DropCause::TooOld => "it was queued 7 days ago, so it was dropped, not sent",
        };
        Dropped {
            order_id,
            cause,
            reason,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub order_id: Option<String>,
    pub cookie_id: Option<String>,
    pub relay: RelayReport,
    pub pixel: PixelReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<FieldError>,
    /// Queued hand-offs of earlier orders this call dropped unsent.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<Dropped>,
}

/// What `flushQueue` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FlushResult {
    /// Taken by the relay (or handed to `sendBeacon`), and so removed from the queue.
    pub delivered: u32,
    /// Refused by the relay for good, and so removed.
    pub rejected: u32,
    /// Still queued.
    pub remaining: u32,
    /// Dropped unsent (expired).
    pub dropped: Vec<Dropped>,
}

pub const NOT_SENT_INVALID: &str = "not sent: the options or the checkout were refused (see error)";
pub const ALREADY_REPORTED: &str = "this order was already reported from this browser";

impl Report {
    /// A report for a call that sent nothing: `error` says why.
    pub fn refused(
        order_id: Option<String>,
        cookie_id: Option<String>,
        error: FieldError,
    ) -> Report {
        Report {
            order_id,
            cookie_id,
            relay: RelayReport {
                status: RelayStatus::Skipped,
                reason: Some(NOT_SENT_INVALID.into()),
                http_status: None,
                field: None,
            },
            pixel: PixelReport {
                status: PixelStatus::Skipped,
                reason: Some(NOT_SENT_INVALID.into()),
                field: None,
                url: None,
            },
            error: Some(error),
            dropped: Vec::new(),
        }
    }
}

/// `value` as the plain JavaScript object the page gets.
pub fn to_js<T: Serialize>(value: &T) -> JsValue {
    let serializer = serde_wasm_bindgen::Serializer::json_compatible();
    // Serializing these structs (strings, numbers, enums) cannot fail; `null` if it ever did.
    value.serialize(&serializer).unwrap_or(JsValue::NULL)
}
