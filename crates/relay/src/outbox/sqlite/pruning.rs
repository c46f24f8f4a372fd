//! The SQL of retention on the SQLite outbox ([`super::super::retention`]), run by the writer
//! thread ([`super::writer`]): pruning finished orders into `pruned_orders`, forgetting those,
//! giving dead rows up, and handing free pages back to the filesystem.
//!
//! **Finding what to prune without an index.** Orders are stored in `rowid` order, which is
//! their order of acceptance (a new row takes the largest rowid plus one, and rows are only
//! ever removed from the old end by this pruning). Every order finished before the cutoff was
//! accepted before it, so the pruner reads the table from the old end, in small steps, from
//! where its previous step stopped ([`PruneCursor`]), and a pass ends at the first order
//! accepted after the cutoff. A pass so reads only the orders old enough to be pruned (and the
//! few old ones still waiting or dead), never the recent ones, and the hand-off path keeps its
//! indexes: an index on finished orders would cost every outcome one more B-tree write.

use std::fmt::Write as _;
use std::sync::LazyLock;

use rusqlite::{params, Connection, OptionalExtension};

use super::super::{Batch, DeliveryState, Destination, PrunedOrder, StorageError};
use super::counts::CountChanges;
use super::writes::{change_dead, DeadSelection};

/// Orders read per step of a pruning pass, at most, for each order the step may remove: a step
/// stays short (the writer runs it between hand-offs) even where old orders still waiting or
/// dead sit among the finished ones.
const ROWS_READ_PER_REMOVAL: u32 = 4;

/// Where the pruning pass in progress stands: the rowid of the last order it read (0 before
/// the first). Kept by the writer thread between steps.
#[derive(Debug, Default)]
pub(super) struct PruneCursor {
    last_rowid: i64,
}

/// The oldest orders after a rowid, with what pruning needs: `?1` rowid, `?2` how many.
static OLDEST_ORDERS: LazyLock<String> = LazyLock::new(|| {
    let mut columns = String::from("rowid, order_id, accepted_at");
    for d in Destination::ALL {
        let _ = write!(columns, ", {d}_state, {d}_updated_at, {d}_delivered_at");
    }
    format!("SELECT {columns} FROM orders WHERE rowid > ?1 ORDER BY rowid LIMIT ?2")
});

/// One order as the pruning pass reads it.
struct OldOrder {
    rowid: i64,
    order_id: String,
    accepted_at: i64,
    /// Per destination, in [`Destination::ALL`]'s order: state, last change, delivery.
    destinations: Vec<(DeliveryState, i64, Option<i64>)>,
}

impl OldOrder {
    fn read(row: &rusqlite::Row<'_>) -> Result<OldOrder, StorageError> {
        let mut destinations = Vec::with_capacity(Destination::ALL.len());
        for i in 0..Destination::ALL.len() {
            let state: DeliveryState = row.get::<_, String>(3 + 3 * i)?.parse()?;
            destinations.push((state, row.get(4 + 3 * i)?, row.get(5 + 3 * i)?));
        }
        Ok(OldOrder {
            rowid: row.get(0)?,
            order_id: row.get(1)?,
            accepted_at: row.get(2)?,
            destinations,
        })
    }

    /// Every destination finished (delivered, or skipped: not meant for it, or given up by an
    /// operator) by `cutoff`.
    fn finished_by(&self, cutoff: i64) -> bool {
        self.destinations.iter().all(|(state, updated_at, _)| {
            matches!(state, DeliveryState::Delivered | DeliveryState::Skipped)
                && *updated_at <= cutoff
        })
    }

    fn last_delivery(&self) -> Option<i64> {
        self.destinations
            .iter()
            .filter_map(|(_, _, delivered_at)| *delivered_at)
            .max()
    }
}

