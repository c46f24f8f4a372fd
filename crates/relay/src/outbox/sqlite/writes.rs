//! The SQL of the SQLite outbox's writes, run by the writer thread ([`super::writer`]) inside
//! its group transaction. Plain blocking `rusqlite` calls on cached prepared statements: every
//! statement runs on the thread that owns the connection, so a write costs no hop between
//! threads (with sqlx, each statement was a round trip to the connection's worker thread, and
//! those wake-ups were most of the relay's ingest cost).
//!
//! The statements are PostgreSQL's ([`super::super::postgres`]) on the same tables, with the
//! same lease rule: a claim stamps `lease_owner` and `lease_until` on the rows it takes, a row
//! is free once its lease has run out, and only the lease's owner records an outcome.

use rusqlite::{params, Connection};

use super::super::{
    stored, ClaimedDelivery, DeadLetterAction, DeliveryState, Destination, InitialState,
    NewCheckout, Outcome, PrunedOrder, Recorded, StorageError,
};
use super::reads;

/// Whether [`insert`] stored the checkout or found its order id already stored (or pruned
/// and still remembered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Stored {
    New,
    Repeat,
    Pruned(PrunedOrder),
}

/// Stores a checkout and its destinations once. A repeat (stored earlier, or earlier in the
/// same group transaction, or pruned since and still remembered) changes nothing.
pub(super) fn insert(
    connection: &Connection,
    checkout: &NewCheckout,
    now_ms: i64,
) -> Result<Stored, StorageError> {
    let stored = connection
        .prepare_cached(
            "INSERT INTO ordersync_checkouts (order_id, checkout_json, cookie_id, accepted_at) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (order_id) DO NOTHING",
        )?
        .execute(params![
            checkout.order_id,
            checkout.checkout_json,
            checkout.cookie_id,
            now_ms
        ])?;
    if stored == 0 {
        return Ok(match reads::pruned(connection, &checkout.order_id)? {
            Some(pruned) => Stored::Pruned(pruned),
            None => Stored::Repeat,
        });
    }
    let mut plan = connection.prepare_cached(
        "INSERT INTO ordersync_deliveries (destination, order_id, state, next_attempt_at, \
         budget_started_at, last_error, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?4, ?4)",
    )?;
    for (destination, initial) in &checkout.destinations {
        let (state, reason) = match initial {
            InitialState::Pending => (DeliveryState::Pending, None),
            InitialState::Skipped { reason } => (DeliveryState::Skipped, Some(reason)),
        };
        plan.execute(params![
            destination.as_str(),
            checkout.order_id,
            state.as_str(),
            now_ms,
            reason
        ])?;
    }
    Ok(Stored::New)
}

/// The rows of `?1` waiting, due by `?2` and free at `?3`, first due first (the due index's
/// order: no sort), at most `?4`, with their checkouts.
const DUE: &str = "SELECT d.id, d.order_id, d.attempts, d.budget_started_at, c.checkout_json, \
       c.cookie_id \
     FROM ordersync_deliveries AS d JOIN ordersync_checkouts AS c ON c.order_id = d.order_id \
     WHERE d.destination = ?1 AND d.state IN ('pending', 'retrying') \
       AND d.next_attempt_at <= ?2 AND (d.lease_until IS NULL OR d.lease_until <= ?3) \
     ORDER BY d.next_attempt_at, d.id LIMIT ?4";

/// Leases up to `limit` rows of `destination` waiting, due by `due_by` and free at `now_ms`, to
/// `lease_owner` until `lease_until`, first due first, each with its checkout.
#[allow(clippy::too_many_arguments)]
pub(super) fn claim(
    connection: &Connection,
    destination: Destination,
    limit: u32,
    lease_owner: &str,
    lease_until: i64,
    now_ms: i64,
    due_by: i64,
) -> Result<Vec<ClaimedDelivery>, StorageError> {
    let mut due = connection.prepare_cached(DUE)?;
    let mut rows = due.query(params![destination.as_str(), due_by, now_ms, limit])?;
    let mut lease = connection.prepare_cached(
        "UPDATE ordersync_deliveries SET lease_owner = ?2, lease_until = ?3 WHERE id = ?1",
    )?;
    let mut claimed = Vec::new();
    // Each row is leased as the scan reaches it. The update changes only the lease columns,
    // which no index holds, so the scan of the due index goes on over rows it has not changed.
    while let Some(row) = rows.next()? {
        let id: i64 = row.get("id")?;
        lease.execute(params![id, lease_owner, lease_until])?;
        claimed.push(stored::claimed(row, destination)?);
    }
    Ok(claimed)
}

