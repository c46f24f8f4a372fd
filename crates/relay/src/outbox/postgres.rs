//! The PostgreSQL outbox: one database shared by several relay instances.
//!
//! Every instance runs the same delivery workers. A worker claims due rows with
//! `SELECT ... FOR UPDATE SKIP LOCKED` and stamps them with its lease in the same statement, so
//! two instances claiming at once get disjoint rows, and the lease (not a held transaction)
//! keeps the rows away from everyone else while the vendor request is in flight. An instance
//! that dies (kill -9, lost host) lets its leases run out; the others then claim those rows.
//! Unlike SQLite, nothing frees leases at start: the other instances' leases are live.
//!
//! The schema is created by numbered migrations that every instance applies at start under a
//! transaction-scoped advisory lock, so several instances starting together apply each one
//! once. Tables carry an `ordersync_` prefix because a PostgreSQL database is often shared.
//!
//! Times are unix milliseconds from the relays' own clocks (as with SQLite): instances on
//! several hosts need synchronised clocks (NTP), with skew far below the lease duration.

mod console;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};

use super::stored::StoredRow as _;

use super::{
    stored, Batch, ClaimedDelivery, DeadLetter, DeliveredRecently, DeliveryState, DepthRow,
    Destination, Imported, InitialState, InsertOutcome, MinuteActivity, NewCheckout, OrderStatus,
    Outbox, Outcome, PrunedOrder, Recorded, StorageError,
};

/// Connections one relay instance opens at most. A relay's work is short transactions
/// (insert, claim, record), so a few connections carry thousands of orders a minute; the
/// README's sizing section multiplies this by the number of instances.
pub const MAX_CONNECTIONS: u32 = 8;

/// How long a request waits for a pooled connection.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Key of the advisory lock held while migrations run (the bytes of "ordersyn").
const MIGRATION_LOCK_KEY: i64 = 0x6f72_6465_7273_796e;

/// The schema, one numbered step at a time. A step is never edited once released: a change is
/// a new step, so every database can be brought forward from whatever version it holds.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "checkouts and deliveries",
        sql: r#"
CREATE TABLE ordersync_checkouts (
    order_id      TEXT PRIMARY KEY,
    checkout_json TEXT NOT NULL,
    cookie_id     TEXT,
    accepted_at   BIGINT NOT NULL
);
CREATE TABLE ordersync_deliveries (
    -- Arrival order, so due rows are claimed first in, first out.
    id                BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    destination       TEXT NOT NULL CHECK (destination IN ('cibler', 'citrusad')),
    order_id          TEXT NOT NULL REFERENCES ordersync_checkouts (order_id),
    state             TEXT NOT NULL
                      CHECK (state IN ('pending', 'retrying', 'delivered', 'dead', 'skipped')),
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   BIGINT NOT NULL,
    budget_started_at BIGINT NOT NULL,
    lease_owner       TEXT,
    lease_until       BIGINT,
    last_error        TEXT,
    vendor_status     INTEGER,
    vendor_response   TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    delivered_at      BIGINT,
    PRIMARY KEY (destination, order_id)
);
-- Only rows still to deliver are indexed for claiming, so the claim stays cheap however many
-- delivered rows accumulate.
CREATE INDEX ordersync_deliveries_due ON ordersync_deliveries (destination, next_attempt_at, id)
    WHERE state IN ('pending', 'retrying');
CREATE INDEX ordersync_deliveries_by_order ON ordersync_deliveries (order_id);
CREATE INDEX ordersync_deliveries_dead ON ordersync_deliveries (updated_at, order_id)
    WHERE state = 'dead';
