//! The SQL of the SQLite outbox's writes, run by the writer thread ([`super::writer`]) inside
//! its group transaction. Plain blocking `rusqlite` calls on cached prepared statements: every
//! statement runs on the thread that owns the connection, so a write costs no hop between
//! threads (with sqlx, each statement was a round trip to the connection's worker thread, and
//! those wake-ups were most of the relay's ingest cost).

use rusqlite::{params, Connection, OptionalExtension};

use super::super::{
    ClaimedDelivery, DeliveryState, Destination, InitialState, NewCheckout, Outcome, Recorded,
    StorageError,
};

/// Whether [`insert`] stored the checkout or found its order id already stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stored {
    New,
    Repeat,
}

/// Stores a checkout and its destinations once. A repeat (stored earlier, or earlier in the
/// same group transaction) changes nothing.
pub(super) fn insert(
    connection: &Connection,
    checkout: &NewCheckout,
    now_ms: i64,
) -> Result<Stored, StorageError> {
    let inserted = connection
        .prepare_cached(
            "INSERT INTO checkouts (order_id, checkout_json, cookie_id, accepted_at) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (order_id) DO NOTHING",
        )?
        .execute(params![
            checkout.order_id,
            checkout.checkout_json,
            checkout.cookie_id,
            now_ms
        ])?;
    if inserted == 0 {
        return Ok(Stored::Repeat);
    }
    let mut delivery = connection.prepare_cached(
        "INSERT INTO deliveries (destination, order_id, state, next_attempt_at, \
         budget_started_at, last_error, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?4, ?4)",
    )?;
    for (destination, initial) in &checkout.destinations {
        let (state, reason) = match initial {
            InitialState::Pending => (DeliveryState::Pending, None),
            InitialState::Skipped { reason } => (DeliveryState::Skipped, Some(reason.as_str())),
        };
        delivery.execute(params![
            destination.as_str(),
            checkout.order_id,
            state.as_str(),
            now_ms,
            reason
        ])?;
    }
    Ok(Stored::New)
}

/// One row the claim's `UPDATE … RETURNING` leased.
struct Leased {
    rowid: i64,
    order_id: String,
    attempts: i64,
    budget_started_at: i64,
    next_attempt_at: i64,
}

/// Leases up to `limit` rows of `destination` due by `due_by` (whose lease is free at
/// `now_ms`) to `lease_owner` until `lease_until`, oldest due first, each with its checkout.
pub(super) fn claim_due(
    connection: &Connection,
    destination: Destination,
    limit: u32,
    lease_owner: &str,
    lease_until: i64,
    now_ms: i64,
    due_by: i64,
) -> Result<Vec<ClaimedDelivery>, StorageError> {
    let mut leased = connection
        .prepare_cached(
            "UPDATE deliveries SET lease_owner = ?1, lease_until = ?2 \
             WHERE rowid IN ( \
               SELECT rowid FROM deliveries \
               WHERE destination = ?3 AND state IN ('pending', 'retrying') \
                 AND next_attempt_at <= ?6 AND (lease_until IS NULL OR lease_until <= ?4) \
               ORDER BY next_attempt_at, rowid LIMIT ?5) \
             RETURNING rowid, order_id, attempts, budget_started_at, next_attempt_at",
        )?
        .query_map(
            params![
                lease_owner,
                lease_until,
                destination.as_str(),
                now_ms,
                i64::from(limit),
                due_by
            ],
            |row| {
                Ok(Leased {
                    rowid: row.get(0)?,
                    order_id: row.get(1)?,
                    attempts: row.get(2)?,
                    budget_started_at: row.get(3)?,
                    next_attempt_at: row.get(4)?,
                })
            },
        )?
        .collect::<Result<Vec<_>, _>>()?;
    // RETURNING comes in no promised order: restore oldest due first.
    leased.sort_by_key(|row| (row.next_attempt_at, row.rowid));
    let mut checkout = connection
        .prepare_cached("SELECT checkout_json, cookie_id FROM checkouts WHERE order_id = ?1")?;
    leased
        .into_iter()
        .map(|row| {
            let (checkout_json, cookie_id) = checkout
                .query_row([&row.order_id], |found| Ok((found.get(0)?, found.get(1)?)))
                .optional()?
                .ok_or_else(|| {
                    StorageError::Corrupt(format!(
                        "delivery of order {} has no checkout",
                        row.order_id
                    ))
                })?;
            Ok(ClaimedDelivery {
                destination,
                checkout_json,
                cookie_id,
                attempts: row.attempts as u32,
                budget_started_at: row.budget_started_at,
                order_id: row.order_id,
            })
        })
        .collect()
}

