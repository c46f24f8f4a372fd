//! The SQL of the console's reads ([`super::super::console`]) on PostgreSQL.
//!
//! The latest orders walk the index of held orders by acceptance (`ordersync_checkouts_held`)
//! from its end; a search filters that walk by prefix. The counts and the chart read the
//! deliveries held, which the retention bounds; the console caches what it read for a few
//! seconds, so each instance runs these at most once per refresh.

use std::collections::BTreeMap;

use sqlx::postgres::PgPool;

use super::super::console::{
    add_to_minute, Counted, DeliveredRecently, MinuteActivity, DAY_MS, HOUR_MS, MINUTE_MS,
};
use super::super::stored::StoredRow as _;
use super::super::{stored, Destination, OrderStatus, StorageError};

pub(super) async fn delivered_recently(
    pool: &PgPool,
    now_ms: i64,
) -> Result<Vec<DeliveredRecently>, StorageError> {
    let rows = sqlx::query(
        "SELECT destination, COUNT(*) FILTER (WHERE delivered_at >= $1) AS last_hour, \
           COUNT(*) AS last_day \
         FROM ordersync_deliveries WHERE state = 'delivered' AND delivered_at >= $2 \
         GROUP BY destination",
    )
    .bind(now_ms - HOUR_MS)
    .bind(now_ms - DAY_MS)
    .fetch_all(pool)
    .await?;
    let mut counts: Vec<DeliveredRecently> = Destination::ALL
        .into_iter()
        .map(DeliveredRecently::none)
        .collect();
    for row in &rows {
        let destination: Destination = row.text("destination")?.parse()?;
        if let Some(count) = counts.iter_mut().find(|c| c.destination == destination) {
            count.last_hour = stored::row_count(row.integer("last_hour")?)?;
            count.last_day = stored::row_count(row.integer("last_day")?)?;
        }
    }
    Ok(counts)
}

pub(super) async fn latest_orders(
    pool: &PgPool,
    limit: u32,
    order_id_prefix: Option<&str>,
) -> Result<Vec<OrderStatus>, StorageError> {
    // One statement, so the orders and their destinations come from one snapshot.
    let rows = sqlx::query(
        "WITH latest AS ( \
           SELECT order_id, accepted_at FROM ordersync_checkouts \
           WHERE pruned_at IS NULL AND ($2::text IS NULL OR starts_with(order_id, $2)) \
           ORDER BY accepted_at DESC, order_id DESC LIMIT $1) \
         SELECT l.order_id, l.accepted_at, d.destination, d.state, d.attempts, d.last_error, \
           d.created_at, d.updated_at, d.delivered_at, d.next_attempt_at \
         FROM latest AS l LEFT JOIN ordersync_deliveries AS d ON d.order_id = l.order_id \
         ORDER BY l.accepted_at DESC, l.order_id DESC, d.destination",
    )
    .bind(i64::from(limit))
    .bind(order_id_prefix.filter(|prefix| !prefix.is_empty()))
    .fetch_all(pool)
    .await?;
    let mut orders = stored::Orders::default();
    for row in &rows {
        orders.add(row)?;
    }
    Ok(orders.into_vec())
}

/// Orders accepted per minute since $1 ($2: a minute in milliseconds).
const ACCEPTED_PER_MINUTE: &str = "SELECT accepted_at / $2 * $2 AS minute, COUNT(*) AS n \
     FROM ordersync_checkouts WHERE pruned_at IS NULL AND accepted_at >= $1 GROUP BY minute";

/// Orders delivered per minute since $1: finished everywhere (delivered or skipped, at least one
/// delivered), in the minute of the last delivery.
const DELIVERED_PER_MINUTE: &str = "SELECT t / $2 * $2 AS minute, COUNT(*) AS n FROM ( \
       SELECT MAX(delivered_at) AS t FROM ordersync_deliveries GROUP BY order_id \
       HAVING bool_and(state IN ('delivered', 'skipped')) AND bool_or(state = 'delivered') \
     ) AS finished WHERE t >= $1 GROUP BY minute";

pub(super) async fn activity(
    pool: &PgPool,
    since_ms: i64,
) -> Result<Vec<MinuteActivity>, StorageError> {
    let mut buckets = BTreeMap::new();
    for (query, counted) in [
        (ACCEPTED_PER_MINUTE, Counted::Accepted),
        (DELIVERED_PER_MINUTE, Counted::Delivered),
    ] {
        let rows = sqlx::query(query)
            .bind(since_ms)
            .bind(MINUTE_MS)
            .fetch_all(pool)
            .await?;
        for row in &rows {
            let n = stored::row_count(row.integer("n")?)?;
            add_to_minute(&mut buckets, row.integer("minute")?, counted, n);
        }
    }
    Ok(buckets.into_values().collect())
}
