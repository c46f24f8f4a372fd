//! The SQLite outbox's tables and indexes, applied by the writing connection when it opens a
//! file (created, or written by an earlier version, which is brought to this one).
//!
//! **The same tables as PostgreSQL's** ([`super::super::postgres`]): `ordersync_checkouts`, a
//! row per order (its checkout; once pruned, only the memory of its id), and
//! `ordersync_deliveries`, a row per (destination, order) with its state, its retry schedule and
//! its lease (`lease_owner`, `lease_until`). The columns, keys and indexes are PostgreSQL's, in
//! SQLite's types; the one difference is the arrival number `id`, which is the rowid here
//! (`INTEGER PRIMARY KEY`) and an identity column there. A test compares the two backends'
//! columns (`the_backends_keep_the_same_tables_and_columns`).
//!
//! The file's `user_version` says which schema it holds:
//! - 0: written before structured delivery errors (or before the relay set it);
//! - 1 ([`ONE_ROW_PER_ORDER`]): one wide `orders` row per order, with each destination's
//!   delivery in columns named after it, `delivery_counts` and `pruned_orders` beside it, and
//!   leases in the serving process's memory;
//! - 2 ([`SHARED_TABLES`]): this one.
//!
//! An earlier file is moved into the shared tables in the same transaction that creates them,
//! every state, attempt count, error, vendor answer and time kept.

use rusqlite::{Connection, TransactionBehavior};

use super::super::{Destination, StorageError};

