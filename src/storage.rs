//! What the module keeps in `localStorage`: two line-based texts, bounded in count and age,
//! one entry a line, fields separated by tabs.
//!
//! - `ordersync.reported` (`expiry ms \t order id`): orders already reported from this
//!   browser, so a reload of the confirmation page does not report twice.
//! - `ordersync.pending` (`created ms \t hand-off URL \t order id \t body`): hand-offs the
//!   relay has not taken yet, retried by [`crate::queue`]. Their lifetime is set there.
//!
//! Order ids and URLs never hold tabs or newlines (the core and the relay URL check refuse
//! control characters) and bodies are JSON, which escapes them. Whatever else is found (another
//! script's writes, a corrupt or hand-edited entry) is skipped, never trusted.

use ordersync_core::error::decimal_string;
use wasm_bindgen::JsCast;

const REPORTED_KEY: &str = "ordersync.reported";
const PENDING_KEY: &str = "ordersync.pending";

pub const DAY_MS: u64 = 86_400_000;
/// How long a reported order id is remembered (a reload within it reports `duplicate`).
const REPORTED_TTL_MS: u64 = 30 * DAY_MS;
const MAX_REPORTED: usize = 200;
const MAX_PENDING: usize = 20;
/// A stored time further ahead than this was not written by this code (a clock set back by
/// more than a day aside): the entry is corrupt and dropped, never trusted for years.
pub const SKEW_MS: u64 = DAY_MS;

/// The page's `localStorage`, when there is one that can be reached.
pub struct Storage(web_sys::Storage);

/// One queued hand-off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub created_ms: u64,
    pub url: String,
    pub order_id: String,
    pub body: String,
}

impl Storage {
    /// `localStorage`, or `None` where there is none (Node), storage is disabled (reading the
    /// property throws), or a page replaced it with something that is not an object.
    pub fn open() -> Option<Storage> {
        let storage = crate::page::global("localStorage");
        storage
            .is_object()
            .then(|| Storage(storage.unchecked_into()))
    }

    fn read(&self, key: &str) -> String {
        self.0.get_item(key).ok().flatten().unwrap_or_default()
    }

    fn write(&self, key: &str, text: &str) -> bool {
        self.0.set_item(key, text).is_ok()
    }

    /// Whether `order_id` was reported from this browser within the last 30 days.
    pub fn was_reported(&self, order_id: &str, now_ms: u64) -> bool {
        self.reported(now_ms).iter().any(|(_, id)| id == order_id)
    }

    pub fn remember_reported(&self, order_id: &str, now_ms: u64) {
        let mut rows = self.reported(now_ms);
        rows.retain(|(_, id)| id != order_id);
        rows.push((now_ms + REPORTED_TTL_MS, order_id.to_owned()));
        let kept = &rows[rows.len().saturating_sub(MAX_REPORTED)..];
        let text: String = kept
            .iter()
            .map(|(expires, id)| line(&[&decimal_string(*expires), id]))
            .collect();
        self.write(REPORTED_KEY, &text);
    }

    /// The orders already reported, without the expired and the corrupt: (expires, order id).
    fn reported(&self, now_ms: u64) -> Vec<(u64, String)> {
        let horizon = now_ms.saturating_add(REPORTED_TTL_MS + SKEW_MS);
        lines(&self.read(REPORTED_KEY), 2)
            .filter(|(expires, _)| *expires > now_ms && *expires <= horizon)
            .map(|(expires, mut fields)| (expires, fields.pop().unwrap_or_default()))
            .collect()
    }

    /// Every well-formed queued hand-off, oldest first, whatever its age (the queue decides
    /// which ones are still to send).
    pub fn pending(&self) -> Vec<Pending> {
        lines(&self.read(PENDING_KEY), 4)
            .filter_map(|(created_ms, fields)| {
                let [url, order_id, body]: [String; 3] = fields.try_into().ok()?;
                Some(Pending {
                    created_ms,
                    url,
                    order_id,
                    body,
                })
            })
            .collect()
    }

    /// Replaces the queue with `rows` (the newest 20); false when storage refused the write.
    pub fn save_pending(&self, rows: &[Pending]) -> bool {
        let kept = &rows[rows.len().saturating_sub(MAX_PENDING)..];
        let text: String = kept
            .iter()
            .map(|row| {
                line(&[
                    &decimal_string(row.created_ms),
                    &row.url,
                    &row.order_id,
                    &row.body,
                ])
            })
            .collect();
        self.write(PENDING_KEY, &text)
    }
}

/// The lines of a stored text whose first field is a whole number (digits only, below 2^64)
/// and that have at least `count` fields, split into the number and the `count - 1` others
/// (the last one keeps any further tabs: a body's).
fn lines(text: &str, count: usize) -> impl Iterator<Item = (u64, Vec<String>)> + '_ {
    text.split('\n').filter_map(move |line| {
        let mut fields = line.splitn(count, '\t');
        let first = fields.next()?;
        if first.is_empty() || !first.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let number: u64 = first.parse().ok()?;
        let rest: Vec<String> = fields.map(str::to_owned).collect();
        (rest.len() + 1 == count).then_some((number, rest))
    })
}

fn line(fields: &[&str]) -> String {
    let mut out = fields.join("\t");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_well_formed_lines_only() {
        let text =
            "12\ta\tb\tc\td\nx\t1\t2\t3\n+5\ta\tb\tc\n\n99999999999999999999\ta\tb\tc\n7\ta\tb\n";
        let rows: Vec<_> = lines(text, 4).collect();
        assert_eq!(
            rows,
            vec![(12, vec!["a".to_owned(), "b".to_owned(), "c\td".to_owned()])]
        );
    }
}
