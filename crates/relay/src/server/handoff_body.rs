//! The hand-off's body, as the handler's extractor: a Content-Type the hand-off takes, at most
//! `--max-body-bytes`, all of it within [`BODY_READ_TIMEOUT`], UTF-8 text. A refusal carries
//! its metrics reason, so the handler counts and logs every refused hand-off in one place.
//!
//! Read here rather than by tower-http's `RequestBodyLimitLayer` and `RequestBodyTimeoutLayer`:
//! the first answers an oversized body itself, with a plain-text 413 instead of the relay's
//! JSON error, and past the refusal count; the second bounds the wait between two chunks of a
//! body, not the whole body, so a client sending a byte every few seconds would hold its
//! connection and task for hours. `axum::body::to_bytes` does the reading, under the limit.

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::SharedState;

/// The hand-off's body text.
pub struct HandoffText(pub String);

/// A body refused before it was parsed: the answer, and the reason it is counted under.
pub struct BodyRefused {
    pub reason: &'static str,
    pub error: ApiError,
}

impl BodyRefused {
    fn new(reason: &'static str, status: StatusCode, message: impl Into<String>) -> Self {
        BodyRefused {
            reason,
            error: ApiError::new(status, message),
        }
    }
}

/// The handler takes `Result<HandoffText, BodyRefused>` and answers a refusal itself (after
/// counting it); this is only what axum would answer if a route took `HandoffText` alone.
impl IntoResponse for BodyRefused {
    fn into_response(self) -> Response {
        self.error.into_response()
    }
}

impl FromRequest<SharedState> for HandoffText {
    type Rejection = BodyRefused;

    async fn from_request(request: Request, state: &SharedState) -> Result<Self, BodyRefused> {
        if !acceptable_content_type(request.headers()) {
            return Err(BodyRefused::new(
                "unsupported_media_type",
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type must be application/json or text/plain",
            ));
        }
        let (parts, body) = request.into_parts();
        read_body(body, &parts.headers, state.max_body_bytes)
            .await
            .map(HandoffText)
    }
}

/// Whether the Content-Type is one the hand-off accepts: JSON, or `text/plain` (what
/// `navigator.sendBeacon` sends with a string body, without a CORS preflight).
fn acceptable_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence == "text/plain"
}

/// How long a client may take to send its body.
const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

async fn read_body(body: Body, headers: &HeaderMap, limit: usize) -> Result<String, BodyRefused> {
    let too_large = || {
        BodyRefused::new(
            "too_large",
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    // A client that trickles its body would otherwise hold a connection and a task forever.
    let reading = tokio::time::timeout(BODY_READ_TIMEOUT, axum::body::to_bytes(body, limit));
    let read = reading.await.map_err(|_| {
        BodyRefused::new(
            "unreadable_body",
            StatusCode::REQUEST_TIMEOUT,
            "the body did not arrive in time",
        )
    })?;
    let bytes = read.map_err(|e| {
        let over_limit = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if over_limit {
            too_large()
        } else {
            BodyRefused::new(
                "unreadable_body",
                StatusCode::BAD_REQUEST,
                "the body could not be read",
            )
        }
    })?;
    String::from_utf8(bytes.to_vec()).map_err(|_| {
        BodyRefused::new(
            "unreadable_body",
            StatusCode::BAD_REQUEST,
            "the body is not UTF-8 text",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, v.parse().unwrap());
            acceptable_content_type(&h)
        };
        assert!(with("application/json"));
        assert!(with("application/json; charset=utf-8"));
        assert!(with("text/plain;charset=UTF-8"));
        assert!(with("Text/Plain"));
        assert!(!with("application/x-www-form-urlencoded"));
        assert!(!with("multipart/form-data; boundary=x"));
        assert!(!acceptable_content_type(&HeaderMap::new()));
    }
}
