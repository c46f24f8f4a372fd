//! The SQLite outbox's tables and indexes, applied by the writing connection when it opens a
//! file (created, or written by an earlier version).
//!
//! Every index is a B-tree each write keeps up to date, so the file keeps only those a query
//! needs, sized for the rows that query reads:
//! - `deliveries_waiting` holds only rows waiting for an attempt. A claim reads it in due
//!   order and stops at its limit: no sort of every due row, and a delivered row leaves it
//!   for good instead of moving inside it.
//! - `deliveries_dead` holds only dead letters, for the operator's list and retry.
//! - `delivery_counts` is the queue depth (`/metrics`), kept by the writer in the same
//!   transaction as each change ([`super::counts`]), so reading it costs a few rows rather than
//!   a scan of every delivery ever stored.
//! - An order's rows are found through the primary key (one per destination).

use rusqlite::{Connection, TransactionBehavior};

use crate::outbox::StorageError;

const TABLES: &str = r#"
CREATE TABLE IF NOT EXISTS checkouts (
    order_id      TEXT PRIMARY KEY NOT NULL,
    checkout_json TEXT NOT NULL,
    cookie_id     TEXT,
    accepted_at   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    destination       TEXT NOT NULL,
    order_id          TEXT NOT NULL REFERENCES checkouts(order_id),
    state             TEXT NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   INTEGER NOT NULL,
    budget_started_at INTEGER NOT NULL,
    last_error        TEXT,
    vendor_status     INTEGER,
    vendor_response   TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    delivered_at      INTEGER,
    PRIMARY KEY (destination, order_id)
);
CREATE INDEX IF NOT EXISTS deliveries_waiting ON deliveries (destination, next_attempt_at)
    WHERE state IN ('pending', 'retrying');
CREATE INDEX IF NOT EXISTS deliveries_dead ON deliveries (updated_at, order_id)
    WHERE state = 'dead';
-- Files written before these indexes: a full due index and an index by order id, which cost
-- every write a B-tree more and served nothing the ones above do not.
DROP INDEX IF EXISTS deliveries_due;
DROP INDEX IF EXISTS deliveries_by_order;
"#;

const COUNTS: &str = r#"
CREATE TABLE IF NOT EXISTS delivery_counts (
    destination TEXT NOT NULL,
    state       TEXT NOT NULL,
    n           INTEGER NOT NULL,
    PRIMARY KEY (destination, state)
) WITHOUT ROWID;
-- Files written before the writer kept the counts ([`super::counts`]) kept them by triggers.
DROP TRIGGER IF EXISTS delivery_counted;
DROP TRIGGER IF EXISTS delivery_recounted;
DROP TRIGGER IF EXISTS delivery_uncounted;
"#;

/// Brings the file to this version's schema, in one transaction (another process opening the
/// same file at once waits, then finds it done).
pub(super) fn apply(connection: &mut Connection) -> Result<(), StorageError> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let counted_before: bool = transaction.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'delivery_counts')",
        [],
        |row| row.get(0),
    )?;
    transaction.execute_batch(TABLES)?;
    transaction.execute_batch(COUNTS)?;
    if !counted_before {
        // A file from before the counts: count what it holds once; the writer keeps it since.
        transaction.execute(
            "INSERT INTO delivery_counts (destination, state, n) \
             SELECT destination, state, COUNT(*) FROM deliveries GROUP BY destination, state",
            [],
        )?;
    }
    transaction.commit()?;
    Ok(())
}