/// Records one outcome and frees the lease. True when `lease_owner` still held the row.
pub(super) fn record_one(
    connection: &Connection,
    destination: Destination,
    order_id: &str,
    lease_owner: &str,
    outcome: Outcome,
    now_ms: i64,
) -> Result<bool, StorageError> {
    let recorded = Recorded::from_outcome(outcome, now_ms);
    let changed = connection
        .prepare_cached(
            "UPDATE deliveries SET state = ?1, attempts = attempts + 1, next_attempt_at = ?2, \
             last_error = COALESCE(?3, last_error), vendor_status = ?4, \
             vendor_response = COALESCE(?5, vendor_response), delivered_at = ?6, \
             updated_at = ?7, lease_owner = NULL, lease_until = NULL \
             WHERE destination = ?8 AND order_id = ?9 AND lease_owner = ?10",
        )?
        .execute(params![
            recorded.state.as_str(),
            recorded.next_attempt_at,
            recorded.error,
            recorded.vendor_status,
            recorded.vendor_response,
            recorded.delivered_at,
            now_ms,
            destination.as_str(),
            order_id,
            lease_owner
        ])?;
    Ok(changed == 1)
}

pub(super) fn release(
    connection: &Connection,
    destination: Destination,
    order_id: &str,
    lease_owner: &str,
) -> Result<(), StorageError> {
    connection
        .prepare_cached(
            "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL \
             WHERE destination = ?1 AND order_id = ?2 AND lease_owner = ?3",
        )?
        .execute(params![destination.as_str(), order_id, lease_owner])?;
    Ok(())
}

pub(super) fn release_all_leases(connection: &Connection) -> Result<u64, StorageError> {
    let freed = connection.execute(
        "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL \
         WHERE lease_owner IS NOT NULL",
        [],
    )?;
    Ok(freed as u64)
}

pub(super) fn retry_dead(
    connection: &Connection,
    order_id: Option<&str>,
    destination: Option<Destination>,
    now_ms: i64,
) -> Result<u64, StorageError> {
    let changed = connection.execute(
        "UPDATE deliveries SET state = 'pending', next_attempt_at = ?1, \
         budget_started_at = ?1, updated_at = ?1, lease_owner = NULL, lease_until = NULL \
         WHERE state = 'dead' AND (?2 IS NULL OR order_id = ?2) \
           AND (?3 IS NULL OR destination = ?3)",
        params![now_ms, order_id, destination.map(Destination::as_str)],
    )?;
    Ok(changed as u64)
}

pub(super) fn retry_now(
    connection: &Connection,
    destination: Destination,
    now_ms: i64,
) -> Result<u64, StorageError> {
    let changed = connection.execute(
        "UPDATE deliveries SET next_attempt_at = ?2, updated_at = ?2 \
         WHERE destination = ?1 AND state = 'retrying' AND next_attempt_at > ?2 \
           AND (lease_until IS NULL OR lease_until <= ?2)",
        params![destination.as_str(), now_ms],
    )?;
    Ok(changed as u64)
}

/// A PRAGMA's value as text (journal_mode answers text, synchronous a number).
pub(super) fn pragma(connection: &Connection, query: &'static str) -> Result<String, StorageError> {
    Ok(connection.query_row(query, [], |row| {
        Ok(match row.get_ref(0)? {
            rusqlite::types::ValueRef::Integer(number) => number.to_string(),
            other => other.as_str()?.to_owned(),
        })
    })?)
}
