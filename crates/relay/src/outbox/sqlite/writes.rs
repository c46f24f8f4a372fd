//! The SQL of the SQLite outbox's writes, run by the writer thread ([`super::writer`]) inside
//! its group transaction. Plain blocking `rusqlite` calls on cached prepared statements: every
//! statement runs on the thread that owns the connection, so a write costs no hop between
//! threads (with sqlx, each statement was a round trip to the connection's worker thread, and
//! those wake-ups were most of the relay's ingest cost).

use std::sync::Arc;

use rusqlite::{params, Connection};

use super::super::{
    ClaimedDelivery, DeliveryState, Destination, InitialState, NewCheckout, Outcome, Recorded,
    StorageError,
};
use super::counts::CountChanges;
use super::leases::{Lease, Leases};

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
    counts: &mut CountChanges,
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
        counts.moved(*destination, None, state);
    }
    Ok(Stored::New)
}

/// The waiting rows of a destination due by a time, oldest due first, with their checkouts.
const DUE_IN_ORDER: &str = "SELECT d.order_id, d.attempts, d.budget_started_at, \
      c.checkout_json, c.cookie_id, c.order_id IS NOT NULL, d.state \
    FROM deliveries AS d LEFT JOIN checkouts AS c ON c.order_id = d.order_id \
    WHERE d.destination = ?1 AND d.state IN ('pending', 'retrying') \
      AND d.next_attempt_at <= ?2 \
    ORDER BY d.next_attempt_at, d.rowid";

/// The waiting rows of a destination not due yet at a time.
const WAITING_LATER: &str = "SELECT rowid, order_id FROM deliveries \
    WHERE destination = ?1 AND state IN ('pending', 'retrying') AND next_attempt_at > ?2";

/// Leases up to `limit` rows of `destination` due by `due_by` and free at `now_ms` to
/// `lease_owner` until `lease_until`, oldest due first, each with its checkout.
///
/// A read: the lease is kept in [`Leases`], not written into the row. The rows come in the
/// order of the `deliveries_waiting` index, so the scan stops after `limit` free rows (plus
/// the few held ones it steps over) instead of sorting every due row.
#[allow(clippy::too_many_arguments)]
pub(super) fn claim_due(
    connection: &Connection,
    leases: &mut Leases,
    destination: Destination,
    limit: u32,
    lease_owner: &str,
    lease_until: i64,
    now_ms: i64,
    due_by: i64,
) -> Result<Vec<ClaimedDelivery>, StorageError> {
    let mut due = connection.prepare_cached(DUE_IN_ORDER)?;
    let mut rows = due.query(params![destination.as_str(), due_by])?;
    let mut claimed = Vec::new();
    let mut claimed_in = Vec::new();
    while claimed.len() < limit as usize {
        let Some(row) = rows.next()? else { break };
        let order_id: String = row.get(0)?;
        if leases.is_held(destination, &order_id, now_ms) {
            continue;
        }
        if !row.get::<_, bool>(5)? {
            return Err(StorageError::Corrupt(format!(
                "delivery of order {order_id} has no checkout"
            )));
        }
        claimed_in.push(row.get::<_, String>(6)?.parse::<DeliveryState>()?);
        claimed.push(ClaimedDelivery {
            destination,
            attempts: row.get::<_, i64>(1)? as u32,
            budget_started_at: row.get(2)?,
            checkout_json: row.get(3)?,
            cookie_id: row.get(4)?,
            order_id,
        });
    }
    let owner: Arc<str> = Arc::from(lease_owner);
    for (delivery, state) in claimed.iter().zip(claimed_in) {
        let lease = Lease::new(&owner, lease_until, state);
        leases.take(destination, delivery.order_id.clone(), lease);
    }
    Ok(claimed)
}

