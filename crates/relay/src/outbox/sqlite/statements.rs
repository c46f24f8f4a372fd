//! The SQL of the SQLite outbox, each function on one connection: the writer's (inside its
//! group transaction) or a reader's.

use std::collections::HashMap;

use sqlx::sqlite::{Sqlite, SqliteConnection, SqliteRow};
use sqlx::{QueryBuilder, Row};

use super::super::{
    ClaimedDelivery, DeadLetter, DeliveryState, DepthRow, Destination, DestinationStatus,
    InitialState, InsertOutcome, NewCheckout, OrderStatus, Outcome, Recorded, StorageError,
};

/// Stores a checkout and its destinations once. A repeat (stored earlier, or earlier in the
/// same group transaction) changes nothing and returns the stored state, as seen by this
/// connection.
pub(super) async fn insert(
    connection: &mut SqliteConnection,
    checkout: &NewCheckout,
    now_ms: i64,
) -> Result<InsertOutcome, StorageError> {
    let inserted = sqlx::query(
        "INSERT INTO checkouts (order_id, checkout_json, cookie_id, accepted_at) \
         VALUES (?, ?, ?, ?) ON CONFLICT (order_id) DO NOTHING",
    )
    .bind(&checkout.order_id)
    .bind(&checkout.checkout_json)
    .bind(&checkout.cookie_id)
    .bind(now_ms)
    .execute(&mut *connection)
    .await?
    .rows_affected();
    if inserted == 0 {
        let status = status(connection, &checkout.order_id)
            .await?
            .ok_or_else(|| {
                StorageError::Corrupt(format!("order {} vanished", checkout.order_id))
            })?;
        return Ok(InsertOutcome::Existing(status));
    }
    if checkout.destinations.is_empty() {
        return Ok(InsertOutcome::Inserted);
    }
    // All destinations in one statement: every statement is a round trip to the connection's
    // thread, and the writer's statements are what bounds the relay's ingest.
    let mut deliveries = QueryBuilder::<Sqlite>::new(
        "INSERT INTO deliveries (destination, order_id, state, next_attempt_at, \
         budget_started_at, last_error, created_at, updated_at) ",
    );
    deliveries.push_values(&checkout.destinations, |mut row, (destination, initial)| {
        let (state, reason) = match initial {
            InitialState::Pending => (DeliveryState::Pending, None),
            InitialState::Skipped { reason } => (DeliveryState::Skipped, Some(reason.as_str())),
        };
        row.push_bind(destination.as_str())
            .push_bind(checkout.order_id.as_str())
            .push_bind(state.as_str())
            .push_bind(now_ms)
            .push_bind(now_ms)
            .push_bind(reason)
            .push_bind(now_ms)
            .push_bind(now_ms);
    });
    deliveries.build().execute(&mut *connection).await?;
    Ok(InsertOutcome::Inserted)
}

/// Leases up to `limit` due rows of `destination` to `lease_owner` until `lease_until`, oldest
/// due first, each with its checkout.
pub(super) async fn claim_due(
    connection: &mut SqliteConnection,
    destination: Destination,
    limit: u32,
    lease_owner: &str,
    lease_until: i64,
    now_ms: i64,
) -> Result<Vec<ClaimedDelivery>, StorageError> {
    let claimed = sqlx::query(
        "UPDATE deliveries SET lease_owner = ?, lease_until = ? \
         WHERE rowid IN ( \
           SELECT rowid FROM deliveries \
           WHERE destination = ? AND state IN ('pending', 'retrying') \
             AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?) \
           ORDER BY next_attempt_at, rowid LIMIT ?) \
         RETURNING rowid, order_id, attempts, budget_started_at, next_attempt_at",
    )
    .bind(lease_owner)
    .bind(lease_until)
    .bind(destination.as_str())
    .bind(now_ms)
    .bind(now_ms)
    .bind(i64::from(limit))
    .fetch_all(&mut *connection)
    .await?;
    // RETURNING comes in no promised order: restore oldest due first.
    let mut claimed = claimed
        .into_iter()
        .map(|row| {
            let key = (
                row.try_get::<i64, _>("next_attempt_at")?,
                row.try_get::<i64, _>("rowid")?,
            );
            Ok((key, row))
        })
        .collect::<Result<Vec<_>, StorageError>>()?;
    claimed.sort_by_key(|(key, _)| *key);
    if claimed.is_empty() {
        return Ok(Vec::new());
    }
    // The claimed rows' checkouts in one query rather than one per row.
    let mut select =
        QueryBuilder::<Sqlite>::new("SELECT order_id, checkout_json, cookie_id FROM checkouts ");
    select.push("WHERE order_id IN (");
    let mut ids = select.separated(", ");
    for (_, row) in &claimed {
        ids.push_bind(row.try_get::<String, _>("order_id")?);
    }
    select.push(")");
    let mut checkouts: HashMap<String, (String, Option<String>)> = select
        .build()
        .fetch_all(&mut *connection)
        .await?
        .into_iter()
        .map(|row| {
            Ok((
                row.try_get("order_id")?,
                (row.try_get("checkout_json")?, row.try_get("cookie_id")?),
            ))
        })
        .collect::<Result<_, StorageError>>()?;
    let mut out = Vec::with_capacity(claimed.len());
    for (_, row) in &claimed {
        let order_id: String = row.try_get("order_id")?;
        let (checkout_json, cookie_id) = checkouts.remove(&order_id).ok_or_else(|| {
            StorageError::Corrupt(format!("delivery of order {order_id} has no checkout"))
        })?;
        out.push(ClaimedDelivery {
            destination,
            checkout_json,
            cookie_id,
            attempts: row.try_get::<i64, _>("attempts")? as u32,
            budget_started_at: row.try_get("budget_started_at")?,
            order_id,
        });
    }
    Ok(out)
}