/// One step of a pruning pass: removes up to `limit` orders finished by `finished_before`,
/// remembering each one's id, reading at most [`ROWS_READ_PER_REMOVAL`] × `limit` orders from
/// where the pass stands.
pub(super) fn prune(
    connection: &Connection,
    counts: &mut CountChanges,
    cursor: &mut PruneCursor,
    finished_before: i64,
    limit: u32,
    now_ms: i64,
) -> Result<Batch, StorageError> {
    let to_read = limit.saturating_mul(ROWS_READ_PER_REMOVAL).max(1);
    let oldest: Vec<OldOrder> = {
        let mut read = connection.prepare_cached(&OLDEST_ORDERS)?;
        let mut rows = read.query(params![cursor.last_rowid, to_read])?;
        let mut oldest = Vec::new();
        while let Some(row) = rows.next()? {
            oldest.push(OldOrder::read(row)?);
        }
        oldest
    };
    let mut remember = connection.prepare_cached(
        "INSERT INTO pruned_orders (order_id, accepted_at, delivered_at, pruned_at) \
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (order_id) DO NOTHING",
    )?;
    let mut remove = connection.prepare_cached("DELETE FROM orders WHERE rowid = ?1")?;
    let mut removed = 0;
    let read_all = oldest.len() < to_read as usize;
    for order in &oldest {
        if order.accepted_at > finished_before {
            // The pass has reached orders too recent to be finished before the cutoff.
            *cursor = PruneCursor::default();
            return Ok(Batch {
                removed,
                more: false,
            });
        }
        cursor.last_rowid = order.rowid;
        if !order.finished_by(finished_before) {
            continue;
        }
        remember.execute(params![
            order.order_id,
            order.accepted_at,
            order.last_delivery(),
            now_ms
        ])?;
        remove.execute(params![order.rowid])?;
        for (destination, (state, ..)) in Destination::ALL.into_iter().zip(&order.destinations) {
            counts.removed(destination, *state);
        }
        removed += 1;
        if removed == u64::from(limit) {
            return Ok(Batch {
                removed,
                more: true,
            });
        }
    }
    if read_all {
        *cursor = PruneCursor::default();
    }
    Ok(Batch {
        removed,
        more: !read_all,
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
            "DELETE FROM pruned_orders WHERE order_id IN (SELECT order_id FROM pruned_orders \
             WHERE accepted_at < ?1 ORDER BY accepted_at LIMIT ?2)",
        )?
        .execute(params![accepted_before, limit])? as u64;
    Ok(Batch {
        removed,
        more: removed == u64::from(limit),
    })
}

/// What is remembered of a pruned order, on any connection of the file (the writer's, before
/// it stores a hand-off; a reader's, for a status).
pub(super) fn pruned(
    connection: &Connection,
    order_id: &str,
) -> Result<Option<PrunedOrder>, StorageError> {
    Ok(connection
        .prepare_cached(
            "SELECT accepted_at, delivered_at, pruned_at FROM pruned_orders WHERE order_id = ?1",
        )?
        .query_row(params![order_id], |row| {
            Ok(PrunedOrder {
                order_id: order_id.to_owned(),
                accepted_at_ms: row.get(0)?,
                delivered_at_ms: row.get(1)?,
                pruned_at_ms: row.get(2)?,
            })
        })
        .optional()?)
}

/// Per destination: dead rows (of order `?2`, when not NULL) given up at `?1`.
static DISCARD: LazyLock<[String; Destination::ALL.len()]> = LazyLock::new(|| {
    Destination::ALL.map(|d| {
        format!(
            "UPDATE orders SET {d}_state = 'skipped', \
             {d}_last_error = 'discarded by an operator' || COALESCE(' after: ' || {d}_last_error, ''), \
             {d}_updated_at = ?1 WHERE {d}_state = 'dead' AND (?2 IS NULL OR order_id = ?2)"
        )
    })
});

/// Gives dead rows up: they become `skipped` with the reason, and are pruned at the retention
/// like finished ones.
pub(super) fn discard_dead(
    connection: &Connection,
    counts: &mut CountChanges,
    order_id: Option<&str>,
    destination: Option<Destination>,
    now_ms: i64,
) -> Result<u64, StorageError> {
    let discard = |d| DISCARD[d as usize].as_str();
    let selected = DeadSelection {
        order_id,
        destination,
    };
    change_dead(
        connection,
        counts,
        selected,
        discard,
        DeliveryState::Skipped,
        now_ms,
    )
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
