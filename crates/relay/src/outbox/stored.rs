//! Stored rows read back as the domain's types, once for both backends.
//!
//! Both outboxes keep the same tables and columns (`ordersync_checkouts`,
//! `ordersync_deliveries`), so a row of either is read by the same functions here, through
//! [`StoredRow`], which each driver's row type implements. Every number goes through a checked
//! conversion: a value out of range (a negative count, a status above 65535) is a damaged row,
//! said as [`StorageError::Corrupt`], never silently wrapped by a cast.

use sqlx::{Column as _, Row as _, TypeInfo as _};

use super::{
    ClaimedDelivery, DeadLetter, DeliveryState, DepthRow, Destination, DestinationStatus,
    OrderStatus, PrunedOrder, StorageError,
};

/// A row of either backend, read by column name.
pub(crate) trait StoredRow {
    fn optional_integer(&self, column: &str) -> Result<Option<i64>, StorageError>;
    fn optional_text(&self, column: &str) -> Result<Option<String>, StorageError>;

    fn integer(&self, column: &str) -> Result<i64, StorageError> {
        self.optional_integer(column)?
            .ok_or_else(|| StorageError::Corrupt(format!("{column} is NULL")))
    }

    fn text(&self, column: &str) -> Result<String, StorageError> {
        self.optional_text(column)?
            .ok_or_else(|| StorageError::Corrupt(format!("{column} is NULL")))
    }
}

impl StoredRow for rusqlite::Row<'_> {
    fn optional_integer(&self, column: &str) -> Result<Option<i64>, StorageError> {
        Ok(self.get(column)?)
    }

    fn optional_text(&self, column: &str) -> Result<Option<String>, StorageError> {
        Ok(self.get(column)?)
    }
}

impl StoredRow for sqlx::postgres::PgRow {
    /// PostgreSQL's integers come in three widths (`INTEGER` columns, `BIGINT` times and
    /// counts); each is read as its own width, then widened.
    fn optional_integer(&self, column: &str) -> Result<Option<i64>, StorageError> {
        let width = self.try_column(column)?.type_info().name();
        Ok(match width {
            "INT2" => self.try_get::<Option<i16>, _>(column)?.map(i64::from),
            "INT4" => self.try_get::<Option<i32>, _>(column)?.map(i64::from),
            _ => self.try_get::<Option<i64>, _>(column)?,
        })
    }

    fn optional_text(&self, column: &str) -> Result<Option<String>, StorageError> {
        Ok(self.try_get(column)?)
    }
}

/// An attempt count.
pub(crate) fn attempts(value: i64) -> Result<u32, StorageError> {
    u32::try_from(value).map_err(|_| StorageError::Corrupt(format!("attempt count {value}")))
}

/// A vendor's HTTP status, when one was recorded.
pub(crate) fn vendor_status(value: Option<i64>) -> Result<Option<u16>, StorageError> {
    value
        .map(|status| {
            u16::try_from(status)
                .map_err(|_| StorageError::Corrupt(format!("vendor status {status}")))
        })
        .transpose()
}

/// A number of rows (a `COUNT`).
pub(crate) fn row_count(value: i64) -> Result<u64, StorageError> {
    u64::try_from(value).map_err(|_| StorageError::Corrupt(format!("row count {value}")))
}

/// One destination of an order: `destination`, `state`, `attempts`, `last_error`,
/// `created_at`, `updated_at`, `delivered_at`, `next_attempt_at`.
pub(crate) fn destination_status(row: &impl StoredRow) -> Result<DestinationStatus, StorageError> {
    let state: DeliveryState = row.text("state")?.parse()?;
    let waiting = matches!(state, DeliveryState::Pending | DeliveryState::Retrying);
    Ok(DestinationStatus {
        destination: row.text("destination")?.parse()?,
        state,
        attempts: attempts(row.integer("attempts")?)?,
        last_error: row.optional_text("last_error")?,
        created_at_ms: row.integer("created_at")?,
        updated_at_ms: row.integer("updated_at")?,
        delivered_at_ms: row.optional_integer("delivered_at")?,
        next_attempt_at_ms: waiting
            .then(|| row.integer("next_attempt_at"))
            .transpose()?,
    })
}

/// The orders of a query that joins each held checkout (`order_id`, `accepted_at`) to its
/// deliveries (the columns of [`destination_status`], NULL for a checkout without any), one
/// row per delivery, an order's rows together.
#[derive(Debug, Default)]
pub(crate) struct Orders(Vec<OrderStatus>);