"#,
    },
    Migration {
        version: 2,
        description: "retention: pruned orders remembered by their checkout row",
        sql: r#"
-- A pruned order keeps its checkout row, without the checkout, as the memory of its order id
-- (see PostgresOutbox::prune_finished): the primary key then refuses a repeat by itself.
ALTER TABLE ordersync_checkouts ALTER COLUMN checkout_json DROP NOT NULL;
ALTER TABLE ordersync_checkouts ADD COLUMN delivered_at BIGINT, ADD COLUMN pruned_at BIGINT;
ALTER TABLE ordersync_checkouts ADD CONSTRAINT ordersync_checkouts_pruned_without_checkout
    CHECK ((pruned_at IS NULL) = (checkout_json IS NOT NULL));
-- The orders still held, oldest first (what pruning reads), and the remembered ones (what
-- forgetting reads).
CREATE INDEX ordersync_checkouts_held ON ordersync_checkouts (accepted_at)
    WHERE pruned_at IS NULL;
CREATE INDEX ordersync_checkouts_remembered ON ordersync_checkouts (accepted_at)
    WHERE pruned_at IS NOT NULL;
"#,
    },
    Migration {
        version: 3,
        description: "delivery errors without the vendor's answer",
        sql: r#"
-- Earlier versions stored 'HTTP 400: <the vendor's answer>' as the error (also inside
-- 'retry budget exhausted ...; last: HTTP 503: ...' and 'discarded by an operator after: ...').
-- The error keeps the text up to the status; the answer goes to vendor_response unless that
-- already holds one (a refusal's full answer). Positions are 1-based: the status is at
-- at + 5, its ': ' at at + 8, the answer from at + 10.
UPDATE ordersync_deliveries AS d SET
    vendor_response = COALESCE(d.vendor_response, substr(d.last_error, e.at + 10)),
    last_error = substr(d.last_error, 1, e.at + 7)
FROM (SELECT destination, order_id, strpos(last_error, 'HTTP ') AS at
      FROM ordersync_deliveries WHERE last_error LIKE '%HTTP %') AS e
WHERE e.destination = d.destination AND e.order_id = d.order_id AND e.at > 0
    AND substr(d.last_error, e.at + 5, 5) ~ '^[0-9]{3}: $';
"#,
    },
];

struct Migration {
    version: i32,
    description: &'static str,
    sql: &'static str,
}

/// The outbox in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresOutbox {
    pool: PgPool,
}

