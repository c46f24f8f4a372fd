//! The *classify* stage: what a vendor's answer means for each order it carried.
//!
//! An HTTP answer ([`classify`]): 2xx delivered; 408, 429, 5xx, timeouts and connection
//! errors are worth retrying (with `Retry-After` when the vendor sends one); any other answer
//! (other 4xx, and 3xx since redirects are not followed for a POST) is final. A CitrusAd batch
//! answer is then shared out per order ([`each_order`]): CitrusAd answers in the order it was
//! sent, so an order's entry is found by position.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;

use crate::vendors::Answer;

/// How much of a vendor's answer is kept (for the operator and the logs).
pub const MAX_KEPT_BODY_BYTES: usize = 4096;

/// How one attempt to deliver an order to a vendor ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    /// 2xx.
    Delivered { status: u16, body: String },
    /// Worth another try later. `body` is the vendor's answer when one came.
    Retryable {
        error: DeliveryError,
        status: Option<u16>,
        body: Option<String>,
        retry_after: Option<Duration>,
    },
    /// The vendor refused it; retrying the same request would not help.
    Rejected { status: u16, body: String },
    /// No request was made: the order cannot be built for this vendor (a stored checkout that
    /// no longer reads, or one the current configuration cannot send). Retrying cannot help,
    /// and it says nothing about the vendor.
    NotSent { reason: NotSent },
}

/// What went wrong with an attempt, as the outbox keeps it (`last_error`): what happened, never
/// the vendor's answer body, which is kept apart (`vendor_response`). The text can then be
/// shown whole wherever an order's status is: a body may echo personal data (an email) that
/// anyone knowing an order id should not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The vendor answered with a status other than 2xx.
    #[error("HTTP {0}")]
    Status(u16),
    /// No answer came (`kind`: timeout, connection error, ...); `detail` is the innermost
    /// cause, when there is one.
    #[error("{kind}{}", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    NoAnswer {
        kind: &'static str,
        detail: Option<String>,
    },
    /// CitrusAd answered 2xx for a batch without an entry for this order.
    #[error("CitrusAd's answer did not include this order")]
    NotConfirmed,
    /// The retry policy gave up; `last` is the final attempt's error.
    #[error("retry budget exhausted after {attempts} attempts; last: {last}")]
    BudgetExhausted {
        attempts: u32,
        last: Box<DeliveryError>,
    },
    #[error(transparent)]
    NotSent(#[from] NotSent),
}

/// Why an order was not sent (see [`Attempt::NotSent`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotSent {
    /// The stored checkout no longer reads (only a hand-edited database gets one).
    #[error("stored checkout unreadable: {0}")]
    Unreadable(String),
    /// The checkout reads, but the vendor's request cannot be built from it with the current
    /// configuration.
    #[error("not sent: {0}")]
    Unbuildable(String),
}

/// Classifies a request's result: the vendor's answer, or why none came.
pub fn classify(sent: Result<Answer, reqwest::Error>) -> Attempt {
    match sent {
        Ok(answer) => classify_answer(answer),
        Err(e) => classify_error(&e),
    }
}

/// Classifies an HTTP answer.
fn classify_answer(answer: Answer) -> Attempt {
    let Answer {
        status,
        headers,
        body,
    } = answer;
    let code = status.as_u16();
    let body = truncate(body);
    if status.is_success() {
        Attempt::Delivered { status: code, body }
    } else if status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
    {
        Attempt::Retryable {
            error: DeliveryError::Status(code),
            status: Some(code),
            body: Some(body),
            retry_after: retry_after(&headers, SystemTime::now()),
        }
    } else {
        Attempt::Rejected { status: code, body }
    }
}

/// Classifies a request that got no HTTP answer.
fn classify_error(error: &reqwest::Error) -> Attempt {
    let kind = if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connection error"
    } else if error.is_body() || error.is_decode() {
        "error reading the answer"
    } else {
        "request error"
    };
    // The innermost cause says most ("connection closed before message completed"); the
    // URL is left out (not secret, but long and the same for every attempt).
    let mut detail = None;
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        detail = Some(inner.to_string()).filter(|text| !text.is_empty());
        cause = inner.source();
    }
    Attempt::Retryable {
        error: DeliveryError::NoAnswer { kind, detail },
        status: None,
        body: None,
        retry_after: None,
    }
}

