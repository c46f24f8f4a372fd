//! The SQL of the SQLite outbox's writes, run by the writer thread ([`super::writer`]) inside
//! its group transaction. Plain blocking `rusqlite` calls on cached prepared statements: every
//! statement runs on the thread that owns the connection, so a write costs no hop between
//! threads (with sqlx, each statement was a round trip to the connection's worker thread, and
//! those wake-ups were most of the relay's ingest cost).
//!
//! A destination's delivery lives in its own columns of the order's row ([`super::schema`]), so
//! each statement about one destination exists once per destination ([`PER_DESTINATION`]).

use std::fmt::Write as _;
use std::sync::{Arc, LazyLock};

use rusqlite::types::Null;
use rusqlite::{params, Connection};

use super::super::{
    ClaimedDelivery, DeliveryState, Destination, InitialState, NewCheckout, Outcome, PrunedOrder,
    Recorded, StorageError,
};
use super::counts::CountChanges;
use super::leases::{Lease, Leases};
use super::pruning;

/// Whether [`insert`] stored the checkout or found its order id already stored (or pruned
/// and still remembered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Stored {
    New,
    Repeat,
    Pruned(PrunedOrder),
}

/// An order, every destination's delivery with it: `?1` order id, `?2` checkout, `?3` cookie,
/// `?4` now; then per destination, in [`Destination::ALL`]'s order, its state and the reason
/// it is skipped (or NULL).
static INSERT_ORDER: LazyLock<String> = LazyLock::new(|| {
    let mut columns = String::from("order_id, checkout_json, cookie_id, accepted_at");
    let mut values = String::from("?1, ?2, ?3, ?4");
    for (i, d) in Destination::ALL.into_iter().enumerate() {
        let (state, reason) = (5 + 2 * i, 6 + 2 * i);
        let _ = write!(
            columns,
            ", {d}_state, {d}_next_attempt_at, {d}_budget_started_at, {d}_last_error, {d}_updated_at"
        );
        let _ = write!(values, ", ?{state}, ?4, ?4, ?{reason}, ?4");
    }
    format!("INSERT INTO orders ({columns}) VALUES ({values}) ON CONFLICT (order_id) DO NOTHING")
});

/// Stores a checkout and its destinations once. A repeat (stored earlier, or earlier in the
/// same group transaction, or pruned since and still remembered) changes nothing.
pub(super) fn insert(
    connection: &Connection,
    counts: &mut CountChanges,
    checkout: &NewCheckout,
    now_ms: i64,
) -> Result<Stored, StorageError> {
    let initial = initial_states(checkout)?;
    if let Some(pruned) = pruning::pruned(connection, &checkout.order_id)? {
        return Ok(Stored::Pruned(pruned));
    }
    let mut insert = connection.prepare_cached(&INSERT_ORDER)?;
    insert.raw_bind_parameter(1, &checkout.order_id)?;
    insert.raw_bind_parameter(2, &checkout.checkout_json)?;
    insert.raw_bind_parameter(3, &checkout.cookie_id)?;
    insert.raw_bind_parameter(4, now_ms)?;
    for (i, (state, reason)) in initial.iter().enumerate() {
        insert.raw_bind_parameter(5 + 2 * i, state.as_str())?;
        match reason {
            Some(reason) => insert.raw_bind_parameter(6 + 2 * i, reason)?,
            None => insert.raw_bind_parameter(6 + 2 * i, Null)?,
        }
    }
    if insert.raw_execute()? == 0 {
        return Ok(Stored::Repeat);
    }
    for (destination, (state, _)) in Destination::ALL.into_iter().zip(&initial) {
        counts.moved(destination, None, *state);
    }
    Ok(Stored::New)
}

/// Each destination's first state and skip reason, in [`Destination::ALL`]'s order. Every
/// destination must be planned exactly once (the acceptance plans each; anything else is a bug).
fn initial_states(
    checkout: &NewCheckout,
) -> Result<Vec<(DeliveryState, Option<&str>)>, StorageError> {
    Destination::ALL
        .into_iter()
        .map(|destination| {
            let mut planned = checkout
                .destinations
                .iter()
                .filter(|(d, _)| *d == destination);
            match (planned.next(), planned.next()) {
                (Some((_, InitialState::Pending)), None) => Ok((DeliveryState::Pending, None)),
                (Some((_, InitialState::Skipped { reason })), None) => {
                    Ok((DeliveryState::Skipped, Some(reason.as_str())))
                }
                _ => Err(StorageError::Corrupt(format!(
                    "order {} does not plan {destination} exactly once",
                    checkout.order_id
                ))),
            }
        })
        .collect()
}

