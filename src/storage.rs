//! What the module remembers in `localStorage`: the orders it already reported (so a reload of
//! the confirmation page does not report twice) and the hand-offs the relay has not yet taken
//! (so nothing is lost when the relay is down or the page unloads).
//!
//! Both lists are small line-based texts (`field\tfield\n`), bounded in count and age. Every
//! field is free of tabs and newlines: order ids and URLs are refused with control characters
//! before they get here, and bodies are JSON, which escapes them. Storage that is missing,
//! disabled or throwing (Safari private mode, quota, a sandboxed frame) reads as empty and
//! refuses writes; the caller reports that instead of failing.

use ordersync_core::error::push_decimal;
use wasm_bindgen::JsValue;

use crate::js;

const REPORTED_KEY: &str = "ordersync.reported";
const PENDING_KEY: &str = "ordersync.pending";

const DAY_MS: u64 = 24 * 60 * 60 * 1000;
/// How long an order id is remembered as reported.
pub const REPORTED_TTL_MS: u64 = 30 * DAY_MS;
/// Order ids remembered at most (the oldest are forgotten first).
pub const MAX_REPORTED: usize = 200;
/// How long a hand-off is retried before it is given up (a signed token expires anyway).
pub const PENDING_TTL_MS: u64 = 7 * DAY_MS;
/// Hand-offs kept at most (the oldest are dropped first).
pub const MAX_PENDING: usize = 20;

/// A hand-off the relay has not accepted yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub created_ms: u64,
    pub url: String,
    pub order_id: String,
    pub body: String,
}

/// `localStorage`, when the page has a usable one.
pub struct Storage(JsValue);

impl Storage {
    pub fn open() -> Option<Storage> {
        // Reading `localStorage` itself throws where storage is disabled; `js::get` absorbs it.
        let storage = js::get(&js::global(), "localStorage");
        storage.is_object().then_some(Storage(storage))
    }

    fn read(&self, key: &str) -> String {
        js::call(&self.0, "getItem", &[&JsValue::from_str(key)])
            .ok()
            .and_then(|value| value.as_string())
            .unwrap_or_default()
    }

    fn write(&self, key: &str, text: &str) -> bool {
        let args = [&JsValue::from_str(key), &JsValue::from_str(text)];
        js::call(&self.0, "setItem", &args).is_ok()
    }

    /// Whether `order_id` was reported from this browser within [`REPORTED_TTL_MS`].
    pub fn was_reported(&self, order_id: &str, now_ms: u64) -> bool {
        parse_reported(&self.read(REPORTED_KEY))
            .iter()
            .any(|(expires, id)| *id == order_id && *expires > now_ms)
    }

    /// Remembers `order_id` as reported; `false` when storage refused the write.
    pub fn remember_reported(&self, order_id: &str, now_ms: u64) -> bool {
        let text = self.read(REPORTED_KEY);
        let mut entries: Vec<(u64, &str)> = parse_reported(&text)
            .into_iter()
            .filter(|(expires, id)| *expires > now_ms && *id != order_id)
            .collect();
        entries.push((now_ms + REPORTED_TTL_MS, order_id));
        let excess = entries.len().saturating_sub(MAX_REPORTED);
        let mut out = String::new();
        for (expires, id) in &entries[excess..] {
            push_decimal(&mut out, *expires);
            out.push('\t');
            out.push_str(id);
            out.push('\n');
        }
        self.write(REPORTED_KEY, &out)
    }

    /// The hand-offs still to deliver, oldest first, without those past their age.
    pub fn pending(&self, now_ms: u64) -> Vec<Pending> {
        parse_pending(&self.read(PENDING_KEY))
            .into_iter()
            .filter(|entry| entry.created_ms + PENDING_TTL_MS > now_ms)
            .collect()
    }

    /// Adds (or replaces) the hand-off of `entry.order_id`; `false` when storage refused it.
    pub fn add_pending(&self, entry: Pending, now_ms: u64) -> bool {
        let mut entries = self.pending(now_ms);
        entries.retain(|kept| kept.order_id != entry.order_id);
        entries.push(entry);
        let excess = entries.len().saturating_sub(MAX_PENDING);
        self.write(PENDING_KEY, &format_pending(&entries[excess..]))
    }

    /// Forgets the hand-off of `order_id` (delivered, or refused for good).
    pub fn remove_pending(&self, order_id: &str, now_ms: u64) {
        let mut entries = self.pending(now_ms);
        let before = entries.len();
        entries.retain(|kept| kept.order_id != order_id);
        if entries.len() != before {
            self.write(PENDING_KEY, &format_pending(&entries));
        }
    }
}

fn parse_reported(text: &str) -> Vec<(u64, &str)> {
    text.lines()
        .filter_map(|line| {
            let (expires, id) = line.split_once('\t')?;
            Some((parse_u64(expires)?, id))
        })
        .collect()
}

fn parse_pending(text: &str) -> Vec<Pending> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.splitn(4, '\t');
            let created_ms = parse_u64(fields.next()?)?;
            let url = fields.next()?.to_owned();
            let order_id = fields.next()?.to_owned();
            let body = fields.next()?.to_owned();
            Some(Pending {
                created_ms,
                url,
                order_id,
                body,
            })
        })
        .collect()
}

fn format_pending(entries: &[Pending]) -> String {
    let mut out = String::new();
    for entry in entries {
        push_decimal(&mut out, entry.created_ms);
        for field in [&entry.url, &entry.order_id, &entry.body] {
            out.push('\t');
            out.push_str(field);
        }
        out.push('\n');
    }
    out
}

/// Digits only (no sign, no spaces); `None` for anything else or an overflow.
fn parse_u64(text: &str) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    text.bytes().try_fold(0u64, |acc, b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_round_trips_and_skips_garbage() {
        let entries = vec![
            Pending {
                created_ms: 5,
                url: "https://shop.example/os/v1/checkouts".into(),
                order_id: "42".into(),
                body: r#"{"token":"a.b.c","cookieId":null}"#.into(),
            },
            Pending {
                created_ms: 6,
                url: "/os/v1/checkouts".into(),
                order_id: "x y".into(),
                body: "{}".into(),
            },
        ];
        let text = format_pending(&entries);
        assert_eq!(parse_pending(&text), entries);
        let damaged = format!("garbage\n-1\tu\ti\tb\n{text}12\tonly-two\n");
        assert_eq!(parse_pending(&damaged), entries);
    }

    #[test]
    fn reported_lines_parse_strictly() {
        assert_eq!(
            parse_reported("10\ta\nx\tb\n\t c\n20\td\te\n"),
            vec![(10, "a"), (20, "d\te")]
        );
        assert_eq!(parse_u64("18446744073709551616"), None);
        assert_eq!(parse_u64("+1"), None);
    }
}