/// Records one outcome and ends the lease. True when `lease_owner` still held the row; if
/// not, the row is left as it is.
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
            "UPDATE ordersync_deliveries SET state = ?1, attempts = attempts + 1, \
             next_attempt_at = ?2, last_error = COALESCE(?3, last_error), vendor_status = ?4, \
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
            lease_owner,
        ])?;
    Ok(changed == 1)
}

/// Frees `lease_owner`'s lease on a row without counting an attempt.
pub(super) fn release(
    connection: &Connection,
    destination: Destination,
    order_id: &str,
    lease_owner: &str,
) -> Result<(), StorageError> {
    connection
        .prepare_cached(
            "UPDATE ordersync_deliveries SET lease_owner = NULL, lease_until = NULL \
             WHERE destination = ?1 AND order_id = ?2 AND lease_owner = ?3",
        )?
        .execute(params![destination.as_str(), order_id, lease_owner])?;
    Ok(())
}

/// Frees every lease in the file: the relay that now serves it knows that any lease there was
/// taken by a relay process that is gone (a SQLite file is served by one process at a time),
/// so its deliveries resume at once instead of after their leases.
pub(super) fn free_every_lease(connection: &Connection) -> Result<u64, StorageError> {
    Ok(connection.execute(
        "UPDATE ordersync_deliveries SET lease_owner = NULL, lease_until = NULL \
         WHERE lease_owner IS NOT NULL",
        [],
    )? as u64)
}

/// The statement of an operator's action on dead letters: `?1` now, `?2` the order id and `?3`
/// the destination (either NULL: any).
const fn dead_letter_statement(action: DeadLetterAction) -> &'static str {
    match action {
        DeadLetterAction::Retry => {
            "UPDATE ordersync_deliveries SET state = 'pending', next_attempt_at = ?1, \
             budget_started_at = ?1, updated_at = ?1, lease_owner = NULL, lease_until = NULL \
             WHERE state = 'dead' AND (?2 IS NULL OR order_id = ?2) \
               AND (?3 IS NULL OR destination = ?3)"
        }
        DeadLetterAction::Discard => {
            "UPDATE ordersync_deliveries SET state = 'skipped', updated_at = ?1, \
             last_error = 'discarded by an operator' || COALESCE(' after: ' || last_error, ''), \
             lease_owner = NULL, lease_until = NULL \
             WHERE state = 'dead' AND (?2 IS NULL OR order_id = ?2) \
               AND (?3 IS NULL OR destination = ?3)"
        }
    }
}

/// Applies `action` to the dead letters selected (every one when neither an order nor a
/// destination narrows it); how many changed.
pub(super) fn change_dead(
    connection: &Connection,
    action: DeadLetterAction,
    order_id: Option<&str>,
    destination: Option<Destination>,
    now_ms: i64,
) -> Result<u64, StorageError> {
    Ok(connection
        .prepare_cached(dead_letter_statement(action))?
        .execute(params![
            now_ms,
            order_id,
            destination.map(Destination::as_str)
        ])? as u64)
}

/// Makes every retrying row of `destination` due at `now_ms`, except those in flight (their
/// outcome is about to set their next attempt anyway).
pub(super) fn retry_now(
    connection: &Connection,
    destination: Destination,
    now_ms: i64,
) -> Result<u64, StorageError> {
    Ok(connection
        .prepare_cached(
            "UPDATE ordersync_deliveries SET next_attempt_at = ?2, updated_at = ?2 \
             WHERE destination = ?1 AND state = 'retrying' AND next_attempt_at > ?2 \
               AND (lease_until IS NULL OR lease_until <= ?2)",
        )?
        .execute(params![destination.as_str(), now_ms])? as u64)
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
pub(super) mod tests {
    use rusqlite::types::Null;

    use super::*;

    /// SQLite's plan for `sql`, one line per step.
    pub(in crate::outbox::sqlite) fn plan(sql: &str) -> String {
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

    /// A claim must stream the due rows in order and stop at its limit: a sort would read
    /// every due row first, for each claim of a long backlog.
    #[test]
    fn claims_read_the_due_rows_in_order_without_sorting() {
        let plan = plan(DUE);
        assert!(
            plan.contains("USING INDEX ordersync_deliveries_due"),
            "{plan}"
        );
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }

    #[test]
    fn dead_letters_are_found_through_their_index() {
        let plan = plan(dead_letter_statement(DeadLetterAction::Retry));
        assert!(plan.contains("ordersync_deliveries_dead"), "{plan}");
    }
}
