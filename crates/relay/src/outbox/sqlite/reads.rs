//! The SQL of the SQLite outbox's reads (status, dead letters, depth), on the async read pool:
//! WAL lets them run beside the writer thread ([`super::writer`]) without taking the write lock.

use std::fmt::Write as _;
use std::sync::LazyLock;

use sqlx::sqlite::{SqliteConnection, SqliteRow};
use sqlx::Row;

use super::super::{
    DeadLetter, DeliveryState, DepthRow, Destination, DestinationStatus, OrderStatus, PrunedOrder,
    StorageError,
};
use super::schema::column;

/// The columns of an order's status: when it was accepted, and each destination's delivery
/// (read by [`destination_status`]).
pub(super) static STATUS_COLUMNS: LazyLock<String> = LazyLock::new(|| {
    let mut columns = String::from("accepted_at");
    for d in Destination::ALL {
        let _ = write!(
            columns,
            ", {d}_state, {d}_attempts, {d}_last_error, {d}_updated_at, {d}_delivered_at, \
             {d}_next_attempt_at"
        );
    }
    columns
});

/// An order's status.
static STATUS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM orders WHERE order_id = ?",
        STATUS_COLUMNS.as_str()
    )
});

pub(super) async fn status(
    connection: &mut SqliteConnection,
    order_id: &str,
) -> Result<Option<OrderStatus>, StorageError> {
    let Some(row) = sqlx::query(STATUS.as_str())
        .bind(order_id)
        .fetch_optional(&mut *connection)
        .await?
    else {
        return Ok(None);
    };
    let accepted_at_ms: i64 = row.try_get("accepted_at")?;
    Ok(Some(OrderStatus {
        order_id: order_id.to_owned(),
        accepted_at_ms,
        destinations: Destination::ALL
            .into_iter()
            .map(|destination| destination_status(&row, destination, accepted_at_ms))
            .collect::<Result<_, _>>()?,
    }))
}

pub(super) fn destination_status(
    row: &SqliteRow,
    destination: Destination,
    accepted_at_ms: i64,
) -> Result<DestinationStatus, StorageError> {
    let field = |name: &str| column(destination, name);
    let state: DeliveryState = row.try_get::<String, _>(field("state").as_str())?.parse()?;
    let waiting = matches!(state, DeliveryState::Pending | DeliveryState::Retrying);
    Ok(DestinationStatus {
        destination,
        state,
        attempts: row.try_get::<i64, _>(field("attempts").as_str())? as u32,
        last_error: row.try_get(field("last_error").as_str())?,
        created_at_ms: accepted_at_ms,
        updated_at_ms: row.try_get(field("updated_at").as_str())?,
        delivered_at_ms: row.try_get(field("delivered_at").as_str())?,
        next_attempt_at_ms: waiting
            .then(|| row.try_get(field("next_attempt_at").as_str()))
            .transpose()?,
    })
}

/// Every destination's dead letters, oldest first: each part reads its destination's dead
/// index.
static DEAD_LETTERS: LazyLock<String> = LazyLock::new(|| {
    let parts: Vec<String> = Destination::ALL
        .into_iter()
        .map(|d| {
            format!(
                "SELECT order_id, '{d}' AS destination, {d}_attempts AS attempts, \
                 {d}_last_error AS last_error, {d}_vendor_status AS vendor_status, \
                 {d}_vendor_response AS vendor_response, {d}_updated_at AS updated_at \
                 FROM orders WHERE {d}_state = 'dead'"
            )
        })
        .collect();
    format!(
        "{} ORDER BY updated_at, order_id, destination LIMIT ?",
        parts.join(" UNION ALL ")
    )
});

pub(super) async fn dead_letters(
    connection: &mut SqliteConnection,
    limit: u32,
) -> Result<Vec<DeadLetter>, StorageError> {
    let rows = sqlx::query(DEAD_LETTERS.as_str())
        .bind(i64::from(limit))
        .fetch_all(connection)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(DeadLetter {
                order_id: row.try_get("order_id")?,
                destination: row.try_get::<String, _>("destination")?.parse()?,
                attempts: row.try_get::<i64, _>("attempts")? as u32,
                error: row.try_get("last_error")?,
                vendor_status: row
                    .try_get::<Option<i64>, _>("vendor_status")?
                    .map(|s| s as u16),
                vendor_response: row.try_get("vendor_response")?,
                updated_at_ms: row.try_get("updated_at")?,
            })
        })
        .collect()
}

pub(super) async fn depth(
    connection: &mut SqliteConnection,
) -> Result<Vec<DepthRow>, StorageError> {
    let rows = sqlx::query("SELECT destination, state, n FROM delivery_counts WHERE n > 0")
        .fetch_all(connection)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(DepthRow {
                destination: row.try_get::<String, _>("destination")?.parse()?,
                state: row.try_get::<String, _>("state")?.parse()?,
                count: row.try_get::<i64, _>("n")? as u64,
            })
        })
        .collect()
}

/// What is remembered of a pruned order ([`super::pruning`]).
pub(super) async fn pruned(
    connection: &mut SqliteConnection,
    order_id: &str,
) -> Result<Option<PrunedOrder>, StorageError> {
    let Some(row) = sqlx::query(
        "SELECT accepted_at, delivered_at, pruned_at FROM pruned_orders WHERE order_id = ?",
    )
    .bind(order_id)
    .fetch_optional(connection)
    .await?
    else {
        return Ok(None);
    };
    Ok(Some(PrunedOrder {
        order_id: order_id.to_owned(),
        accepted_at_ms: row.try_get("accepted_at")?,
        delivered_at_ms: row.try_get("delivered_at")?,
        pruned_at_ms: row.try_get("pruned_at")?,
    }))
}

/// Which of `order_ids` the outbox knows, stored or pruned and remembered: one statement
/// for the whole list (passed as one JSON array), each id looked up through a primary key.
pub(super) async fn known(
    connection: &mut SqliteConnection,
    order_ids: &[String],
) -> Result<std::collections::HashSet<String>, StorageError> {
    let asked = serde_json::to_string(order_ids)
        .map_err(|error| StorageError::Corrupt(format!("order ids as JSON: {error}")))?;
    let rows = sqlx::query_scalar(
        "SELECT asked.value FROM json_each(?1) AS asked \
         WHERE EXISTS (SELECT 1 FROM orders WHERE order_id = asked.value) \
            OR EXISTS (SELECT 1 FROM pruned_orders WHERE order_id = asked.value)",
    )
    .bind(asked)
    .fetch_all(connection)
    .await?;
    Ok(rows.into_iter().collect())
}
