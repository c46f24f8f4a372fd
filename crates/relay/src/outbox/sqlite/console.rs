//! The SQL of the console's reads ([`super::super::console`]) on SQLite, on the read pool.
//!
//! The latest orders come from the end of the held orders' index by acceptance
//! (`ordersync_checkouts_held`), a search from the primary key's range of its prefix; the
//! counts and the chart read the deliveries held, which the retention bounds. The console
//! caches what it read for a few seconds, so these run at most once per refresh, however many
//! operators watch.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use rusqlite::{params, Connection};

use super::super::console::{
    add_to_minute, prefix_upper_bound, Counted, DeliveredRecently, MinuteActivity, DAY_MS, HOUR_MS,
    MINUTE_MS,
};
use super::super::stored::{self, StoredRow as _};
use super::super::{Destination, OrderStatus, StorageError};
use super::reads::{orders, STATUS_COLUMNS};

pub(super) fn delivered_recently(
    connection: &Connection,
    now_ms: i64,
) -> Result<Vec<DeliveredRecently>, StorageError> {
    let mut statement = connection.prepare_cached(
        "SELECT destination, COUNT(*) FILTER (WHERE delivered_at >= ?1) AS last_hour, \
           COUNT(*) AS last_day \
         FROM ordersync_deliveries WHERE state = 'delivered' AND delivered_at >= ?2 \
         GROUP BY destination",
    )?;
    let mut rows = statement.query(params![now_ms - HOUR_MS, now_ms - DAY_MS])?;
    let mut counts: Vec<DeliveredRecently> = Destination::ALL
        .into_iter()
        .map(DeliveredRecently::none)
        .collect();
    while let Some(row) = rows.next()? {
        let destination: Destination = row.text("destination")?.parse()?;
        if let Some(count) = counts.iter_mut().find(|c| c.destination == destination) {
            count.last_hour = stored::row_count(row.integer("last_hour")?)?;
            count.last_day = stored::row_count(row.integer("last_day")?)?;
        }
    }
    Ok(counts)
}

/// The newest held orders (?1: how many) whose id is in `range`, with their deliveries.
/// `newest` is the sort key: `accepted_at` walks the held orders' index from its end; a search
/// sorts by `+accepted_at` (no index then), so that SQLite reads its range of the primary key
/// and sorts those few rows rather than walking every held order to filter them.
fn latest_in(range: &str, newest: &str) -> String {
    format!(
        "WITH latest AS ( \
           SELECT order_id, accepted_at FROM ordersync_checkouts \
           WHERE pruned_at IS NULL{range} ORDER BY {newest} DESC, order_id DESC LIMIT ?1) \
         SELECT {STATUS_COLUMNS} FROM latest AS c \
         LEFT JOIN ordersync_deliveries AS d ON d.order_id = c.order_id \
         ORDER BY c.accepted_at DESC, c.order_id DESC, d.destination"
    )
}

/// The newest orders.
static LATEST: LazyLock<String> = LazyLock::new(|| latest_in("", "accepted_at"));

/// The newest orders whose id is in the primary key's range [?2, ?3). (Two statements rather
/// than `?3 IS NULL OR ...`, which makes SQLite's planner give up the index.)
static SEARCH: LazyLock<String> =
    LazyLock::new(|| latest_in(" AND order_id >= ?2 AND order_id < ?3", "+accepted_at"));

/// As [`SEARCH`], for a prefix no string is above ([`prefix_upper_bound`] is `None`).
static SEARCH_TO_THE_END: LazyLock<String> =
    LazyLock::new(|| latest_in(" AND order_id >= ?2", "+accepted_at"));

pub(super) fn latest_orders(
    connection: &Connection,
    limit: u32,
    order_id_prefix: Option<&str>,
) -> Result<Vec<OrderStatus>, StorageError> {
    match order_id_prefix.filter(|prefix| !prefix.is_empty()) {
        None => orders(connection, &LATEST, params![limit]),
        // The ids starting with `prefix` are one range of the primary key.
        Some(prefix) => match prefix_upper_bound(prefix) {
            Some(upper) => orders(connection, &SEARCH, params![limit, prefix, upper]),
            None => orders(connection, &SEARCH_TO_THE_END, params![limit, prefix]),
        },
    }
}

/// Orders accepted per minute since ?1.
static ACCEPTED_PER_MINUTE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT accepted_at / {MINUTE_MS} * {MINUTE_MS} AS minute, COUNT(*) AS n \
         FROM ordersync_checkouts WHERE pruned_at IS NULL AND accepted_at >= ?1 GROUP BY minute"
    )
});

/// Orders delivered per minute since ?1: finished everywhere (delivered or skipped, at least
/// one delivered), in the minute of their last delivery.
static DELIVERED_PER_MINUTE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT t / {MINUTE_MS} * {MINUTE_MS} AS minute, COUNT(*) AS n FROM ( \
           SELECT MAX(delivered_at) AS t FROM ordersync_deliveries GROUP BY order_id \
           HAVING MIN(state IN ('delivered', 'skipped')) AND MAX(state = 'delivered') \
         ) WHERE t >= ?1 GROUP BY minute"
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
            let n = stored::row_count(row.integer("n")?)?;
            add_to_minute(&mut buckets, row.integer("minute")?, counted, n);
        }
    }
    Ok(buckets.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::super::writes::tests::plan;
    use super::*;

    /// The latest orders are the end of the held orders' index, read backwards, never every
    /// order sorted.
    #[test]
    fn the_latest_orders_read_the_end_of_the_held_orders_index() {
        let plan = plan(&LATEST);
        assert!(plan.contains("ordersync_checkouts_held"), "{plan}");
    }

    /// A search reads the primary key's range of its prefix, not every order.
    #[test]
    fn a_search_reads_only_its_range_of_the_primary_key() {
        for query in [SEARCH.as_str(), SEARCH_TO_THE_END.as_str()] {
            let plan = plan(query);
            assert!(
                plan.contains("USING INDEX sqlite_autoindex_ordersync_checkouts_1 (order_id>?"),
                "{plan}"
            );
        }
    }
}
