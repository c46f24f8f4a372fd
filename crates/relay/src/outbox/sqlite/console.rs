//! The SQL of the console's reads ([`super::super::console`]) on SQLite, on the read pool.
//!
//! None of these has an index of its own: an index is a B-tree every hand-off and every
//! delivery would keep up to date for the writer, and the ingest path is what the outbox is
//! tuned for. The latest orders come from the end of the rowid B-tree (rows are appended in
//! acceptance order) and a search from the primary key's range; the counts and the chart read
//! the orders held, which the retention bounds. The console caches what it read for a few
//! seconds, so these run at most once per refresh, however many operators watch.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use rusqlite::{params, Connection, Params};

use super::super::console::{
    add_to_minute, prefix_upper_bound, Counted, DeliveredRecently, MinuteActivity, DAY_MS, HOUR_MS,
    MINUTE_MS,
};
use super::super::{stored, Destination, OrderStatus, StorageError};
use super::reads::{order_status, STATUS_COLUMNS};

/// Per destination, the deliveries since ?1 (an hour ago) and since ?2 (a day ago).
static DELIVERED_RECENTLY: LazyLock<String> = LazyLock::new(|| {
    let columns: Vec<String> = Destination::ALL
        .into_iter()
        .map(|d| {
            format!(
                "COALESCE(SUM({d}_delivered_at >= ?1), 0) AS {d}_hour, \
                 COALESCE(SUM({d}_delivered_at >= ?2), 0) AS {d}_day"
            )
        })
        .collect();
    format!("SELECT {} FROM orders", columns.join(", "))
});

pub(super) fn delivered_recently(
    connection: &Connection,
    now_ms: i64,
) -> Result<Vec<DeliveredRecently>, StorageError> {
    let mut statement = connection.prepare_cached(DELIVERED_RECENTLY.as_str())?;
    let mut rows = statement.query(params![now_ms - HOUR_MS, now_ms - DAY_MS])?;
    let row = rows
        .next()?
        .ok_or_else(|| StorageError::Corrupt("an aggregate returned no row".into()))?;
    Destination::ALL
        .into_iter()
        .map(|destination| {
            Ok(DeliveredRecently {
                destination,
                last_hour: stored::row_count(row.get(format!("{destination}_hour").as_str())?)?,
                last_day: stored::row_count(row.get(format!("{destination}_day").as_str())?)?,
            })
        })
        .collect()
}

/// The newest orders (?1: how many).
static LATEST: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT order_id, {} FROM orders ORDER BY rowid DESC LIMIT ?1",
        STATUS_COLUMNS.as_str()
    )
});

/// The newest orders whose id is in the primary key's range [?2, ?3). `+rowid`: sorting the
/// range's few rows, rather than reading the whole table backwards to skip the sort, which
/// SQLite's planner otherwise prefers. (Two statements rather than `?3 IS NULL OR ...`, which
/// makes it give up the index too.)
static SEARCH: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT order_id, {} FROM orders WHERE order_id >= ?2 AND order_id < ?3 \
         ORDER BY +rowid DESC LIMIT ?1",
        STATUS_COLUMNS.as_str()
    )
});

/// As [`SEARCH`], for a prefix no string is above ([`prefix_upper_bound`] is `None`).
static SEARCH_TO_THE_END: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT order_id, {} FROM orders WHERE order_id >= ?2 ORDER BY +rowid DESC LIMIT ?1",
        STATUS_COLUMNS.as_str()
    )
});

pub(super) fn latest_orders(
    connection: &Connection,
    limit: u32,
    order_id_prefix: Option<&str>,
) -> Result<Vec<OrderStatus>, StorageError> {
    match order_id_prefix.filter(|prefix| !prefix.is_empty()) {
        None => orders(connection, LATEST.as_str(), params![limit]),
        // The ids starting with `prefix` are one range of the primary key.
        Some(prefix) => match prefix_upper_bound(prefix) {
            Some(upper) => orders(connection, SEARCH.as_str(), params![limit, prefix, upper]),
            None => orders(
                connection,
                SEARCH_TO_THE_END.as_str(),
                params![limit, prefix],
            ),
        },
    }
}

/// The orders `query` selects (`order_id` and [`STATUS_COLUMNS`]), in its order.
fn orders(
    connection: &Connection,
    query: &str,
    params: impl Params,
) -> Result<Vec<OrderStatus>, StorageError> {
    let mut statement = connection.prepare_cached(query)?;
    let mut rows = statement.query(params)?;
    let mut orders = Vec::new();
    while let Some(row) = rows.next()? {
        orders.push(order_status(row, row.get("order_id")?)?);
    }
    Ok(orders)
}

/// Orders accepted per minute since ?1.
static ACCEPTED_PER_MINUTE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT accepted_at / {MINUTE_MS} * {MINUTE_MS} AS minute, COUNT(*) AS n FROM orders \
         WHERE accepted_at >= ?1 GROUP BY minute"
    )
});

/// Orders delivered per minute since ?1: finished everywhere (delivered or skipped, at least
/// one delivered), in the minute of their last delivery.
static DELIVERED_PER_MINUTE: LazyLock<String> = LazyLock::new(|| {
    let finished: Vec<String> = Destination::ALL
        .into_iter()
        .map(|d| format!("{d}_state IN ('delivered', 'skipped')"))
        .collect();
    let delivered_somewhere: Vec<String> = Destination::ALL
        .into_iter()
        .map(|d| format!("{d}_state = 'delivered'"))
        .collect();
    let times: Vec<String> = Destination::ALL
        .into_iter()
        .map(|d| format!("COALESCE({d}_delivered_at, 0)"))
        .collect();
    format!(
        "SELECT t / {MINUTE_MS} * {MINUTE_MS} AS minute, COUNT(*) AS n FROM ( \
           SELECT MAX({times}, 0) AS t FROM orders WHERE {finished} AND ({delivered_somewhere})) \
         WHERE t >= ?1 GROUP BY minute",
        times = times.join(", "),
        finished = finished.join(" AND "),
        delivered_somewhere = delivered_somewhere.join(" OR "),
    )
});

pub(super) fn activity(
    connection: &Connection,
    since_ms: i64,
) -> Result<Vec<MinuteActivity>, StorageError> {
    let mut buckets = BTreeMap::new();
    for (query, counted) in [
        (ACCEPTED_PER_MINUTE.as_str(), Counted::Accepted),
        (DELIVERED_PER_MINUTE.as_str(), Counted::Delivered),
    ] {
        let mut statement = connection.prepare_cached(query)?;
        let mut rows = statement.query(params![since_ms])?;
        while let Some(row) = rows.next()? {
            let n = stored::row_count(row.get("n")?)?;
            add_to_minute(&mut buckets, row.get("minute")?, counted, n);
        }
    }
    Ok(buckets.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::super::writes::tests::plan;
    use super::*;

    /// The latest orders are the end of the table, read backwards, never sorted.
    #[test]
    fn the_latest_orders_read_the_end_of_the_table() {
        let plan = plan(&LATEST);
        assert!(plan.starts_with("SCAN orders"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }

    /// A search reads the primary key's range of its prefix, not every order.
    #[test]
    fn a_search_reads_only_its_range_of_the_primary_key() {
        for query in [SEARCH.as_str(), SEARCH_TO_THE_END.as_str()] {
            let plan = plan(query);
            assert!(
                plan.contains("SEARCH orders USING INDEX sqlite_autoindex_orders_1 (order_id>?"),
                "{plan}"
            );
        }
    }
}
