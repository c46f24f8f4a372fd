//! Every request the sandbox received, in order of arrival, for `GET /__sandbox/requests`.
//!
//! A request is entered when it arrives (so the order is the order of arrival even when a
//! slow answer finishes late) and completed with its status, violations and fault once
//! answered. Headers are kept verbatim, credentials included: this is a test tool and the
//! tests need to see what was sent; they are never printed to the sandbox's own log.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::request::Parts;
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedRequest {
    /// Increases by one per request since start (not reset by a clear).
    pub seq: u64,
    pub method: String,
    pub path: String,
    /// The raw query string, `null` when the URL had none.
    pub query: Option<String>,
    /// Names lower-cased; repeated headers joined with `, `.
    pub headers: BTreeMap<String, String>,
    /// The body parsed when it is JSON, else its text; `null` when empty.
    pub body: Value,
    pub violations: Vec<String>,
    /// `null` while unanswered, and for a connection dropped on purpose.
    pub status: Option<u16>,
    /// The injected fault, if any: `outage`, `error`, `rate_limited`,
    /// `rate_limited_without_retry_after`, `dropped`.
    pub fault: Option<&'static str>,
    /// When it arrived, in milliseconds since the Unix epoch.
    pub received_at_ms: u64,
    /// When the sandbox answered it (or dropped it on purpose); `null` while unanswered.
    /// With `receivedAtMs`, the window in which the vendor was handling it: tests of several
    /// relay instances check that no two windows of one order overlap.
    pub answered_at_ms: Option<u64>,
}

/// How a recorded request ended.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub status: Option<u16>,
    pub violations: Vec<String>,
    pub fault: Option<&'static str>,
}

#[derive(Debug, Default)]
pub struct Journal {
    next_seq: u64,
    entries: Vec<RecordedRequest>,
}

impl Journal {
    /// Enters a request on arrival and returns its sequence number.
    pub fn begin(&mut self, parts: &Parts, body: Value) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.entries.push(RecordedRequest {
            seq,
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers: header_map(parts),
            body,
            violations: Vec::new(),
            status: None,
            fault: None,
            received_at_ms: now_ms(),
            answered_at_ms: None,
        });
        seq
    }

    /// Completes the entry `seq`, unless a clear removed it meanwhile.
    pub fn finish(&mut self, seq: u64, outcome: Outcome) {
        if let Ok(index) = self.entries.binary_search_by_key(&seq, |e| e.seq) {
            let entry = &mut self.entries[index];
            entry.status = outcome.status;
            entry.violations = outcome.violations;
            entry.fault = outcome.fault;
            entry.answered_at_ms = Some(now_ms());
        }
    }

    pub fn entries(&self) -> &[RecordedRequest] {
        &self.entries
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

fn header_map(parts: &Parts) -> BTreeMap<String, String> {
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in &parts.headers {
        let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
        map.entry(name.as_str().to_owned())
            .and_modify(|joined| {
                joined.push_str(", ");
                joined.push_str(&text);
            })
            .or_insert(text);
    }
    map
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The body as recorded: `null` when empty, parsed JSON when it parses, else its text.
pub fn recorded_body(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;
    use serde_json::json;

    fn parts(uri: &str) -> Parts {
        Request::post(uri)
            .header("X-Thing", "a")
            .header("x-thing", "b")
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    #[test]
    fn entries_keep_arrival_order_and_complete_later() {
        let mut journal = Journal::default();
        let first = journal.begin(&parts("/v1/orders?x=1"), json!({"a": 1}));
        let second = journal.begin(&parts("/v1/orders"), Value::Null);
        journal.finish(
            second,
            Outcome {
                status: Some(200),
                ..Outcome::default()
            },
        );
        journal.finish(
            first,
            Outcome {
                status: Some(400),
                violations: vec!["orders: is required".into()],
                fault: None,
            },
        );
        let entries = journal.entries();
        assert_eq!(entries[0].query.as_deref(), Some("x=1"));
        assert_eq!(entries[0].status, Some(400));
        assert_eq!(entries[1].query, None);
        assert_eq!(entries[1].status, Some(200));
        assert_eq!(entries[0].headers["x-thing"], "a, b");
        assert!(entries
            .iter()
            .all(|e| e.answered_at_ms.is_some_and(|at| at >= e.received_at_ms)));
    }

    #[test]
    fn a_clear_forgets_and_late_answers_are_ignored() {
        let mut journal = Journal::default();
        let seq = journal.begin(&parts("/v1/orders"), Value::Null);
        journal.clear();
        journal.finish(seq, Outcome::default());
        assert!(journal.entries().is_empty());
        assert_eq!(journal.begin(&parts("/v1/orders"), Value::Null), seq + 1);
    }

    #[test]
    fn bodies_are_parsed_when_json() {
        assert_eq!(recorded_body(b""), Value::Null);
        assert_eq!(recorded_body(br#"{"a":[1]}"#), json!({"a": [1]}));
        assert_eq!(recorded_body(b"a=1&b=2"), json!("a=1&b=2"));
    }
}