impl Orders {
    pub fn add(&mut self, row: &impl StoredRow) -> Result<(), StorageError> {
        let order_id = row.text("order_id")?;
        if self.0.last().is_none_or(|last| last.order_id != order_id) {
            self.0.push(OrderStatus {
                order_id,
                accepted_at_ms: row.integer("accepted_at")?,
                destinations: Vec::new(),
            });
        }
        if row.optional_text("destination")?.is_some() {
            let order = self.0.last_mut().expect("pushed above");
            order.destinations.push(destination_status(row)?);
        }
        Ok(())
    }

    pub fn into_vec(self) -> Vec<OrderStatus> {
        self.0
    }
}

/// A dead delivery: `order_id`, `destination`, `attempts`, `last_error`, `vendor_status`,
/// `vendor_response`, `updated_at`.
pub(crate) fn dead_letter(row: &impl StoredRow) -> Result<DeadLetter, StorageError> {
    Ok(DeadLetter {
        order_id: row.text("order_id")?,
        destination: row.text("destination")?.parse()?,
        attempts: attempts(row.integer("attempts")?)?,
        error: row.optional_text("last_error")?,
        vendor_status: vendor_status(row.optional_integer("vendor_status")?)?,
        vendor_response: row.optional_text("vendor_response")?,
        updated_at_ms: row.integer("updated_at")?,
    })
}

/// A count of deliveries: `destination`, `state`, `n`.
pub(crate) fn depth_row(row: &impl StoredRow) -> Result<DepthRow, StorageError> {
    Ok(DepthRow {
        destination: row.text("destination")?.parse()?,
        state: row.text("state")?.parse()?,
        count: row_count(row.integer("n")?)?,
    })
}

/// A delivery a claim leased: `order_id`, `attempts`, `budget_started_at`, `checkout_json`,
/// `cookie_id`.
pub(crate) fn claimed(
    row: &impl StoredRow,
    destination: Destination,
) -> Result<ClaimedDelivery, StorageError> {
    Ok(ClaimedDelivery {
        order_id: row.text("order_id")?,
        destination,
        checkout_json: row.text("checkout_json")?,
        cookie_id: row.optional_text("cookie_id")?,
        attempts: attempts(row.integer("attempts")?)?,
        budget_started_at: row.integer("budget_started_at")?,
    })
}

/// What is remembered of a pruned order: `accepted_at`, `delivered_at`, `pruned_at`.
pub(crate) fn pruned_order(
    row: &impl StoredRow,
    order_id: &str,
) -> Result<PrunedOrder, StorageError> {
    Ok(PrunedOrder {
        order_id: order_id.to_owned(),
        accepted_at_ms: row.integer("accepted_at")?,
        delivered_at_ms: row.optional_integer("delivered_at")?,
        pruned_at_ms: row.integer("pruned_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_out_of_range_are_a_damaged_row() {
        assert_eq!(attempts(3).unwrap(), 3);
        assert!(matches!(attempts(-1), Err(StorageError::Corrupt(_))));
        assert!(matches!(attempts(1 << 40), Err(StorageError::Corrupt(_))));
        assert_eq!(vendor_status(None).unwrap(), None);
        assert_eq!(vendor_status(Some(503)).unwrap(), Some(503));
        assert!(matches!(
            vendor_status(Some(70_000)),
            Err(StorageError::Corrupt(_))
        ));
        assert!(matches!(row_count(-2), Err(StorageError::Corrupt(_))));
    }

    /// One mapping for both drivers: a SQLite row of the shared columns reads as the domain's
    /// types, and a damaged one is refused by name.
    #[test]
    fn a_stored_delivery_reads_as_its_status() {
        let connection = rusqlite::Connection::open_in_memory().unwrap();
        let read = |attempts: i64| {
            connection
                .query_row(
                    "SELECT 'cibler' AS destination, 'retrying' AS state, ?1 AS attempts, \
                     'HTTP 503' AS last_error, 1 AS created_at, 2 AS updated_at, \
                     NULL AS delivered_at, 3 AS next_attempt_at",
                    [attempts],
                    |row| Ok(destination_status(row)),
                )
                .unwrap()
        };
        let status = read(2).unwrap();
        assert_eq!(status.destination, Destination::Cibler);
        assert_eq!(status.state, DeliveryState::Retrying);
        assert_eq!(status.attempts, 2);
        assert_eq!(status.next_attempt_at_ms, Some(3));
        assert!(matches!(read(-1), Err(StorageError::Corrupt(_))));
    }
}
