//! The SQL of retention on the SQLite outbox ([`super::super::retention`]), run by the writer
//! thread ([`super::writer`]): pruning finished orders (their checkout row stays, without the
//! checkout, as the memory of the order id, as on PostgreSQL), forgetting those, and handing
//! free pages back to the filesystem.

use rusqlite::{params, Connection};

use super::super::{Batch, StorageError};

/// Up to `?2` held orders accepted by `?1` whose every delivery finished (`delivered`, or
/// `skipped`: not meant for it, or given up by an operator) by `?1`, oldest first: the held
/// orders' index by acceptance, each one's deliveries through their index by order.
const FINISHED: &str = "SELECT c.order_id FROM ordersync_checkouts AS c \
     WHERE c.pruned_at IS NULL AND c.accepted_at <= ?1 \
       AND NOT EXISTS (SELECT 1 FROM ordersync_deliveries AS d \
         WHERE d.order_id = c.order_id \
           AND NOT (d.state IN ('delivered', 'skipped') AND d.updated_at <= ?1)) \
     ORDER BY c.accepted_at LIMIT ?2";

/// One step of pruning: removes up to `limit` orders finished by `finished_before`, keeping
/// each one's id (with when it was accepted, delivered and pruned).
pub(super) fn prune(
    connection: &Connection,
    finished_before: i64,
    limit: u32,
    now_ms: i64,
) -> Result<Batch, StorageError> {
    let finished: Vec<String> = connection
        .prepare_cached(FINISHED)?
        .query_map(params![finished_before, limit], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    // The checkout row is deleted and its memory inserted anew, rather than updated in place
    // as on PostgreSQL: SQLite leaves a row that shrinks in its page, so pages of pruned
    // checkouts would stay allocated and nearly empty (measured: a file of 3,000 pruned orders
    // kept 89 % of its size), while deleted rows free their pages for `incremental_vacuum`.
    let mut last_delivery = connection.prepare_cached(
        "SELECT accepted_at, (SELECT MAX(delivered_at) FROM ordersync_deliveries \
           WHERE order_id = ?1) FROM ordersync_checkouts WHERE order_id = ?1",
    )?;
    let mut remove_deliveries =
        connection.prepare_cached("DELETE FROM ordersync_deliveries WHERE order_id = ?1")?;
    let mut remove_checkout =
        connection.prepare_cached("DELETE FROM ordersync_checkouts WHERE order_id = ?1")?;
    let mut remember = connection.prepare_cached(
        "INSERT INTO ordersync_checkouts (order_id, accepted_at, delivered_at, pruned_at) \
         VALUES (?1, ?2, ?3, ?4)",
    )?;
    for order_id in &finished {
        let (accepted_at, delivered_at): (i64, Option<i64>) =
            last_delivery.query_row(params![order_id], |row| Ok((row.get(0)?, row.get(1)?)))?;
        remove_deliveries.execute(params![order_id])?;
        remove_checkout.execute(params![order_id])?;
        remember.execute(params![order_id, accepted_at, delivered_at, now_ms])?;
    }
    let removed = finished.len() as u64;
    Ok(Batch {
        removed,
        more: removed == u64::from(limit),
    })
}

/// Forgets up to `limit` pruned order ids accepted before `accepted_before`, oldest first.
pub(super) fn forget(
    connection: &Connection,
    accepted_before: i64,
    limit: u32,
) -> Result<Batch, StorageError> {
    let removed = connection
        .prepare_cached(
            "DELETE FROM ordersync_checkouts WHERE order_id IN ( \
               SELECT order_id FROM ordersync_checkouts \
               WHERE pruned_at IS NOT NULL AND accepted_at < ?1 \
               ORDER BY accepted_at LIMIT ?2)",
        )?
        .execute(params![accepted_before, limit])? as u64;
    Ok(Batch {
        removed,
        more: removed == u64::from(limit),
    })
}

/// Hands up to `max_pages` free pages back to the filesystem, moving pages from the file's end
/// into free ones and truncating it; returns how many stay free. Outside any transaction: the
/// step is a transaction of its own. Each row of the PRAGMA is one page freed, so the
/// statement is stepped to its end.
pub(super) fn reclaim(connection: &Connection, max_pages: u32) -> Result<u64, StorageError> {
    let mut vacuum = connection.prepare(&format!("PRAGMA incremental_vacuum({max_pages})"))?;
    let mut steps = vacuum.query([])?;
    while steps.next()?.is_some() {}
    let free: i64 = connection.query_row("PRAGMA freelist_count", [], |row| row.get(0))?;
    Ok(free.max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::super::writes::tests::plan;
    use super::*;

    /// A step reads the held orders oldest first and each one's deliveries by its order id,
    /// never every delivery.
    #[test]
    fn pruning_reads_the_oldest_held_orders_and_their_deliveries_by_order() {
        let plan = plan(FINISHED);
        assert!(plan.contains("ordersync_checkouts_held"), "{plan}");
        assert!(plan.contains("ordersync_deliveries_by_order"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }
}
