//! The SQL of the SQLite outbox's reads (status, dead letters, depth), each run on a read
//! connection of the pool: WAL lets them run beside the writer thread ([`super::writer`])
//! without taking the write lock.

use std::fmt::Write as _;
use std::sync::LazyLock;

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::super::{
    stored, DeadLetter, DeliveryState, DepthRow, Destination, DestinationStatus, OrderStatus,
    PrunedOrder, StorageError,
};
use super::schema::column;

/// The columns of an order's status: when it was accepted, and each destination's delivery
/// (read by [`destination_status`]).
pub(super) static STATUS_COLUMNS: LazyLock<String> = LazyLock::new(|| {
    let mut columns = String::from("accepted_at");
    for d in Destination::ALL {
        let _ = write!(
            columns,
            ", {d}_state, {d}_attempts, {d}_last_error, {d}_updated_at, {d}_delivered_at, \
             {d}_next_attempt_at"
        );
    }
    columns
});

/// An order's status.
static STATUS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM orders WHERE order_id = ?",
        STATUS_COLUMNS.as_str()
    )
});

pub(super) fn status(
    connection: &Connection,
    order_id: &str,
) -> Result<Option<OrderStatus>, StorageError> {
    let mut statement = connection.prepare_cached(STATUS.as_str())?;
    let mut rows = statement.query(params![order_id])?;
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    order_status(row, order_id.to_owned()).map(Some)
}

/// An order's status from a row holding [`STATUS_COLUMNS`].
pub(super) fn order_status(row: &Row<'_>, order_id: String) -> Result<OrderStatus, StorageError> {
    let accepted_at_ms: i64 = row.get("accepted_at")?;
    Ok(OrderStatus {
        order_id,
        accepted_at_ms,
        destinations: Destination::ALL
            .into_iter()
            .map(|destination| destination_status(row, destination, accepted_at_ms))
            .collect::<Result<_, _>>()?,
    })
}

fn destination_status(
    row: &Row<'_>,
    destination: Destination,
    accepted_at_ms: i64,
) -> Result<DestinationStatus, StorageError> {
    let field = |name: &str| column(destination, name);
    let state: DeliveryState = row.get::<_, String>(field("state").as_str())?.parse()?;
    let waiting = matches!(state, DeliveryState::Pending | DeliveryState::Retrying);
    Ok(DestinationStatus {
        destination,
        state,
        attempts: stored::attempts(row.get(field("attempts").as_str())?)?,
        last_error: row.get(field("last_error").as_str())?,
        created_at_ms: accepted_at_ms,
        updated_at_ms: row.get(field("updated_at").as_str())?,
        delivered_at_ms: row.get(field("delivered_at").as_str())?,
        next_attempt_at_ms: waiting
            .then(|| row.get(field("next_attempt_at").as_str()))
            .transpose()?,
    })
}

/// Every destination's dead letters, oldest first: each part reads its destination's dead
/// index.
static DEAD_LETTERS: LazyLock<String> = LazyLock::new(|| {
    let parts: Vec<String> = Destination::ALL
        .into_iter()
        .map(|d| {
            format!(
                "SELECT order_id, '{d}' AS destination, {d}_attempts AS attempts, \
                 {d}_last_error AS last_error, {d}_vendor_status AS vendor_status, \
                 {d}_vendor_response AS vendor_response, {d}_updated_at AS updated_at \
                 FROM orders WHERE {d}_state = 'dead'"
            )
        })
        .collect();
    format!(
        "{} ORDER BY updated_at, order_id, destination LIMIT ?",
        parts.join(" UNION ALL ")
    )
});

pub(super) fn dead_letters(
    connection: &Connection,
    limit: u32,
) -> Result<Vec<DeadLetter>, StorageError> {
    let mut statement = connection.prepare_cached(DEAD_LETTERS.as_str())?;
    let mut rows = statement.query(params![limit])?;
    let mut dead = Vec::new();
    while let Some(row) = rows.next()? {
        dead.push(DeadLetter {
            order_id: row.get("order_id")?,
            destination: row.get::<_, String>("destination")?.parse()?,
            attempts: stored::attempts(row.get("attempts")?)?,
            error: row.get("last_error")?,
            vendor_status: stored::vendor_status(row.get("vendor_status")?)?,
            vendor_response: row.get("vendor_response")?,
            updated_at_ms: row.get("updated_at")?,
        });
    }
    Ok(dead)
}

pub(super) fn depth(connection: &Connection) -> Result<Vec<DepthRow>, StorageError> {
    let mut statement = connection
        .prepare_cached("SELECT destination, state, n FROM delivery_counts WHERE n > 0")?;
    let mut rows = statement.query([])?;
    let mut depth = Vec::new();
    while let Some(row) = rows.next()? {
        depth.push(DepthRow {
            destination: row.get::<_, String>("destination")?.parse()?,
            state: row.get::<_, String>("state")?.parse()?,
            count: stored::row_count(row.get("n")?)?,
        });
    }
    Ok(depth)
}

/// What is remembered of a pruned order ([`super::pruning`]).
pub(super) fn pruned(
    connection: &Connection,
    order_id: &str,
) -> Result<Option<PrunedOrder>, StorageError> {
    let mut statement = connection.prepare_cached(
        "SELECT accepted_at, delivered_at, pruned_at FROM pruned_orders WHERE order_id = ?1",
    )?;
    let pruned = statement
        .query_row(params![order_id], |row| {
            Ok(PrunedOrder {
                order_id: order_id.to_owned(),
                accepted_at_ms: row.get("accepted_at")?,
                delivered_at_ms: row.get("delivered_at")?,
                pruned_at_ms: row.get("pruned_at")?,
            })
        })
        .optional()?;
    Ok(pruned)
}

/// Which of `order_ids` the outbox knows, stored or pruned and remembered: one statement
/// for the whole list (passed as one JSON array), each id looked up through a primary key.
pub(super) fn known(
    connection: &Connection,
    order_ids: &[String],
) -> Result<std::collections::HashSet<String>, StorageError> {
    let asked = serde_json::to_string(order_ids)
        .map_err(|error| StorageError::Corrupt(format!("order ids as JSON: {error}")))?;
    let mut statement = connection.prepare_cached(
        "SELECT asked.value FROM json_each(?1) AS asked \
         WHERE EXISTS (SELECT 1 FROM orders WHERE order_id = asked.value) \
            OR EXISTS (SELECT 1 FROM pruned_orders WHERE order_id = asked.value)",
    )?;
    let known = statement
        .query_map(params![asked], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(known)
}
