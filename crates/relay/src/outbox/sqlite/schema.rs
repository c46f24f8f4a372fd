//! The SQLite outbox's tables and indexes, applied by the writing connection when it opens a
//! file (created, or written by an earlier version).
//!
//! **One row per order** (`orders`): the checkout, and for each destination its delivery state
//! in columns named after it (`cibler_state`, `citrusad_next_attempt_at`, ...; see
//! [`column`]). A hand-off is then one row and its index entries. It was three rows in two
//! tables (the checkout, then a delivery row per destination), eight B-trees to update instead
//! of four; at the group sizes of half load (10 to 30 hand-offs per commit) that wrote about
//! 1.8 times the WAL pages per hand-off, which the checkpointer then copied again, and cost the
//! writer about twice the time (`bench/ingest.py`, and a micro-benchmark in the commit).
//!
//! Every index is a B-tree each write keeps up to date, so the file keeps only those a query
//! needs, sized for the rows that query reads:
//! - `<destination>_waiting` holds only the orders waiting for an attempt at that destination.
//!   A claim reads it in due order and stops at its limit: no sort of every due row, and a
//!   delivered order leaves it for good instead of moving inside it.
//! - `<destination>_dead` holds only dead letters, for the operator's list and retry.
//! - `delivery_counts` is the queue depth (`/metrics`), kept by the writer in the same
//!   transaction as each change ([`super::counts`]), so reading it costs a few rows rather than
//!   a scan of every order ever stored.
//! - An order is found through the primary key.
//! - `pruned_orders` remembers the order ids of the orders pruned at the retention
//!   ([`super::super::retention`]): a hand-off looks its order id up there (one primary-key
//!   read) before storing it, and the pruner forgets them by `accepted_at`.

use std::fmt::Write as _;

use rusqlite::{Connection, TransactionBehavior};

use super::super::{Destination, StorageError};

/// The name of a destination's column: `cibler_state`, `citrusad_attempts`, ...
pub(super) fn column(destination: Destination, field: &str) -> String {
    format!("{destination}_{field}")
}

/// The `orders` table and its indexes.
fn orders() -> String {
    let mut sql = String::from(
        "CREATE TABLE IF NOT EXISTS orders (\n    order_id TEXT PRIMARY KEY NOT NULL,\n    \
         checkout_json TEXT NOT NULL,\n    cookie_id TEXT,\n    accepted_at INTEGER NOT NULL",
    );
    for d in Destination::ALL {
        let _ = write!(
            sql,
            ",\n    {d}_state TEXT NOT NULL,\n    {d}_attempts INTEGER NOT NULL DEFAULT 0,\n    \
             {d}_next_attempt_at INTEGER NOT NULL,\n    {d}_budget_started_at INTEGER NOT NULL,\n    \
             {d}_last_error TEXT,\n    {d}_vendor_status INTEGER,\n    {d}_vendor_response TEXT,\n    \
             {d}_updated_at INTEGER NOT NULL,\n    {d}_delivered_at INTEGER"
        );
    }
    sql.push_str("\n);\n");
    for d in Destination::ALL {
        let _ = write!(
            sql,
            "CREATE INDEX IF NOT EXISTS {d}_waiting ON orders ({d}_next_attempt_at)\n    \
             WHERE {d}_state IN ('pending', 'retrying');\n\
             CREATE INDEX IF NOT EXISTS {d}_dead ON orders ({d}_updated_at, order_id)\n    \
             WHERE {d}_state = 'dead';\n"
        );
    }
    sql
}

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