/// `Retry-After` as delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

fn truncate(mut body: String) -> String {
    if body.len() > MAX_KEPT_BODY_BYTES {
        let mut cut = MAX_KEPT_BODY_BYTES;
        while !body.is_char_boundary(cut) {
            cut -= 1;
        }
        body.truncate(cut);
        body.push('…');
    }
    body
}

/// A CitrusAd batch's answer: the request-level outcome (what the circuit is fed, and what
/// decides whether a refused batch is split) and, on 2xx, the `orders` array CitrusAd returned
/// (same order as sent), when it was readable.
#[derive(Debug, Clone)]
pub struct BatchAttempt {
    pub attempt: Attempt,
    pub answered_orders: Option<Vec<serde_json::Value>>,
}

/// Classifies a CitrusAd batch request's result.
pub fn classify_batch(sent: Result<Answer, reqwest::Error>) -> BatchAttempt {
    // Read before the body is cut to what is kept: the whole array is needed.
    let answered_orders = match &sent {
        Ok(answer) if answer.status.is_success() => answered_orders(&answer.body),
        _ => None,
    };
    BatchAttempt {
        attempt: classify(sent),
        answered_orders,
    }
}

/// The `orders` array of a 2xx answer, if the answer has one.
fn answered_orders(text: &str) -> Option<Vec<serde_json::Value>> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    match value.get("orders")? {
        serde_json::Value::Array(orders) => Some(orders.clone()),
        _ => None,
    }
}

/// Each order's own attempt from its batch's answer, in the batch's order (`order_ids`).
/// A 2xx shares out its entries by position; any other result is every order's.
pub fn each_order<'a>(
    answer: &'a BatchAttempt,
    order_ids: impl IntoIterator<Item = &'a str> + 'a,
) -> impl Iterator<Item = Attempt> + 'a {
    order_ids
        .into_iter()
        .enumerate()
        .map(
            move |(index, order_id)| match (&answer.attempt, &answer.answered_orders) {
                (Attempt::Delivered { status, .. }, Some(entries)) => {
                    per_order_answer(*status, entries.get(index), order_id)
                }
                (other, _) => other.clone(),
            },
        )
}