/// The statements about one destination's delivery, with its column names in them.
struct DestinationSql {
    /// The waiting orders due by `?1`, oldest due first (the waiting index's order: no sort).
    due_in_order: String,
    /// The waiting orders not due yet at `?1`.
    waiting_later: String,
    /// Makes the order of rowid `?1` due at `?2`.
    due_now: String,
    /// An outcome, for the order `?8` still in the state `?9` it was claimed in.
    record: String,
    /// Dead letters (of order `?2`, when not NULL) back to pending at `?1`.
    revive: String,
}

impl DestinationSql {
    fn new(d: Destination) -> Self {
        DestinationSql {
            due_in_order: format!(
                "SELECT order_id, {d}_attempts, {d}_budget_started_at, checkout_json, cookie_id, \
                 {d}_state FROM orders \
                 WHERE {d}_state IN ('pending', 'retrying') AND {d}_next_attempt_at <= ?1 \
                 ORDER BY {d}_next_attempt_at, rowid"
            ),
            waiting_later: format!(
                "SELECT rowid, order_id FROM orders \
                 WHERE {d}_state IN ('pending', 'retrying') AND {d}_next_attempt_at > ?1"
            ),
            due_now: format!(
                "UPDATE orders SET {d}_next_attempt_at = ?2, {d}_updated_at = ?2 WHERE rowid = ?1"
            ),
            record: format!(
                "UPDATE orders SET {d}_state = ?1, {d}_attempts = {d}_attempts + 1, \
                 {d}_next_attempt_at = ?2, {d}_last_error = COALESCE(?3, {d}_last_error), \
                 {d}_vendor_status = ?4, {d}_vendor_response = COALESCE(?5, {d}_vendor_response), \
                 {d}_delivered_at = ?6, {d}_updated_at = ?7 \
                 WHERE order_id = ?8 AND {d}_state = ?9"
            ),
            revive: format!(
                "UPDATE orders SET {d}_state = 'pending', {d}_next_attempt_at = ?1, \
                 {d}_budget_started_at = ?1, {d}_updated_at = ?1 \
                 WHERE {d}_state = 'dead' AND (?2 IS NULL OR order_id = ?2)"
            ),
        }
    }
}

/// Every destination's statements, by `destination as usize`.
static PER_DESTINATION: LazyLock<[DestinationSql; Destination::ALL.len()]> =
    LazyLock::new(|| Destination::ALL.map(DestinationSql::new));

fn sql(destination: Destination) -> &'static DestinationSql {
    &PER_DESTINATION[destination as usize]
}

/// Leases up to `limit` orders waiting at `destination`, due by `due_by` and free at `now_ms`,
/// to `lease_owner` until `lease_until`, oldest due first, each with its checkout.
///
/// A read: the lease is kept in [`Leases`], not written into the row. The rows come in the
/// order of the destination's waiting index, so the scan stops after `limit` free rows (plus
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
    let mut due = connection.prepare_cached(&sql(destination).due_in_order)?;
    let mut rows = due.query(params![due_by])?;
    let owner: Arc<str> = Arc::from(lease_owner);
    let mut claimed = Vec::new();
    while claimed.len() < limit as usize {
        let Some(row) = rows.next()? else { break };
        let order_id: String = row.get(0)?;
        if leases.is_held(destination, &order_id, now_ms) {
            continue;
        }
        // Taken at once: a claim that fails later is undone with its transaction.
        let state: DeliveryState = row.get::<_, String>(5)?.parse()?;
        leases.take(
            destination,
            order_id.clone(),
            Lease::new(&owner, lease_until, state),
        );
        claimed.push(ClaimedDelivery {
            destination,
            attempts: row.get::<_, i64>(1)? as u32,
            budget_started_at: row.get(2)?,
            checkout_json: row.get(3)?,
            cookie_id: row.get(4)?,
            order_id,
        });
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
    // Only a row still in the state it was claimed in (nothing else changes a leased row's
    // state), so the counts move from the state the row really left.
    let changed = connection
        .prepare_cached(&sql(destination).record)?
        .execute(params![
            recorded.state.as_str(),
            recorded.next_attempt_at,
            recorded.error,
            recorded.vendor_status,
            recorded.vendor_response,
            recorded.delivered_at,
            now_ms,
            order_id,
            claimed_in.as_str(),
        ])?;
    if changed == 1 {
        counts.moved(destination, Some(claimed_in), recorded.state);
    }
    Ok(changed == 1)
}

