//! What the outbox keeps once an order is finished, and for how long (the relay's retention,
//! [`crate::retention`], decides when).
//!
//! A finished order (every destination `delivered` or `skipped`) is removed at the retention,
//! in small batches. Its order id stays behind as a [`PrunedOrder`] (a few dozen bytes), so a
//! repeat hand-off of that order (a shop re-importing a year of orders, a browser's queued
//! hand-off, a token replayed late) is answered as a repeat and never delivered twice. The
//! remembered ids are forgotten in turn at the order id memory, counted from acceptance.

use serde::Serialize;

/// An order whose row was pruned, as the relay remembers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrunedOrder {
    pub order_id: String,
    pub accepted_at_ms: i64,
    /// The last delivery of the order (unix ms); `None` when no destination delivered it (each
    /// was skipped or discarded).
    pub delivered_at_ms: Option<i64>,
    pub pruned_at_ms: i64,
}

/// The result of one batch of pruning or forgetting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Batch {
    /// Rows removed by this batch.
    pub removed: u64,
    /// Whether more may be waiting (the batch stopped at its limit): the caller runs another
    /// batch after a pause.
    pub more: bool,
}