/// One order's share of a 2xx batch answer: its entry (by position) when CitrusAd returned
/// one; a missing entry means CitrusAd did not confirm this order, so it is tried again.
fn per_order_answer(status: u16, entry: Option<&serde_json::Value>, order_id: &str) -> Attempt {
    match entry {
        Some(entry) => {
            let echoed = entry.get("id").and_then(|id| id.as_str());
            if echoed.is_some_and(|id| id != order_id) {
                tracing::warn!(
                    order_id,
                    echoed_id = echoed,
                    "CitrusAd's answer at this position carries another id"
                );
            }
            Attempt::Delivered {
                status,
                body: entry.to_string(),
            }
        }
        None => Attempt::Retryable {
            error: DeliveryError::NotConfirmed,
            status: Some(status),
            body: None,
            retry_after: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(retry: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(v) = retry {
            h.insert(RETRY_AFTER, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn statuses_are_classified() {
        let c = |code: u16, retry: Option<&str>| {
            classify_answer(Answer {
                status: StatusCode::from_u16(code).unwrap(),
                headers: headers(retry),
                body: "x".into(),
            })
        };
        assert!(matches!(
            c(200, None),
            Attempt::Delivered { status: 200, .. }
        ));
        assert!(matches!(c(204, None), Attempt::Delivered { .. }));
        assert!(matches!(
            c(429, Some("7")),
            Attempt::Retryable { status: Some(429), retry_after: Some(d), .. } if d == Duration::from_secs(7)
        ));
        assert!(matches!(
            c(429, None),
            Attempt::Retryable {
                retry_after: None,
                ..
            }
        ));
        assert!(matches!(c(500, None), Attempt::Retryable { .. }));
        assert!(matches!(c(503, None), Attempt::Retryable { .. }));
        assert!(matches!(c(408, None), Attempt::Retryable { .. }));
        assert!(matches!(
            c(400, None),
            Attempt::Rejected { status: 400, .. }
        ));
        assert!(matches!(c(401, None), Attempt::Rejected { .. }));
        assert!(matches!(c(404, None), Attempt::Rejected { .. }));
        assert!(matches!(c(302, None), Attempt::Rejected { .. }));
    }

    /// The stored error says what happened; the vendor's answer is kept apart, also when the
    /// attempt is retried.
    #[test]
    fn errors_name_what_happened_without_the_answer() {
        let answer = classify_answer(Answer {
            status: StatusCode::SERVICE_UNAVAILABLE,
            headers: HeaderMap::new(),
            body: r#"{"email":"a@b.c"}"#.into(),
        });
        let Attempt::Retryable { error, body, .. } = answer else {
            panic!("a 503 is retried")
        };
        assert_eq!(error.to_string(), "HTTP 503");
        assert_eq!(body.as_deref(), Some(r#"{"email":"a@b.c"}"#));
        let texts = [
            DeliveryError::NoAnswer {
                kind: "timeout",
                detail: None,
            },
            DeliveryError::NoAnswer {
                kind: "connection error",
                detail: Some("connection refused".into()),
            },
            DeliveryError::BudgetExhausted {
                attempts: 3,
                last: Box::new(error),
            },
            NotSent::Unreadable("EOF while parsing".into()).into(),
        ]
        .map(|error| error.to_string());
        assert_eq!(
            texts,
            [
                "timeout",
                "connection error: connection refused",
                "retry budget exhausted after 3 attempts; last: HTTP 503",
                "stored checkout unreadable: EOF while parsing",
            ]
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            retry_after(&headers(Some("120")), now),
            Some(Duration::from_secs(120))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            retry_after(&headers(Some(&later)), now),
            Some(Duration::from_secs(30))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(
            retry_after(&headers(Some(&earlier)), now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers(Some("soon")), now), None);
        assert_eq!(retry_after(&headers(None), now), None);
    }

    #[test]
    fn long_bodies_are_cut_on_a_char_boundary() {
        let body = "é".repeat(MAX_KEPT_BODY_BYTES);
        let Attempt::Rejected { body, .. } = classify_answer(Answer {
            status: StatusCode::BAD_REQUEST,
            headers: HeaderMap::new(),
            body,
        }) else {
            panic!()
        };
        assert!(body.len() <= MAX_KEPT_BODY_BYTES + 3);
    }

    #[tokio::test]
    async fn a_refused_connection_is_retryable_and_says_why() {
        // Bind then drop a listener: its port is free, so the connection is refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = crate::vendors::http_client(Duration::from_secs(2)).unwrap();
        let error = client
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .unwrap_err();
        let Attempt::Retryable {
            error,
            status,
            body,
            retry_after,
        } = classify_error(&error)
        else {
            panic!("a refused connection must be retried");
        };
        let error = error.to_string();
        assert!(error.starts_with("connection error: "), "{error}");
        assert_eq!(body, None);
        assert!(!error.contains("127.0.0.1"), "{error}");
        assert_eq!((status, retry_after), (None, None));
    }

    #[test]
    fn answered_orders_are_read_when_present() {
        assert_eq!(
            answered_orders(r#"{"orders":[{"id":"a"},{"id":"b"}]}"#).map(|o| o.len()),
            Some(2)
        );
        assert_eq!(answered_orders("{}"), None);
        assert_eq!(answered_orders("not json"), None);
    }

    #[test]
    fn answers_map_back_by_position() {
        let entry = serde_json::json!({"id": "A"});
        assert!(matches!(
            per_order_answer(200, Some(&entry), "A"),
            Attempt::Delivered { status: 200, body } if body == r#"{"id":"A"}"#
        ));
        // Another id at this position is kept and logged, not refused: the seed's own
        // multi-order example echoes one id twice.
        assert!(matches!(
            per_order_answer(200, Some(&entry), "B"),
            Attempt::Delivered { .. }
        ));
        assert!(matches!(
            per_order_answer(200, None, "B"),
            Attempt::Retryable { .. }
        ));
    }
}
