//! The SQL of the SQLite outbox's reads (status, dead letters, depth, known order ids), each run
//! on a read connection of the pool: WAL lets them run beside the writer thread
//! ([`super::writer`]) without taking the write lock. Rows are read into the domain's types by
//! the mapping both backends share ([`stored`]).

use rusqlite::{params, Connection, OptionalExtension, Params};

use super::super::{stored, DeadLetter, DepthRow, OrderStatus, PrunedOrder, StorageError};

/// The columns of an order's status, for [`stored::Orders`]: the checkout `c`, each of its
/// deliveries `d`.
pub(super) const STATUS_COLUMNS: &str = "c.order_id, c.accepted_at, d.destination, d.state, \
     d.attempts, d.last_error, d.created_at, d.updated_at, d.delivered_at, d.next_attempt_at";

pub(super) fn status(
    connection: &Connection,
    order_id: &str,
) -> Result<Option<OrderStatus>, StorageError> {
    let query = format!(
        "SELECT {STATUS_COLUMNS} FROM ordersync_checkouts AS c \
         LEFT JOIN ordersync_deliveries AS d ON d.order_id = c.order_id \
         WHERE c.order_id = ?1 AND c.pruned_at IS NULL ORDER BY d.destination"
    );
    Ok(orders(connection, &query, params![order_id])?.pop())
}

/// The orders `query` selects ([`STATUS_COLUMNS`], an order's rows together), in its order.
pub(super) fn orders(
    connection: &Connection,
    query: &str,
    params: impl Params,
) -> Result<Vec<OrderStatus>, StorageError> {
    let mut statement = connection.prepare_cached(query)?;
    let mut rows = statement.query(params)?;
    let mut orders = stored::Orders::default();
    while let Some(row) = rows.next()? {
        orders.add(row)?;
    }
    Ok(orders.into_vec())
}

/// What is remembered of a pruned order, on any connection of the file (a reader's, for a
/// status; the writer's, when a hand-off repeats one).
pub(super) fn pruned(
    connection: &Connection,
    order_id: &str,
) -> Result<Option<PrunedOrder>, StorageError> {
    connection
        .prepare_cached(
            "SELECT accepted_at, delivered_at, pruned_at FROM ordersync_checkouts \
             WHERE order_id = ?1 AND pruned_at IS NOT NULL",
        )?
        .query_row(params![order_id], |row| {
            Ok(stored::pruned_order(row, order_id))
        })
        .optional()?
        .transpose()
}

pub(super) fn dead_letters(
    connection: &Connection,
    limit: u32,
) -> Result<Vec<DeadLetter>, StorageError> {
    let mut statement = connection.prepare_cached(
        "SELECT order_id, destination, attempts, last_error, vendor_status, vendor_response, \
         updated_at FROM ordersync_deliveries WHERE state = 'dead' \
         ORDER BY updated_at, order_id LIMIT ?1",
    )?;
    let mut rows = statement.query(params![limit])?;
    let mut dead = Vec::new();
    while let Some(row) = rows.next()? {
        dead.push(stored::dead_letter(row)?);
    }
    Ok(dead)
}

/// Deliveries by destination and state, counted as on PostgreSQL: a read of every delivery
/// held, which the retention bounds.
pub(super) fn depth(connection: &Connection) -> Result<Vec<DepthRow>, StorageError> {
    let mut statement = connection.prepare_cached(
        "SELECT destination, state, COUNT(*) AS n FROM ordersync_deliveries \
         GROUP BY destination, state",
    )?;
    let mut rows = statement.query([])?;
    let mut depth = Vec::new();
    while let Some(row) = rows.next()? {
        depth.push(stored::depth_row(row)?);
    }
    Ok(depth)
}

/// Which of `order_ids` the outbox knows, stored or pruned and remembered (a pruned order keeps
/// its checkout row): one statement for the whole list (passed as one JSON array), each id
/// looked up through the primary key.
pub(super) fn known(
    connection: &Connection,
    order_ids: &[String],
) -> Result<std::collections::HashSet<String>, StorageError> {
    let asked = serde_json::to_string(order_ids)
        .map_err(|error| StorageError::Corrupt(format!("order ids as JSON: {error}")))?;
    let mut statement = connection.prepare_cached(
        "SELECT asked.value FROM json_each(?1) AS asked \
         WHERE EXISTS (SELECT 1 FROM ordersync_checkouts WHERE order_id = asked.value)",
    )?;
    let known = statement
        .query_map(params![asked], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(known)
}