/// Dead letters back to pending, due at `now_ms` with a fresh retry budget: every one, or
/// those of one order and/or one destination.
pub(super) fn retry_dead(
    connection: &Connection,
    counts: &mut CountChanges,
    order_id: Option<&str>,
    destination: Option<Destination>,
    now_ms: i64,
) -> Result<u64, StorageError> {
    let revive = |d| sql(d).revive.as_str();
    let selected = DeadSelection {
        order_id,
        destination,
    };
    change_dead(
        connection,
        counts,
        selected,
        revive,
        DeliveryState::Pending,
        now_ms,
    )
}

/// Which dead letters an operator's command takes: every one, or those of one order and/or
/// one destination.
#[derive(Debug, Clone, Copy)]
pub(super) struct DeadSelection<'a> {
    pub order_id: Option<&'a str>,
    pub destination: Option<Destination>,
}

/// Moves the selected dead letters to `to` by each destination's `statement` (parameters:
/// `?1` now, `?2` the order id or NULL), counting each row moved.
pub(super) fn change_dead(
    connection: &Connection,
    counts: &mut CountChanges,
    selected: DeadSelection<'_>,
    statement: impl Fn(Destination) -> &'static str,
    to: DeliveryState,
    now_ms: i64,
) -> Result<u64, StorageError> {
    let mut moved = 0;
    for d in Destination::ALL {
        if selected.destination.is_some_and(|only| only != d) {
            continue;
        }
        let changed = connection
            .prepare_cached(statement(d))?
            .execute(params![now_ms, selected.order_id])?;
        for _ in 0..changed {
            counts.moved(d, Some(DeliveryState::Dead), to);
        }
        moved += changed as u64;
    }
    Ok(moved)
}

/// Makes every order waiting at `destination` due at `now_ms`, except those in flight (their
/// outcome is about to set their next attempt anyway). Only retrying orders wait past their
/// time (a pending one is due from the start); `state IN (...)` lets the query read the
/// waiting index.
pub(super) fn retry_now(
    connection: &Connection,
    leases: &Leases,
    destination: Destination,
    now_ms: i64,
) -> Result<u64, StorageError> {
    let mut waiting = connection.prepare_cached(&sql(destination).waiting_later)?;
    let free: Vec<i64> = waiting
        .query_map(params![now_ms], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
        })?
        .filter_map(|row| match row {
            Ok((_, order_id)) if leases.is_held(destination, &order_id, now_ms) => None,
            Ok((rowid, _)) => Some(Ok(rowid)),
            Err(error) => Some(Err(error)),
        })
        .collect::<Result<_, _>>()?;
    let mut due_now = connection.prepare_cached(&sql(destination).due_now)?;
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

    /// A claim must stream the waiting rows in due order and stop at its limit: a sort would
    /// read every due row first, for each claim of a long backlog.
    #[test]
    fn claims_read_the_waiting_rows_in_due_order_without_sorting() {
        for d in Destination::ALL {
            let plan = plan(&sql(d).due_in_order);
            assert!(plan.contains(&format!("USING INDEX {d}_waiting")), "{plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{plan}");
        }
    }

    #[test]
    fn rows_waiting_later_are_found_through_the_waiting_rows_index() {
        for d in Destination::ALL {
            let plan = plan(&sql(d).waiting_later);
            assert!(plan.contains(&format!("USING INDEX {d}_waiting")), "{plan}");
        }
    }

    #[test]
    fn dead_letters_of_a_destination_are_found_through_its_dead_index() {
        for d in Destination::ALL {
            let plan = plan(&sql(d).revive);
            assert!(
                plan.contains(&format!("{d}_dead"))
                    || plan.contains("PRIMARY KEY")
                    || plan.contains("sqlite_autoindex_orders"),
                "{plan}"
            );
        }
    }
}