/// The order ids of pruned orders. WITHOUT ROWID: the order id is the key, so a remembered
/// order costs one B-tree entry (plus the expiry index) instead of a row and its key index.
const PRUNED: &str = r#"
CREATE TABLE IF NOT EXISTS pruned_orders (
    order_id     TEXT PRIMARY KEY NOT NULL,
    accepted_at  INTEGER NOT NULL,
    delivered_at INTEGER,
    pruned_at    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS pruned_orders_by_acceptance ON pruned_orders (accepted_at);
"#;

/// Brings the file to this version's schema, in one transaction (another process opening the
/// same file at once waits, then finds it done).
pub(super) fn apply(connection: &mut Connection) -> Result<(), StorageError> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let table_exists = |name: &str| -> rusqlite::Result<bool> {
        transaction.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
            [name],
            |row| row.get(0),
        )
    };
    let counted_before = table_exists("delivery_counts")?;
    let version: i32 = transaction.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let two_tables_before = table_exists("deliveries")?;
    transaction.execute_batch(&orders())?;
    transaction.execute_batch(COUNTS)?;
    transaction.execute_batch(PRUNED)?;
    if two_tables_before {
        transaction.execute_batch(&from_two_tables())?;
    }
    if !counted_before || two_tables_before {
        // Counted once from what the file holds; the writer keeps the counts since.
        transaction.execute_batch(&recount())?;
    }
    if version < ERRORS_WITHOUT_ANSWERS {
        transaction.execute_batch(&errors_without_answers())?;
        transaction.pragma_update(None, "user_version", ERRORS_WITHOUT_ANSWERS)?;
    }
    transaction.commit()?;
    Ok(())
}

/// Moves a file of the two-table schema (`checkouts`, and `deliveries` with a row per
/// destination) into `orders`, keeping every state, attempt count, error and time. A
/// destination an order has no row for (none is written so) becomes `skipped`.
fn from_two_tables() -> String {
    let mut columns = String::from("order_id, checkout_json, cookie_id, accepted_at");
    let mut values = String::from("c.order_id, c.checkout_json, c.cookie_id, c.accepted_at");
    let mut joins = String::new();
    for d in Destination::ALL {
        let _ = write!(
            columns,
            ", {d}_state, {d}_attempts, {d}_next_attempt_at, {d}_budget_started_at, \
             {d}_last_error, {d}_vendor_status, {d}_vendor_response, {d}_updated_at, \
             {d}_delivered_at"
        );
        let _ = write!(
            values,
            ", COALESCE({d}.state, 'skipped'), COALESCE({d}.attempts, 0), \
             COALESCE({d}.next_attempt_at, c.accepted_at), \
             COALESCE({d}.budget_started_at, c.accepted_at), \
             CASE WHEN {d}.state IS NULL THEN 'no delivery planned when the order was accepted' \
               ELSE {d}.last_error END, \
             {d}.vendor_status, {d}.vendor_response, COALESCE({d}.updated_at, c.accepted_at), \
             {d}.delivered_at"
        );
        let _ = write!(
            joins,
            " LEFT JOIN deliveries AS {d} ON {d}.destination = '{d}' AND {d}.order_id = c.order_id"
        );
    }
    format!(
        "INSERT INTO orders ({columns}) SELECT {values} FROM checkouts AS c{joins};\n\
         DROP TABLE deliveries;\nDROP TABLE checkouts;\n"
    )
}

/// The file's `user_version` from which a delivery error no longer holds the vendor's answer
/// ([`errors_without_answers`]). Files of earlier versions are at 0.
const ERRORS_WITHOUT_ANSWERS: i32 = 1;

/// Rewrites the delivery errors stored by earlier versions, `HTTP 400: <the vendor's answer>`
/// (also inside `retry budget exhausted ...; last: HTTP 503: ...` and `discarded by an
/// operator after: ...`), as this version stores them: the text up to the status, the answer
/// in `vendor_response` unless that already holds one (a refusal's full answer). The error is
/// then what happened, without the personal data an answer may echo, wherever it is shown.
fn errors_without_answers() -> String {
    let mut sql = String::new();
    for d in Destination::ALL {
        let error = format!("{d}_last_error");
        // 1-based: the status is at `at + 5`, its ": " at `at + 8`, the answer from `at + 10`.
        let at = format!("instr({error}, 'HTTP ')");
        let _ = writeln!(
            sql,
            "UPDATE orders SET \
               {d}_vendor_response = COALESCE({d}_vendor_response, substr({error}, {at} + 10)), \
               {error} = substr({error}, 1, {at} + 7) \
             WHERE {at} > 0 AND substr({error}, {at} + 5, 5) GLOB '[0-9][0-9][0-9]: ';"
        );
    }
    sql
}

/// Counts every destination's orders by state, from scratch.
fn recount() -> String {
    let mut sql = String::from("DELETE FROM delivery_counts;\n");
    for d in Destination::ALL {
        let _ = writeln!(
            sql,
            "INSERT INTO delivery_counts (destination, state, n) \
             SELECT '{d}', {d}_state, COUNT(*) FROM orders GROUP BY {d}_state;"
        );
    }
    sql
}