/// The tables and indexes, as PostgreSQL's after its migrations ([`super::super::postgres`]).
const TABLES: &str = r#"
CREATE TABLE IF NOT EXISTS ordersync_checkouts (
    order_id      TEXT PRIMARY KEY NOT NULL,
    -- NULL once the order is pruned: the row stays as the memory of its order id.
    checkout_json TEXT,
    cookie_id     TEXT,
    accepted_at   INTEGER NOT NULL,
    delivered_at  INTEGER,
    pruned_at     INTEGER,
    CONSTRAINT ordersync_checkouts_pruned_without_checkout
        CHECK ((pruned_at IS NULL) = (checkout_json IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS ordersync_checkouts_held ON ordersync_checkouts (accepted_at)
    WHERE pruned_at IS NULL;
CREATE INDEX IF NOT EXISTS ordersync_checkouts_remembered ON ordersync_checkouts (accepted_at)
    WHERE pruned_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS ordersync_deliveries (
    -- Arrival order, so due rows are claimed first in, first out.
    id                INTEGER PRIMARY KEY,
    destination       TEXT NOT NULL CHECK (destination IN ('cibler', 'citrusad')),
    order_id          TEXT NOT NULL REFERENCES ordersync_checkouts (order_id),
    state             TEXT NOT NULL
                      CHECK (state IN ('pending', 'retrying', 'delivered', 'dead', 'skipped')),
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   INTEGER NOT NULL,
    budget_started_at INTEGER NOT NULL,
    lease_owner       TEXT,
    lease_until       INTEGER,
    last_error        TEXT,
    vendor_status     INTEGER,
    vendor_response   TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    delivered_at      INTEGER,
    UNIQUE (destination, order_id)
);
-- Only rows still to deliver are indexed for claiming, so the claim stays cheap however many
-- delivered rows accumulate.
CREATE INDEX IF NOT EXISTS ordersync_deliveries_due
    ON ordersync_deliveries (destination, next_attempt_at, id)
    WHERE state IN ('pending', 'retrying');
CREATE INDEX IF NOT EXISTS ordersync_deliveries_by_order ON ordersync_deliveries (order_id);
CREATE INDEX IF NOT EXISTS ordersync_deliveries_dead ON ordersync_deliveries (updated_at, order_id)
    WHERE state = 'dead';
"#;

/// `user_version` of a file whose delivery errors no longer hold the vendor's answer
/// ([`errors_without_answers`]), in one wide row per order.
const ONE_ROW_PER_ORDER: i32 = 1;

/// `user_version` of a file in the shared tables ([`TABLES`]).
pub(super) const SHARED_TABLES: i32 = 2;

/// Brings the file to this version's schema, in one transaction (another process opening the
/// same file at once waits, then finds it done).
pub(super) fn apply(connection: &mut Connection) -> Result<(), StorageError> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i32 = transaction.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version > SHARED_TABLES {
        return Err(StorageError::SchemaTooNew {
            found: version,
            known: SHARED_TABLES,
        });
    }
    let table_exists = |name: &str| -> rusqlite::Result<bool> {
        transaction.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
            [name],
            |row| row.get(0),
        )
    };
    let two_tables = table_exists("deliveries")? && table_exists("checkouts")?;
    let one_row_per_order = table_exists("orders")?;
    let pruned_orders = table_exists("pruned_orders")?;
    transaction.execute_batch(TABLES)?;
    if two_tables {
        transaction.execute_batch(FROM_TWO_TABLES)?;
    }
    if one_row_per_order {
        transaction.execute_batch(&from_one_row_per_order())?;
    }
    if pruned_orders {
        transaction.execute_batch(FROM_PRUNED_ORDERS)?;
    }
    transaction.execute_batch(EARLIER_TABLES_DROPPED)?;
    if version < ONE_ROW_PER_ORDER {
        transaction.execute_batch(ERRORS_WITHOUT_ANSWERS)?;
    }
    transaction.pragma_update(None, "user_version", SHARED_TABLES)?;
    transaction.commit()?;
    Ok(())
}

/// The two-table schema of the first releases (`checkouts`, and `deliveries` with a row per
/// destination) is already this one's shape under other names. Leases are not carried over:
/// nothing serves a file while it is brought up to date.
const FROM_TWO_TABLES: &str = r#"
INSERT INTO ordersync_checkouts (order_id, checkout_json, cookie_id, accepted_at)
    SELECT order_id, checkout_json, cookie_id, accepted_at FROM checkouts ORDER BY rowid;
INSERT INTO ordersync_deliveries (destination, order_id, state, attempts, next_attempt_at,
        budget_started_at, last_error, vendor_status, vendor_response, created_at, updated_at,
        delivered_at)
    SELECT destination, order_id, state, attempts, next_attempt_at, budget_started_at,
        last_error, vendor_status, vendor_response, created_at, updated_at, delivered_at
    FROM deliveries ORDER BY rowid;
DROP TABLE deliveries;
DROP TABLE checkouts;
"#;

/// One wide row per order (`orders`, `user_version` 1): each destination's columns become that
/// destination's delivery row, in the order the orders arrived.
fn from_one_row_per_order() -> String {
    let deliveries: Vec<String> = Destination::ALL
        .into_iter()
        .enumerate()
        .map(|(position, d)| {
            format!(
                "SELECT rowid AS arrival, {position} AS position, '{d}' AS destination, order_id, \
                 {d}_state AS state, {d}_attempts AS attempts, \
                 {d}_next_attempt_at AS next_attempt_at, \
                 {d}_budget_started_at AS budget_started_at, {d}_last_error AS last_error, \
                 {d}_vendor_status AS vendor_status, {d}_vendor_response AS vendor_response, \
                 accepted_at AS created_at, {d}_updated_at AS updated_at, \
                 {d}_delivered_at AS delivered_at FROM orders"
            )
        })
        .collect();
    format!(
        "INSERT INTO ordersync_checkouts (order_id, checkout_json, cookie_id, accepted_at)\n    \
         SELECT order_id, checkout_json, cookie_id, accepted_at FROM orders ORDER BY rowid;\n\
         INSERT INTO ordersync_deliveries (destination, order_id, state, attempts, \
         next_attempt_at, budget_started_at, last_error, vendor_status, vendor_response, \
         created_at, updated_at, delivered_at)\n    \
         SELECT destination, order_id, state, attempts, next_attempt_at, budget_started_at, \
         last_error, vendor_status, vendor_response, created_at, updated_at, delivered_at \
         FROM ({}) ORDER BY arrival, position;\n\
         DROP TABLE orders;\n",
        deliveries.join(" UNION ALL ")
    )
}

/// The order ids remembered after pruning (`pruned_orders`, `user_version` 1) become checkout
/// rows without a checkout, as pruning leaves them now.
const FROM_PRUNED_ORDERS: &str = r#"
INSERT INTO ordersync_checkouts (order_id, checkout_json, cookie_id, accepted_at, delivered_at,
        pruned_at)
    SELECT order_id, NULL, NULL, accepted_at, delivered_at, pruned_at FROM pruned_orders
    ORDER BY accepted_at
    ON CONFLICT (order_id) DO NOTHING;
DROP TABLE pruned_orders;
"#;

/// What earlier schemas kept beside their tables: the queue depth's counts (by triggers, then
/// by the writer), which a `COUNT` now reads from the deliveries as on PostgreSQL.
const EARLIER_TABLES_DROPPED: &str = r#"
DROP TRIGGER IF EXISTS delivery_counted;
DROP TRIGGER IF EXISTS delivery_recounted;
DROP TRIGGER IF EXISTS delivery_uncounted;
DROP TABLE IF EXISTS delivery_counts;
"#;

/// Rewrites the delivery errors stored by versions before structured errors,
/// `HTTP 400: <the vendor's answer>` (also inside `retry budget exhausted ...; last: HTTP 503:
/// ...` and `discarded by an operator after: ...`), as this version stores them: the text up
/// to the status, the answer in `vendor_response` unless that already holds one (a refusal's
/// full answer). The same rewrite as PostgreSQL's migration 3. Positions are 1-based: the
/// status is at `at + 5`, its ": " at `at + 8`, the answer from `at + 10`.
const ERRORS_WITHOUT_ANSWERS: &str = r#"
UPDATE ordersync_deliveries
SET vendor_response = COALESCE(vendor_response,
        substr(last_error, instr(last_error, 'HTTP ') + 10)),
    last_error = substr(last_error, 1, instr(last_error, 'HTTP ') + 7)
WHERE instr(last_error, 'HTTP ') > 0
    AND substr(last_error, instr(last_error, 'HTTP ') + 5, 5) GLOB '[0-9][0-9][0-9]: ';
"#;
