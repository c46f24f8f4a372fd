//! The SQL of the SQLite outbox's reads (status, dead letters, depth), on the async read pool:
//! WAL lets them run beside the writer thread ([`super::writer`]) without taking the write lock.

use std::sync::LazyLock;

use sqlx::sqlite::{SqliteConnection, SqliteRow};
use sqlx::Row;

use super::super::{
    DeadLetter, DeliveryState, DepthRow, Destination, DestinationStatus, OrderStatus, StorageError,
};

/// An order's delivery rows. `destination IN (every destination)`: one lookup per destination
/// in the primary key, which is the only index by order id.
static STATUS_ROWS: LazyLock<String> = LazyLock::new(|| {
    let destinations: Vec<String> = Destination::ALL
        .iter()
        .map(|destination| format!("'{destination}'"))
        .collect();
    format!(
        "SELECT destination, state, attempts, last_error, created_at, updated_at, \
         delivered_at, next_attempt_at FROM deliveries \
         WHERE destination IN ({}) AND order_id = ? ORDER BY destination",
        destinations.join(", ")
    )
});

pub(super) async fn status(
    connection: &mut SqliteConnection,
    order_id: &str,
) -> Result<Option<OrderStatus>, StorageError> {
    let accepted: Option<i64> =
        sqlx::query_scalar("SELECT accepted_at FROM checkouts WHERE order_id = ?")
            .bind(order_id)
            .fetch_optional(&mut *connection)
            .await?;
    let Some(accepted_at_ms) = accepted else {
        return Ok(None);
    };
    let rows = sqlx::query(STATUS_ROWS.as_str())
        .bind(order_id)
        .fetch_all(&mut *connection)
        .await?;
    Ok(Some(OrderStatus {
        order_id: order_id.to_owned(),
        accepted_at_ms,
        destinations: rows
            .iter()
            .map(destination_status)
            .collect::<Result<_, _>>()?,
    }))
}

fn destination_status(row: &SqliteRow) -> Result<DestinationStatus, StorageError> {
    let state: DeliveryState = row.try_get::<String, _>("state")?.parse()?;
    let waiting = matches!(state, DeliveryState::Pending | DeliveryState::Retrying);
    Ok(DestinationStatus {
        destination: row.try_get::<String, _>("destination")?.parse()?,
        state,
        attempts: row.try_get::<i64, _>("attempts")? as u32,
        last_error: row.try_get("last_error")?,
        created_at_ms: row.try_get("created_at")?,
        updated_at_ms: row.try_get("updated_at")?,
        delivered_at_ms: row.try_get("delivered_at")?,
        next_attempt_at_ms: waiting
            .then(|| row.try_get("next_attempt_at"))
            .transpose()?,
    })
}

pub(super) async fn dead_letters(
    connection: &mut SqliteConnection,
    limit: u32,
) -> Result<Vec<DeadLetter>, StorageError> {
    let rows = sqlx::query(
        "SELECT order_id, destination, attempts, last_error, vendor_status, \
         vendor_response, updated_at FROM deliveries WHERE state = 'dead' \
         ORDER BY updated_at, order_id LIMIT ?",
    )
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