/// Records one outcome and frees the lease. True when `lease_owner` still held the row.
pub(super) async fn record_one(
    connection: &mut SqliteConnection,
    destination: Destination,
    order_id: &str,
    lease_owner: &str,
    outcome: Outcome,
    now_ms: i64,
) -> Result<bool, StorageError> {
    let recorded = Recorded::from_outcome(outcome, now_ms);
    let changed = sqlx::query(
        "UPDATE deliveries SET state = ?, attempts = attempts + 1, next_attempt_at = ?, \
         last_error = COALESCE(?, last_error), vendor_status = ?, \
         vendor_response = COALESCE(?, vendor_response), delivered_at = ?, updated_at = ?, \
         lease_owner = NULL, lease_until = NULL \
         WHERE destination = ? AND order_id = ? AND lease_owner = ?",
    )
    .bind(recorded.state.as_str())
    .bind(recorded.next_attempt_at)
    .bind(recorded.error)
    .bind(recorded.vendor_status.map(i64::from))
    .bind(recorded.vendor_response)
    .bind(recorded.delivered_at)
    .bind(now_ms)
    .bind(destination.as_str())
    .bind(order_id)
    .bind(lease_owner)
    .execute(connection)
    .await?
    .rows_affected();
    Ok(changed == 1)
}

pub(super) async fn release(
    connection: &mut SqliteConnection,
    destination: Destination,
    order_id: &str,
    lease_owner: &str,
) -> Result<(), StorageError> {
    sqlx::query(
        "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL \
         WHERE destination = ? AND order_id = ? AND lease_owner = ?",
    )
    .bind(destination.as_str())
    .bind(order_id)
    .bind(lease_owner)
    .execute(connection)
    .await?;
    Ok(())
}

pub(super) async fn release_all_leases(
    connection: &mut SqliteConnection,
) -> Result<u64, StorageError> {
    let freed = sqlx::query(
        "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL \
         WHERE lease_owner IS NOT NULL",
    )
    .execute(connection)
    .await?
    .rows_affected();
    Ok(freed)
}

pub(super) async fn retry_dead(
    connection: &mut SqliteConnection,
    order_id: Option<&str>,
    destination: Option<Destination>,
    now_ms: i64,
) -> Result<u64, StorageError> {
    let changed = sqlx::query(
        "UPDATE deliveries SET state = 'pending', next_attempt_at = ?, \
         budget_started_at = ?, updated_at = ?, lease_owner = NULL, lease_until = NULL \
         WHERE state = 'dead' AND (? IS NULL OR order_id = ?) \
           AND (? IS NULL OR destination = ?)",
    )
    .bind(now_ms)
    .bind(now_ms)
    .bind(now_ms)
    .bind(order_id)
    .bind(order_id)
    .bind(destination.map(Destination::as_str))
    .bind(destination.map(Destination::as_str))
    .execute(connection)
    .await?
    .rows_affected();
    Ok(changed)
}

pub(super) async fn pragma(
    connection: &mut SqliteConnection,
    query: &'static str,
) -> Result<String, StorageError> {
    let row = sqlx::query(query).fetch_one(connection).await?;
    let value: sqlx::Result<String> = row.try_get(0);
    Ok(match value {
        Ok(text) => text,
        Err(_) => row.try_get::<i64, _>(0)?.to_string(),
    })
}

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
    let rows = sqlx::query(
        "SELECT destination, state, attempts, last_error, created_at, updated_at, \
         delivered_at, next_attempt_at FROM deliveries WHERE order_id = ? ORDER BY destination",
    )
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
    let rows = sqlx::query(
        "SELECT destination, state, COUNT(*) AS n FROM deliveries GROUP BY destination, state",
    )
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
