//! The SQLite outbox: one file, WAL journal, `synchronous=FULL`, so a committed insert has
//! reached the disk before the relay answers 202.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::Row;

use super::{
    ClaimedDelivery, DeadLetter, DeliveryState, DepthRow, Destination, DestinationStatus,
    InitialState, InsertOutcome, NewCheckout, OrderStatus, Outbox, Outcome, Recorded, StorageError,
};

const SCHEMA: &str = r#"
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
    lease_owner       TEXT,
    lease_until       INTEGER,
    last_error        TEXT,
    vendor_status     INTEGER,
    vendor_response   TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    delivered_at      INTEGER,
    PRIMARY KEY (destination, order_id)
);
CREATE INDEX IF NOT EXISTS deliveries_due
    ON deliveries (destination, state, next_attempt_at);
CREATE INDEX IF NOT EXISTS deliveries_by_order ON deliveries (order_id);
"#;

/// The outbox in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteOutbox {
    pool: SqlitePool,
}

impl SqliteOutbox {
    /// Opens (creating if needed) the database a `sqlite://PATH` URL names and applies the
    /// schema. WAL lets status reads run beside the single writer; `synchronous=FULL` makes each
    /// commit wait for fsync of the WAL, which is what makes a 202 mean "on disk".
    pub async fn open(database_url: &str) -> Result<Self, StorageError> {
        let options = SqliteConnectOptions::from_str(database_url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::raw_sql(SCHEMA).execute(&pool).await?;
        Ok(Self { pool })
    }

    /// Reads a PRAGMA's value (tests check the durability settings are really in force).
    pub async fn pragma(&self, name: &str) -> Result<String, StorageError> {
        let query = match name {
            "journal_mode" => "PRAGMA journal_mode",
            "synchronous" => "PRAGMA synchronous",
            "foreign_keys" => "PRAGMA foreign_keys",
            _ => return Err(StorageError::Corrupt(format!("pragma {name} not readable"))),
        };
        let row = sqlx::query(query).fetch_one(&self.pool).await?;
        let value: sqlx::Result<String> = row.try_get(0);
        Ok(match value {
            Ok(text) => text,
            Err(_) => row.try_get::<i64, _>(0)?.to_string(),
        })
    }

    /// Frees every lease. A SQLite outbox belongs to one relay process, so at that process's
    /// start every lease left in the file is a crashed predecessor's: its rows are due again at
    /// once instead of after the lease runs out. Returns how many rows were freed.
    pub async fn release_orphaned_leases(&self) -> Result<u64, StorageError> {
        let freed = sqlx::query(
            "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL \
             WHERE lease_owner IS NOT NULL",
        )
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(freed)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn destination_rows(
        &self,
        order_id: &str,
    ) -> Result<Vec<DestinationStatus>, StorageError> {
        let rows = sqlx::query(
            "SELECT destination, state, attempts, last_error, created_at, updated_at, \
             delivered_at, next_attempt_at FROM deliveries WHERE order_id = ? ORDER BY destination",
        )
        .bind(order_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(destination_status).collect()
    }
}

fn destination_status(row: &SqliteRow) -> Result<DestinationStatus, StorageError> {
    let state: DeliveryState = row.try_get::<String, _>("state")?.parse()?;
    let waiting = matches!(state, DeliveryState::Pending | DeliveryState::Retrying);
    Ok(DestinationStatus {
        destination: row.try_get::<String, _>("destination")?.parse()?,
        state,
        attempts: row.try_get::<i64, _>("attempts")? as u32,
        last_error: row.try_get("last_error")?,
        created_at_ms: row.try_get("created_at")?,
        updated_at_ms: row.try_get("updated_at")?,
        delivered_at_ms: row.try_get("delivered_at")?,
        next_attempt_at_ms: waiting
            .then(|| row.try_get("next_attempt_at"))
            .transpose()?,
    })
}

/// Records one outcome on `connection` (a pooled connection, or a transaction's). True when
/// `lease_owner` still held the row.
async fn record_one(
    connection: &mut SqliteConnection,
    destination: Destination,
    order_id: &str,
    lease_owner: &str,
    outcome: Outcome,
    now_ms: i64,
) -> Result<bool, StorageError> {
    let recorded = Recorded::from_outcome(outcome, now_ms);
    let changed = sqlx::query(
        "UPDATE deliveries SET state = ?, attempts = attempts + 1, next_attempt_at = ?, \
         last_error = COALESCE(?, last_error), vendor_status = ?, \
         vendor_response = COALESCE(?, vendor_response), delivered_at = ?, updated_at = ?, \
         lease_owner = NULL, lease_until = NULL \
         WHERE destination = ? AND order_id = ? AND lease_owner = ?",
    )
    .bind(recorded.state.as_str())
    .bind(recorded.next_attempt_at)
    .bind(recorded.error)
    .bind(recorded.vendor_status.map(i64::from))
    .bind(recorded.vendor_response)
    .bind(recorded.delivered_at)
    .bind(now_ms)
    .bind(destination.as_str())
    .bind(order_id)
    .bind(lease_owner)
    .execute(connection)
    .await?
    .rows_affected();
    Ok(changed == 1)
}

#[async_trait]
impl Outbox for SqliteOutbox {
    async fn insert(
        &self,
        checkout: NewCheckout,
        now_ms: i64,
    ) -> Result<InsertOutcome, StorageError> {
        let mut tx = self.pool.begin().await?;
        // The first statement writes, so the transaction takes the write lock at once and
        // two concurrent inserts of one order id serialize instead of failing.
        let inserted = sqlx::query(
            "INSERT INTO checkouts (order_id, checkout_json, cookie_id, accepted_at) \
             VALUES (?, ?, ?, ?) ON CONFLICT (order_id) DO NOTHING",
        )
        .bind(&checkout.order_id)
        .bind(&checkout.checkout_json)
        .bind(&checkout.cookie_id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            tx.rollback().await?;
            let status = self.status(&checkout.order_id).await?.ok_or_else(|| {
                StorageError::Corrupt(format!("order {} vanished", checkout.order_id))
            })?;
            return Ok(InsertOutcome::Existing(status));
        }
        for (destination, initial) in &checkout.destinations {
            let (state, reason) = match initial {
                InitialState::Pending => (DeliveryState::Pending, None),
                InitialState::Skipped { reason } => (DeliveryState::Skipped, Some(reason)),
            };
            sqlx::query(
                "INSERT INTO deliveries (destination, order_id, state, next_attempt_at, \
                 budget_started_at, last_error, created_at, updated_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(destination.as_str())
            .bind(&checkout.order_id)
            .bind(state.as_str())
            .bind(now_ms)
            .bind(now_ms)
            .bind(reason)
            .bind(now_ms)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(InsertOutcome::Inserted)
    }

    async fn claim_due(
        &self,
        destination: Destination,
        limit: u32,
        lease_owner: &str,
        lease: Duration,
        now_ms: i64,
    ) -> Result<Vec<ClaimedDelivery>, StorageError> {
        let lease_until = now_ms.saturating_add(lease.as_millis() as i64);
        let mut tx = self.pool.begin().await?;
        let claimed = sqlx::query(
            "UPDATE deliveries SET lease_owner = ?, lease_until = ? \
             WHERE rowid IN ( \
               SELECT rowid FROM deliveries \
               WHERE destination = ? AND state IN ('pending', 'retrying') \
                 AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?) \
               ORDER BY next_attempt_at, rowid LIMIT ?) \
             RETURNING rowid, order_id, attempts, budget_started_at, next_attempt_at",
        )
        .bind(lease_owner)
        .bind(lease_until)
        .bind(destination.as_str())
        .bind(now_ms)
        .bind(now_ms)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        // RETURNING comes in no promised order: restore oldest due first.
        let mut claimed = claimed
            .into_iter()
            .map(|row| {
                let key = (
                    row.try_get::<i64, _>("next_attempt_at")?,
                    row.try_get::<i64, _>("rowid")?,
                );
                Ok((key, row))
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        claimed.sort_by_key(|(key, _)| *key);
        let mut out = Vec::with_capacity(claimed.len());
        for (_, row) in &claimed {
            let order_id: String = row.try_get("order_id")?;
            let checkout =
                sqlx::query("SELECT checkout_json, cookie_id FROM checkouts WHERE order_id = ?")
                    .bind(&order_id)
                    .fetch_one(&mut *tx)
                    .await?;
            out.push(ClaimedDelivery {
                destination,
                checkout_json: checkout.try_get("checkout_json")?,
                cookie_id: checkout.try_get("cookie_id")?,
                attempts: row.try_get::<i64, _>("attempts")? as u32,
                budget_started_at: row.try_get("budget_started_at")?,
                order_id,
            });
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn record(
        &self,
        destination: Destination,
        order_id: &str,
        lease_owner: &str,
        outcome: Outcome,
        now_ms: i64,
    ) -> Result<bool, StorageError> {
        let mut connection = self.pool.acquire().await?;
        record_one(
            &mut connection,
            destination,
            order_id,
            lease_owner,
            outcome,
            now_ms,
        )
        .await
    }

    async fn record_all(
        &self,
        destination: Destination,
        lease_owner: &str,
        outcomes: Vec<(String, Outcome)>,
        now_ms: i64,
    ) -> Result<Vec<bool>, StorageError> {
        let mut tx = self.pool.begin().await?;
        let mut held = Vec::with_capacity(outcomes.len());
        for (order_id, outcome) in outcomes {
            held.push(
                record_one(
                    &mut tx,
                    destination,
                    &order_id,
                    lease_owner,
                    outcome,
                    now_ms,
                )
                .await?,
            );
        }
        tx.commit().await?;
        Ok(held)
    }

    async fn release(
        &self,
        destination: Destination,
        order_id: &str,
        lease_owner: &str,
    ) -> Result<(), StorageError> {
        sqlx::query(
            "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL \
             WHERE destination = ? AND order_id = ? AND lease_owner = ?",
        )
        .bind(destination.as_str())
        .bind(order_id)
        .bind(lease_owner)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn status(&self, order_id: &str) -> Result<Option<OrderStatus>, StorageError> {
        let accepted: Option<i64> =
            sqlx::query_scalar("SELECT accepted_at FROM checkouts WHERE order_id = ?")
                .bind(order_id)
                .fetch_optional(&self.pool)
                .await?;
        let Some(accepted_at_ms) = accepted else {
            return Ok(None);
        };
        Ok(Some(OrderStatus {
            order_id: order_id.to_owned(),
            accepted_at_ms,
            destinations: self.destination_rows(order_id).await?,
        }))
    }

    async fn dead_letters(&self, limit: u32) -> Result<Vec<DeadLetter>, StorageError> {
        let rows = sqlx::query(
            "SELECT order_id, destination, attempts, last_error, vendor_status, \
             vendor_response, updated_at FROM deliveries WHERE state = 'dead' \
             ORDER BY updated_at, order_id LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DeadLetter {
                    order_id: row.try_get("order_id")?,
                    destination: row.try_get::<String, _>("destination")?.parse()?,
                    attempts: row.try_get::<i64, _>("attempts")? as u32,
                    error: row.try_get("last_error")?,
                    vendor_status: row
                        .try_get::<Option<i64>, _>("vendor_status")?
                        .map(|s| s as u16),
                    vendor_response: row.try_get("vendor_response")?,
                    updated_at_ms: row.try_get("updated_at")?,
                })
            })
            .collect()
    }

    async fn retry_dead(
        &self,
        order_id: Option<&str>,
        destination: Option<Destination>,
        now_ms: i64,
    ) -> Result<u64, StorageError> {
        let changed = sqlx::query(
            "UPDATE deliveries SET state = 'pending', next_attempt_at = ?, \
             budget_started_at = ?, updated_at = ?, lease_owner = NULL, lease_until = NULL \
             WHERE state = 'dead' AND (? IS NULL OR order_id = ?) \
               AND (? IS NULL OR destination = ?)",
        )
        .bind(now_ms)
        .bind(now_ms)
        .bind(now_ms)
        .bind(order_id)
        .bind(order_id)
        .bind(destination.map(Destination::as_str))
        .bind(destination.map(Destination::as_str))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(changed)
    }

    async fn depth(&self) -> Result<Vec<DepthRow>, StorageError> {
        let rows = sqlx::query(
            "SELECT destination, state, COUNT(*) AS n FROM deliveries GROUP BY destination, state",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DepthRow {
                    destination: row.try_get::<String, _>("destination")?.parse()?,
                    state: row.try_get::<String, _>("state")?.parse()?,
                    count: row.try_get::<i64, _>("n")? as u64,
                })
            })
            .collect()
    }

    async fn ping(&self) -> Result<(), StorageError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