/// Records one outcome and ends the lease. True when `lease_owner` still held the row; if
/// not, the row is left as it is.
#[allow(clippy::too_many_arguments)]
pub(super) fn record_one(
    connection: &Connection,
    leases: &mut Leases,
    counts: &mut CountChanges,
    destination: Destination,
    order_id: &str,
    lease_owner: &str,
    outcome: Outcome,
    now_ms: i64,
) -> Result<bool, StorageError> {
    let Some(claimed_in) = leases.end(destination, order_id, lease_owner) else {
        return Ok(false);
    };
    let recorded = Recorded::from_outcome(outcome, now_ms);
    // `state = ?10`: only a row still in the state it was claimed in (nothing else changes a
    // leased row's state), so the counts move from the state the row really left.
    let changed = connection
        .prepare_cached(
            "UPDATE deliveries SET state = ?1, attempts = attempts + 1, next_attempt_at = ?2, \
             last_error = COALESCE(?3, last_error), vendor_status = ?4, \
             vendor_response = COALESCE(?5, vendor_response), delivered_at = ?6, \
             updated_at = ?7 \
             WHERE destination = ?8 AND order_id = ?9 AND state = ?10",
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
            claimed_in.as_str(),
        ])?;
    if changed == 1 {
        counts.moved(destination, Some(claimed_in), recorded.state);
    }
    Ok(changed == 1)
}

pub(super) fn retry_dead(
    connection: &Connection,
    counts: &mut CountChanges,
    order_id: Option<&str>,
    destination: Option<Destination>,
    now_ms: i64,
) -> Result<u64, StorageError> {
    let mut revive = connection.prepare_cached(
        "UPDATE deliveries SET state = 'pending', next_attempt_at = ?1, \
         budget_started_at = ?1, updated_at = ?1 \
         WHERE state = 'dead' AND (?2 IS NULL OR order_id = ?2) \
           AND (?3 IS NULL OR destination = ?3) \
         RETURNING destination",
    )?;
    let mut revived = revive.query(params![
        now_ms,
        order_id,
        destination.map(Destination::as_str)
    ])?;
    let mut changed = 0;
    while let Some(row) = revived.next()? {
        let destination: Destination = row.get::<_, String>(0)?.parse()?;
        counts.moved(
            destination,
            Some(DeliveryState::Dead),
            DeliveryState::Pending,
        );
        changed += 1;
    }
    Ok(changed)
}

/// Makes every waiting row of `destination` due at `now_ms`, except those in flight (their
/// outcome is about to set their next attempt anyway). Only retrying rows wait past their
/// time (a pending row is due from the start); `state IN (...)` lets the query read the
/// waiting rows' index.
pub(super) fn retry_now(
    connection: &Connection,
    leases: &Leases,
    destination: Destination,
    now_ms: i64,
) -> Result<u64, StorageError> {
    let mut waiting = connection.prepare_cached(WAITING_LATER)?;
    let free: Vec<i64> = waiting
        .query_map(params![destination.as_str(), now_ms], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
        })?
        .filter_map(|row| match row {
            Ok((_, order_id)) if leases.is_held(destination, &order_id, now_ms) => None,
            Ok((rowid, _)) => Some(Ok(rowid)),
            Err(error) => Some(Err(error)),
        })
        .collect::<Result<_, _>>()?;
    let mut due_now = connection.prepare_cached(
        "UPDATE deliveries SET next_attempt_at = ?2, updated_at = ?2 WHERE rowid = ?1",
    )?;
    for rowid in &free {
        due_now.execute(params![rowid, now_ms])?;
    }
    Ok(free.len() as u64)
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

#[cfg(test)]
mod tests {
    use rusqlite::types::Null;

    use super::*;

    /// SQLite's plan for `sql`, one line per step.
    fn plan(sql: &str) -> String {
        let mut connection = Connection::open_in_memory().unwrap();
        super::super::schema::apply(&mut connection).unwrap();
        let mut explain = connection
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        let unbound = std::iter::repeat_n(Null, explain.parameter_count());
        explain
            .query_map(rusqlite::params_from_iter(unbound), |row| {
                row.get::<_, String>(3)
            })
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
            .join("\n")
    }

    /// A claim must stream the waiting rows in due order and stop at its limit: a sort would
    /// read (and join the checkout of) every due row first, for each claim of a long backlog.
    #[test]
    fn claims_read_the_waiting_rows_in_due_order_without_sorting() {
        let plan = plan(DUE_IN_ORDER);
        assert!(plan.contains("USING INDEX deliveries_waiting"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }

    #[test]
    fn rows_waiting_later_are_found_through_the_waiting_rows_index() {
        let plan = plan(WAITING_LATER);
        assert!(plan.contains("USING INDEX deliveries_waiting"), "{plan}");
    }
}