impl PostgresOutbox {
    /// Connects to the database a `postgres://` URL names and brings its schema up to date.
    /// The password may be left out of the URL and given as `PGPASSWORD`.
    pub async fn open(database_url: &str) -> Result<Self, StorageError> {
        let options = PgConnectOptions::from_str(database_url)?.application_name("ordersync-relay");
        let target = format!(
            "{}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or(options.get_username())
        );
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            // When the database is unreachable, a request waits this long for a connection
            // before it gets its error (a 503 with Retry-After, `/readyz` 503): short enough
            // for a load balancer's health check, long enough to ride out a brief burst.
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|source| StorageError::Connect {
                target: target.clone(),
                source,
            })?;
        let outbox = Self { pool };
        let applied = outbox.migrate().await?;
        tracing::info!(
            database = target.as_str(),
            migrations_applied = applied,
            "outbox on PostgreSQL"
        );
        Ok(outbox)
    }

    /// Applies the migrations this database lacks; returns how many. Several instances may
    /// call this at once: the advisory lock makes them take turns, and each sees what the
    /// previous one applied. The lock is transaction-scoped, so a crash cannot leave it held.
    pub async fn migrate(&self) -> Result<usize, StorageError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK_KEY)
            .execute(&mut *tx)
            .await?;
        // Looked up first rather than `CREATE TABLE IF NOT EXISTS`, which needs the CREATE
        // privilege even when the table exists: after the first start, the relay's database
        // user needs only SELECT, INSERT and UPDATE on its tables.
        let bookkept: bool =
            sqlx::query_scalar("SELECT to_regclass('ordersync_schema_migrations') IS NOT NULL")
                .fetch_one(&mut *tx)
                .await?;
        if !bookkept {
            sqlx::raw_sql(
                "CREATE TABLE ordersync_schema_migrations (version INTEGER PRIMARY KEY, \
                 description TEXT NOT NULL, applied_at BIGINT NOT NULL)",
            )
            .execute(&mut *tx)
            .await?;
        }
        let applied: Vec<i32> =
            sqlx::query_scalar("SELECT version FROM ordersync_schema_migrations")
                .fetch_all(&mut *tx)
                .await?;
        let known = MIGRATIONS.iter().map(|m| m.version).max().unwrap_or(0);
        if let Some(newer) = applied.iter().copied().filter(|v| *v > known).max() {
            return Err(StorageError::SchemaTooNew {
                found: newer,
                known,
            });
        }
        let mut count = 0;
        for migration in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
            sqlx::raw_sql(migration.sql).execute(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO ordersync_schema_migrations (version, description, applied_at) \
                 VALUES ($1, $2, $3)",
            )
            .bind(migration.version)
            .bind(migration.description)
            .bind(crate::clock::now_ms())
            .execute(&mut *tx)
            .await?;
            count += 1;
        }
        tx.commit().await?;
        Ok(count)
    }

    /// The schema versions applied to this database, oldest first.
    pub async fn schema_versions(&self) -> Result<Vec<i32>, StorageError> {
        Ok(
            sqlx::query_scalar("SELECT version FROM ordersync_schema_migrations ORDER BY version")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Runs an operator's change of dead letters: `update` takes `$1` now, `$2` the order id
    /// and `$3` the destination (either NULL: any). Returns how many rows changed.
    async fn change_dead(
        &self,
        update: &'static str,
        order_id: Option<&str>,
        destination: Option<Destination>,
        now_ms: i64,
    ) -> Result<u64, StorageError> {
        Ok(sqlx::query(update)
            .bind(now_ms)
            .bind(order_id)
            .bind(destination.map(Destination::as_str))
            .execute(&self.pool)
            .await?
            .rows_affected())
    }
}

/// Records one outcome on `connection` (a pooled connection, or a transaction's). True when
/// `lease_owner` still held the row.
async fn record_one(
    connection: &mut PgConnection,
    destination: Destination,
    order_id: &str,
    lease_owner: &str,
    outcome: Outcome,
    now_ms: i64,
) -> Result<bool, StorageError> {
    let recorded = Recorded::from_outcome(outcome, now_ms);
    let changed = sqlx::query(
        "UPDATE ordersync_deliveries SET state = $1, attempts = attempts + 1, \
         next_attempt_at = $2, last_error = COALESCE($3, last_error), vendor_status = $4, \
         vendor_response = COALESCE($5, vendor_response), delivered_at = $6, \
         updated_at = $7, lease_owner = NULL, lease_until = NULL \
         WHERE destination = $8 AND order_id = $9 AND lease_owner = $10",
    )
    .bind(recorded.state.as_str())
    .bind(recorded.next_attempt_at)
    .bind(recorded.error)
    .bind(recorded.vendor_status)
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

/// A batch of an import as the columns [`PostgresOutbox::insert_batch`] binds: one entry per
/// checkout, and one per planned (checkout, destination), which names its checkout by its
/// position in the batch (from 1, as `WITH ORDINALITY` counts).
#[derive(Debug, Default)]
struct PlannedBatch<'a> {
    order_ids: Vec<&'a str>,
    checkout_jsons: Vec<&'a str>,
    cookie_ids: Vec<Option<&'a str>>,
    positions: Vec<i64>,
    destinations: Vec<&'static str>,
    states: Vec<&'static str>,
    reasons: Vec<Option<&'a str>>,
}

impl<'a> PlannedBatch<'a> {
    fn of(checkouts: &'a [NewCheckout]) -> Self {
        let mut batch = PlannedBatch::default();
        for (position, checkout) in (1_i64..).zip(checkouts) {
            batch.order_ids.push(&checkout.order_id);
            batch.checkout_jsons.push(&checkout.checkout_json);
            batch.cookie_ids.push(checkout.cookie_id.as_deref());
            for (destination, initial) in &checkout.destinations {
                batch.positions.push(position);
                batch.destinations.push(destination.as_str());
                let (state, reason) = match initial {
                    InitialState::Pending => (DeliveryState::Pending, None),
                    InitialState::Skipped { reason } => {
                        (DeliveryState::Skipped, Some(reason.as_str()))
                    }
                };
                batch.states.push(state.as_str());
                batch.reasons.push(reason);
            }
        }
        batch
    }
}

#[async_trait]
impl Outbox for PostgresOutbox {
    async fn insert(
        &self,
        checkout: NewCheckout,
        now_ms: i64,
    ) -> Result<InsertOutcome, StorageError> {
        let mut destinations = Vec::with_capacity(checkout.destinations.len());
        let mut states = Vec::with_capacity(checkout.destinations.len());
        let mut reasons: Vec<Option<String>> = Vec::with_capacity(checkout.destinations.len());
        for (destination, initial) in &checkout.destinations {
            destinations.push(destination.as_str());
            match initial {
                InitialState::Pending => {
                    states.push(DeliveryState::Pending.as_str());
                    reasons.push(None);
                }
                InitialState::Skipped { reason } => {
                    states.push(DeliveryState::Skipped.as_str());
                    reasons.push(Some(reason.clone()));
                }
            }
        }
        // One statement, so one round trip and atomic on its own: the deliveries are written
        // only when the checkout row was. A concurrent insert of the same order id waits on
        // the primary key until this commits, then inserts nothing and reports `Existing`.
        // With `synchronous_commit = on` (the server default) the commit has reached the WAL
        // on disk before this returns.
        let inserted: i64 = sqlx::query_scalar(
            "WITH checkout AS ( \
               INSERT INTO ordersync_checkouts (order_id, checkout_json, cookie_id, accepted_at) \
               VALUES ($1, $2, $3, $4) ON CONFLICT (order_id) DO NOTHING RETURNING order_id), \
             deliveries AS ( \
               INSERT INTO ordersync_deliveries (destination, order_id, state, next_attempt_at, \
                 budget_started_at, last_error, created_at, updated_at) \
               SELECT planned.destination, checkout.order_id, planned.state, $4, $4, \
                 planned.reason, $4, $4 \
               FROM checkout, \
                 UNNEST($5::text[], $6::text[], $7::text[]) AS planned (destination, state, reason)) \
             SELECT COUNT(*) FROM checkout",
        )
        .bind(&checkout.order_id)
        .bind(&checkout.checkout_json)
        .bind(&checkout.cookie_id)
        .bind(now_ms)
        .bind(&destinations)
        .bind(&states)
        .bind(&reasons)
        .fetch_one(&self.pool)
        .await?;
        if inserted == 1 {
            return Ok(InsertOutcome::Inserted);
        }
        // Held, or pruned and remembered (the row was pruned, or its pruning committed, after
        // the conflict was found: then the status is gone and the memory is there).
        if let Some(status) = self.status(&checkout.order_id).await? {
            return Ok(InsertOutcome::Existing(status));
        }
        let pruned = self.pruned(&checkout.order_id).await?.ok_or_else(|| {
            StorageError::Corrupt(format!("order {} vanished", checkout.order_id))
        })?;
        Ok(InsertOutcome::Pruned(pruned))
    }

    async fn claim(
        &self,
        destination: Destination,
        limit: u32,
        lease_owner: &str,
        lease: Duration,
        now_ms: i64,
        due_by: i64,
    ) -> Result<Vec<ClaimedDelivery>, StorageError> {
        let lease_until =
            now_ms.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
        // SKIP LOCKED: rows another instance is claiming this very moment are passed over
        // instead of waited for, so concurrent claims return disjoint sets at once.
        // MATERIALIZED: the locking subquery runs exactly once.
        let rows = sqlx::query(
            "WITH due AS MATERIALIZED ( \
               SELECT id FROM ordersync_deliveries \
               WHERE destination = $3 AND state IN ('pending', 'retrying') \
                 AND next_attempt_at <= $6 AND (lease_until IS NULL OR lease_until <= $4) \
               ORDER BY next_attempt_at, id \
               LIMIT $5 \
               FOR UPDATE SKIP LOCKED) \
             UPDATE ordersync_deliveries AS d SET lease_owner = $1, lease_until = $2 \
             FROM due, ordersync_checkouts AS c \
             WHERE d.id = due.id AND c.order_id = d.order_id \
             RETURNING d.id, d.order_id, d.attempts, d.budget_started_at, d.next_attempt_at, \
               c.checkout_json, c.cookie_id",
        )
        .bind(lease_owner)
        .bind(lease_until)
        .bind(destination.as_str())
        .bind(now_ms)
        .bind(i64::from(limit))
        .bind(due_by)
        .fetch_all(&self.pool)
        .await?;
        let mut claimed = rows
            .iter()
            .map(|row| {
                let order = (row.integer("next_attempt_at")?, row.integer("id")?);
                Ok((order, stored::claimed(row, destination)?))
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        // RETURNING has no order of its own: restore first in, first out.
        claimed.sort_by_key(|(order, _)| *order);
        Ok(claimed.into_iter().map(|(_, delivery)| delivery).collect())
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
            "UPDATE ordersync_deliveries SET lease_owner = NULL, lease_until = NULL \
             WHERE destination = $1 AND order_id = $2 AND lease_owner = $3",
        )
        .bind(destination.as_str())
        .bind(order_id)
        .bind(lease_owner)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn status(&self, order_id: &str) -> Result<Option<OrderStatus>, StorageError> {
        // One statement, so the checkout and its destinations come from one snapshot.
        let rows = sqlx::query(
            "SELECT c.order_id, c.accepted_at, d.destination, d.state, d.attempts, d.last_error, \
               d.created_at, d.updated_at, d.delivered_at, d.next_attempt_at \
             FROM ordersync_checkouts AS c \
             LEFT JOIN ordersync_deliveries AS d ON d.order_id = c.order_id \
             WHERE c.order_id = $1 AND c.pruned_at IS NULL ORDER BY d.destination",
        )
        .bind(order_id)
        .fetch_all(&self.pool)
        .await?;
        let mut orders = stored::Orders::default();
        for row in &rows {
            orders.add(row)?;
        }
        Ok(orders.into_vec().pop())
    }

    async fn dead_letters(&self, limit: u32) -> Result<Vec<DeadLetter>, StorageError> {
        let rows = sqlx::query(
            "SELECT order_id, destination, attempts, last_error, vendor_status, \
             vendor_response, updated_at FROM ordersync_deliveries WHERE state = 'dead' \
             ORDER BY updated_at, order_id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(stored::dead_letter).collect()
    }

    async fn retry_dead(
        &self,
        order_id: Option<&str>,
        destination: Option<Destination>,
        now_ms: i64,
    ) -> Result<u64, StorageError> {
        let revive = "UPDATE ordersync_deliveries SET state = 'pending', next_attempt_at = $1, \
             budget_started_at = $1, updated_at = $1, lease_owner = NULL, lease_until = NULL \
             WHERE state = 'dead' AND ($2::text IS NULL OR order_id = $2) \
               AND ($3::text IS NULL OR destination = $3)";
        self.change_dead(revive, order_id, destination, now_ms)
            .await
    }

    async fn retry_now(&self, destination: Destination, now_ms: i64) -> Result<u64, StorageError> {
        let changed = sqlx::query(
            "UPDATE ordersync_deliveries SET next_attempt_at = $2, updated_at = $2 \
             WHERE destination = $1 AND state = 'retrying' AND next_attempt_at > $2 \
               AND (lease_until IS NULL OR lease_until <= $2)",
        )
        .bind(destination.as_str())
        .bind(now_ms)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(changed)
    }

    async fn depth(&self) -> Result<Vec<DepthRow>, StorageError> {
        let rows = sqlx::query(
            "SELECT destination, state, COUNT(*) AS n FROM ordersync_deliveries \
             GROUP BY destination, state",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(stored::depth_row).collect()
    }

    async fn ping(&self) -> Result<(), StorageError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn discard_dead(
        &self,
        order_id: Option<&str>,
        destination: Option<Destination>,
        now_ms: i64,
    ) -> Result<u64, StorageError> {
        let discard = "UPDATE ordersync_deliveries SET state = 'skipped', updated_at = $1, \
             last_error = 'discarded by an operator' || COALESCE(' after: ' || last_error, ''), \
             lease_owner = NULL, lease_until = NULL \
             WHERE state = 'dead' AND ($2::text IS NULL OR order_id = $2) \
               AND ($3::text IS NULL OR destination = $3)";
        self.change_dead(discard, order_id, destination, now_ms)
            .await
    }

    /// The pruned order's checkout row stays, without its checkout, as the memory of its id,
    /// rather than moving to a table of its own: the primary key then refuses a repeat
    /// hand-off however it races the pruning. With a separate table, a hand-off that had
    /// looked there before the pruning committed could wait on the checkout row being deleted,
    /// then store the order again once it was gone.
    ///
    /// Reads the held orders oldest first (`ordersync_checkouts_held`), each one's deliveries
    /// through their index on the order id: a subquery per order rather than `NOT EXISTS`,
    /// for which the planner, expecting almost no unfinished delivery, read the whole
    /// deliveries table once per step (860 ms a step with two million rows, against 16 ms).
    /// `SKIP LOCKED` leaves an order another instance is pruning at that moment to it.
    async fn prune_finished(
        &self,
        finished_before: i64,
        limit: u32,
        now_ms: i64,
    ) -> Result<Batch, StorageError> {
        let removed = sqlx::query(
            "WITH finished AS ( \
               SELECT c.order_id FROM ordersync_checkouts AS c \
               WHERE c.pruned_at IS NULL AND c.accepted_at <= $1 \
                 AND (SELECT bool_and(d.state IN ('delivered', 'skipped') AND d.updated_at <= $1) \
                      FROM ordersync_deliveries AS d WHERE d.order_id = c.order_id) IS NOT FALSE \
               ORDER BY c.accepted_at LIMIT $2 \
               FOR UPDATE OF c SKIP LOCKED), \
             removed AS ( \
               DELETE FROM ordersync_deliveries AS d USING finished \
               WHERE d.order_id = finished.order_id \
               RETURNING d.order_id, d.delivered_at) \
             UPDATE ordersync_checkouts AS c \
             SET checkout_json = NULL, cookie_id = NULL, pruned_at = $3, \
               delivered_at = (SELECT MAX(removed.delivered_at) FROM removed \
                               WHERE removed.order_id = c.order_id) \
             FROM finished WHERE c.order_id = finished.order_id",
        )
        .bind(finished_before)
        .bind(i64::from(limit))
        .bind(now_ms)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(Batch {
            removed,
            more: removed == u64::from(limit),
        })
    }

    async fn forget_pruned(&self, accepted_before: i64, limit: u32) -> Result<Batch, StorageError> {
        let removed = sqlx::query(
            "DELETE FROM ordersync_checkouts WHERE order_id IN ( \
               SELECT order_id FROM ordersync_checkouts \
               WHERE pruned_at IS NOT NULL AND accepted_at < $1 \
               ORDER BY accepted_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(accepted_before)
        .bind(i64::from(limit))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(Batch {
            removed,
            more: removed == u64::from(limit),
        })
    }

    async fn pruned(&self, order_id: &str) -> Result<Option<PrunedOrder>, StorageError> {
        let row = sqlx::query(
            "SELECT accepted_at, delivered_at, pruned_at FROM ordersync_checkouts \
             WHERE order_id = $1 AND pruned_at IS NOT NULL",
        )
        .bind(order_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| stored::pruned_order(&row, order_id))
            .transpose()
    }

    async fn insert_batch(
        &self,
        checkouts: Vec<NewCheckout>,
        now_ms: i64,
    ) -> Result<Vec<Imported>, StorageError> {
        let planned = PlannedBatch::of(&checkouts);
        // One statement, so one round trip and one transaction for the whole batch, atomic as
        // the single insert is: deliveries are written only for the checkouts stored now. An
        // order id given twice in the batch is stored from its first checkout (DISTINCT ON
        // keeps the lowest position); one stored before, or pruned and remembered (its row
        // stays), is refused by the primary key. A hand-off of the same order id at the same
        // moment waits on that key, as two hand-offs do.
        let stored: Vec<String> = sqlx::query_scalar(
            "WITH batch AS ( \
               SELECT DISTINCT ON (order_id) order_id, checkout_json, cookie_id, position \
               FROM UNNEST($1::text[], $2::text[], $3::text[]) WITH ORDINALITY \
                 AS given (order_id, checkout_json, cookie_id, position) \
               ORDER BY order_id, position), \
             checkout AS ( \
               INSERT INTO ordersync_checkouts (order_id, checkout_json, cookie_id, accepted_at) \
               SELECT order_id, checkout_json, cookie_id, $4 FROM batch ORDER BY position \
               ON CONFLICT (order_id) DO NOTHING RETURNING order_id), \
             deliveries AS ( \
               INSERT INTO ordersync_deliveries (destination, order_id, state, next_attempt_at, \
                 budget_started_at, last_error, created_at, updated_at) \
               SELECT planned.destination, checkout.order_id, planned.state, $4, $4, \
                 planned.reason, $4, $4 \
               FROM checkout JOIN batch USING (order_id) \
               JOIN UNNEST($5::bigint[], $6::text[], $7::text[], $8::text[]) \
                 AS planned (position, destination, state, reason) \
                 ON planned.position = batch.position) \
             SELECT order_id FROM checkout",
        )
        .bind(&planned.order_ids)
        .bind(&planned.checkout_jsons)
        .bind(&planned.cookie_ids)
        .bind(now_ms)
        .bind(&planned.positions)
        .bind(&planned.destinations)
        .bind(&planned.states)
        .bind(&planned.reasons)
        .fetch_all(&self.pool)
        .await?;
        let mut stored: std::collections::HashSet<String> = stored.into_iter().collect();
        // The first checkout of each order id stored now is the new one; any other is known.
        Ok(checkouts
            .iter()
            .map(|checkout| {
                if stored.remove(&checkout.order_id) {
                    Imported::New
                } else {
                    Imported::AlreadyKnown
                }
            })
            .collect())
    }

    async fn known(&self, order_ids: &[String]) -> Result<Vec<bool>, StorageError> {
        // A pruned order keeps its row (without the checkout): one lookup covers both.
        let known: Vec<String> = sqlx::query_scalar(
            "SELECT order_id FROM ordersync_checkouts WHERE order_id = ANY($1::text[])",
        )
        .bind(order_ids)
        .fetch_all(&self.pool)
        .await?;
        let known: std::collections::HashSet<String> = known.into_iter().collect();
        Ok(order_ids.iter().map(|id| known.contains(id)).collect())
    }

    async fn reclaim_space(&self, _max_pages: u32) -> Result<u64, StorageError> {
        // Autovacuum makes the deleted rows' space reusable by new rows; giving it back to the
        // filesystem would take VACUUM FULL, which locks the tables for its whole run.
        Ok(0)
    }

    async fn size_on_disk(&self) -> Result<u64, StorageError> {
        let bytes: i64 = sqlx::query_scalar(
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class AS c \
             WHERE c.oid IN (to_regclass('ordersync_checkouts'), \
               to_regclass('ordersync_deliveries'), to_regclass('ordersync_schema_migrations'))",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(bytes).unwrap_or(0))
    }

    async fn delivered_recently(
        &self,
        now_ms: i64,
    ) -> Result<Vec<DeliveredRecently>, StorageError> {
        console::delivered_recently(&self.pool, now_ms).await
    }

    async fn latest_orders(
        &self,
        limit: u32,
        order_id_prefix: Option<&str>,
    ) -> Result<Vec<OrderStatus>, StorageError> {
        console::latest_orders(&self.pool, limit, order_id_prefix).await
    }

    async fn activity(&self, since_ms: i64) -> Result<Vec<MinuteActivity>, StorageError> {
        console::activity(&self.pool, since_ms).await
    }
}
