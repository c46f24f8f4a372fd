//! The outbox: every accepted checkout and, per destination, its delivery state.
//!
//! One trait, [`Outbox`], so the SQLite implementation (one relay instance, the default) and a
//! PostgreSQL one (several instances, issue 6) are interchangeable. The trait is shaped around
//! *leases*: a worker claims due rows for a while (`lease_owner`, `lease_until`), and only the
//! holder of a lease may record an outcome. A process that dies mid-delivery simply lets its
//! leases run out, and the rows become due again. In PostgreSQL ([`PostgresOutbox`]) the claim
//! is `SELECT ... FOR UPDATE SKIP LOCKED` feeding the lease's `UPDATE`, so several relay
//! instances share one database without ever holding the same row. Both backends keep the same
//! tables and columns (`ordersync_checkouts`, `ordersync_deliveries`) and the same lease rule,
//! and read their rows back through one mapping ([`stored`]).

pub mod console;
pub mod postgres;
pub mod retention;
pub mod sqlite;
mod stored;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

pub use console::{DeliveredRecently, MinuteActivity};
pub use postgres::PostgresOutbox;
pub use retention::{Batch, PrunedOrder};
pub use sqlite::{GroupCommit, SqliteOutbox};

/// Where an order goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Destination {
    Cibler,
    Citrusad,
}

impl Destination {
    pub const ALL: [Destination; 2] = [Destination::Cibler, Destination::Citrusad];

    pub const fn as_str(self) -> &'static str {
        match self {
            Destination::Cibler => "cibler",
            Destination::Citrusad => "citrusad",
        }
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Destination {
    type Err = StorageError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        stored_name(&Destination::ALL, Destination::as_str, s, "destination")
    }
}

/// The value among `all` whose stored name (`as_str`) is `text`: how the outbox reads back the
/// enums it writes as text.
fn stored_name<T: Copy>(
    all: &[T],
    as_str: fn(T) -> &'static str,
    text: &str,
    what: &str,
) -> Result<T, StorageError> {
    all.iter()
        .copied()
        .find(|value| as_str(*value) == text)
        .ok_or_else(|| StorageError::Corrupt(format!("unknown {what} {text:?}")))
}

/// The state of one (destination, order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Stored, never attempted yet.
    Pending,
    /// At least one attempt failed in a way worth retrying; another is scheduled.
    Retrying,
    /// The vendor answered 2xx.
    Delivered,
    /// The vendor refused it (a 4xx other than 429) or the retry budget ran out; kept for the
    /// operator (`ordersync-relay dead-letters`).
    Dead,
    /// Not meant for this destination (e.g. no line items for CitrusAd, or the destination
    /// was disabled when the order was accepted); the reason is kept in `last_error`.
    Skipped,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 5] = [
        DeliveryState::Pending,
        DeliveryState::Retrying,
        DeliveryState::Delivered,
        DeliveryState::Dead,
        DeliveryState::Skipped,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Retrying => "retrying",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Dead => "dead",
            DeliveryState::Skipped => "skipped",
        }
    }
}

impl fmt::Display for DeliveryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeliveryState {
    type Err = StorageError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        stored_name(
            &DeliveryState::ALL,
            DeliveryState::as_str,
            s,
            "delivery state",
        )
    }
}

/// What a destination starts as when the checkout is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitialState {
    Pending,
    Skipped { reason: String },
}

/// A checkout ready to store: canonical JSON (order date filled in) plus the hand-off's cookie.
#[derive(Debug, Clone)]
pub struct NewCheckout {
    pub order_id: String,
    pub checkout_json: String,
    pub cookie_id: Option<String>,
    pub destinations: Vec<(Destination, InitialState)>,
}

/// The result of storing a checkout.
#[derive(Debug, Clone, PartialEq)]
pub enum InsertOutcome {
    /// Newly stored (and on disk).
    Inserted,
    /// This order id was stored before; nothing changed. Its current status.
    Existing(OrderStatus),
    /// This order id was delivered and its row pruned at the retention; the relay still
    /// remembers it (`--order-id-memory`), so nothing is stored and nothing is sent again.
    Pruned(PrunedOrder),
}

/// What storing one checkout of an operator's import did ([`Outbox::insert_batch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imported {
    /// Stored now, for delivery.
    New,
    /// Its order id was already known: stored before (or earlier in the same batch), or
    /// delivered, pruned and still remembered. Nothing changed; nothing is sent again.
    AlreadyKnown,
}

/// One (destination, order) row as a worker holds it under lease.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub order_id: String,
    pub destination: Destination,
    pub checkout_json: String,
    pub cookie_id: Option<String>,
    /// Attempts recorded before this one.
    pub attempts: u32,
    /// When the retry budget started counting (acceptance, or an operator's retry), unix ms.
    pub budget_started_at: i64,
}

/// How a delivery attempt ended, as the outbox records it.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Delivered {
        vendor_status: u16,
        vendor_response: Option<String>,
    },
    /// Try again at `next_attempt_at` (unix ms).
    Retry {
        next_attempt_at: i64,
        error: String,
        vendor_status: Option<u16>,
        /// The vendor's answer, when one came (`None` keeps the one stored before).
        vendor_response: Option<String>,
    },
    /// `error` says what happened, without the vendor's answer (that is `vendor_response`).
    Dead {
        error: String,
        vendor_status: Option<u16>,
        vendor_response: Option<String>,
    },
}

/// The public view of one destination of an order.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DestinationStatus {
    pub destination: Destination,
    pub state: DeliveryState,
    pub attempts: u32,
    /// A short summary of the last failure (or the reason for `skipped`); never a secret.
    pub last_error: Option<String>,
    /// Unix milliseconds.
    #[serde(skip)]
    pub created_at_ms: i64,
    #[serde(skip)]
    pub updated_at_ms: i64,
    #[serde(skip)]
    pub delivered_at_ms: Option<i64>,
    #[serde(skip)]
    pub next_attempt_at_ms: Option<i64>,
}

/// Every destination of one order.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderStatus {
    pub order_id: String,
    pub accepted_at_ms: i64,
    pub destinations: Vec<DestinationStatus>,
}

impl OrderStatus {
    /// One word for the whole order: `dead` if any destination is dead, else `retrying` if any
    /// is retrying, else `pending` if any is pending, else `delivered` (skipped ones aside).
    pub fn overall(&self) -> DeliveryState {
        let has = |state| self.destinations.iter().any(|d| d.state == state);
        [
            DeliveryState::Dead,
            DeliveryState::Retrying,
            DeliveryState::Pending,
            DeliveryState::Delivered,
        ]
        .into_iter()
        .find(|&state| has(state))
        .unwrap_or(DeliveryState::Skipped)
    }
}

/// A dead (destination, order), with the vendor's answer kept for the operator.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    pub order_id: String,
    pub destination: Destination,
    pub attempts: u32,
    pub error: Option<String>,
    pub vendor_status: Option<u16>,
    pub vendor_response: Option<String>,
    pub updated_at_ms: i64,
}

/// How many rows are in each state, per destination (for `/metrics`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepthRow {
    pub destination: Destination,
    pub state: DeliveryState,
    pub count: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("storage holds an unexpected value: {0}")]
    Corrupt(String),
    /// The SQLite outbox's writing connection refused a statement.
    #[error("storage error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The SQLite group commit this write was part of failed: every write of that group gets
    /// this same error (shared, since one failed commit answers many callers).
    #[error("storage error: {0}")]
    GroupCommit(std::sync::Arc<rusqlite::Error>),
    /// The SQLite outbox's writer thread is gone (the outbox was closed).
    #[error("storage writer stopped")]
    WriterStopped,
    /// A thread of the SQLite outbox (its writer or its checkpointer) could not be started.
    #[error("cannot start a storage thread: {0}")]
    StorageThread(std::io::Error),
    /// The size of the SQLite outbox's files could not be read.
    #[error("cannot read the size of the outbox's files: {0}")]
    FileSize(std::io::Error),
    /// Another relay process serves this SQLite outbox (it holds the lock file `path`).
    #[error(
        "another relay is already serving this outbox (it holds {path:?}); a SQLite outbox is \
         served by one relay at a time: stop it first, or use PostgreSQL for several instances"
    )]
    AlreadyServed { path: std::path::PathBuf },
    #[error("cannot lock {path:?} to serve the outbox: {source}")]
    ServeLock {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The SQLite outbox's read connections could not be had or used.
    #[error("storage read connection: {0}")]
    ReadPool(String),
    /// A `sqlite://` URL this outbox cannot open (never quoted: only the problem).
    #[error("unsupported SQLite database URL: {0}")]
    SqliteUrl(&'static str),
    /// Holds only the URL's scheme: the rest may carry a password.
    #[error(
        "unsupported database URL scheme {0:?}: use sqlite://PATH or postgres://HOST/DATABASE"
    )]
    UnsupportedUrl(String),
    /// `target` is host:port/database, never the password.
    #[error("cannot connect to PostgreSQL at {target}: {source}")]
    Connect {
        target: String,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "the database schema is at version {found}, newer than this relay knows ({known}): \
         upgrade this relay to the version the other instances run"
    )]
    SchemaTooNew { found: i32, known: i32 },
}

/// The columns an outcome writes, for both backends.
pub(crate) struct Recorded {
    pub state: DeliveryState,
    pub next_attempt_at: i64,
    pub error: Option<String>,
    pub vendor_status: Option<i32>,
    pub vendor_response: Option<String>,
    pub delivered_at: Option<i64>,
}

impl Recorded {
    pub fn from_outcome(outcome: Outcome, now_ms: i64) -> Self {
        match outcome {
            Outcome::Delivered {
                vendor_status,
                vendor_response,
            } => Recorded {
                state: DeliveryState::Delivered,
                next_attempt_at: now_ms,
                error: None,
                vendor_status: Some(i32::from(vendor_status)),
                vendor_response,
                delivered_at: Some(now_ms),
            },
            Outcome::Retry {
                next_attempt_at,
                error,
                vendor_status,
                vendor_response,
            } => Recorded {
                state: DeliveryState::Retrying,
                next_attempt_at,
                error: Some(error),
                vendor_status: vendor_status.map(i32::from),
                vendor_response,
                delivered_at: None,
            },
            Outcome::Dead {
                error,
                vendor_status,
                vendor_response,
            } => Recorded {
                state: DeliveryState::Dead,
                next_attempt_at: now_ms,
                error: Some(error),
                vendor_status: vendor_status.map(i32::from),
                vendor_response,
                delivered_at: None,
            },
        }
    }
}

/// The durable outbox behind the relay. Every method is one transaction.
/// What an operator does to dead deliveries (`dead-letters retry|discard`, the console).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetterAction {
    /// Due again with a fresh retry budget.
    Retry,
    /// Given up: `skipped`, never sent; the order is then pruned at the retention like a
    /// delivered one, its id remembered.
    Discard,
}

impl DeadLetterAction {
    /// The subcommand's name.
    pub fn command(self) -> &'static str {
        match self {
            DeadLetterAction::Retry => "retry",
            DeadLetterAction::Discard => "discard",
        }
    }

    /// Acts on the dead deliveries selected (every one when neither an order nor a
    /// destination narrows it); how many changed.
    pub async fn apply(
        self,
        outbox: &dyn Outbox,
        order_id: Option<&str>,
        destination: Option<Destination>,
        now_ms: i64,
    ) -> Result<u64, StorageError> {
        match self {
            DeadLetterAction::Retry => outbox.retry_dead(order_id, destination, now_ms).await,
            DeadLetterAction::Discard => outbox.discard_dead(order_id, destination, now_ms).await,
        }
    }
}

#[async_trait]
pub trait Outbox: Send + Sync + 'static {
    /// Stores a checkout and its destinations once; returns `Existing` if the order id is
    /// already stored. Returns only once the write is durable.
    async fn insert(
        &self,
        checkout: NewCheckout,
        now_ms: i64,
    ) -> Result<InsertOutcome, StorageError>;

    /// Leases up to `limit` rows of `destination` (pending or retrying) that are due by
    /// `due_by` and whose lease is free or expired at `now_ms`, to `lease_owner` until
    /// `now_ms + lease`, the first due first. Workers use [`Outbox::claim_due`] and
    /// [`Outbox::claim_probe`].
    async fn claim(
        &self,
        destination: Destination,
        limit: u32,
        lease_owner: &str,
        lease: Duration,
        now_ms: i64,
        due_by: i64,
    ) -> Result<Vec<ClaimedDelivery>, StorageError>;

    /// Claims up to `limit` due rows of `destination` (pending or retrying, next attempt due,
    /// lease free or expired) for `lease_owner` until `now + lease`.
    async fn claim_due(
        &self,
        destination: Destination,
        limit: u32,
        lease_owner: &str,
        lease: Duration,
        now_ms: i64,
    ) -> Result<Vec<ClaimedDelivery>, StorageError> {
        self.claim(destination, limit, lease_owner, lease, now_ms, now_ms)
            .await
    }

    /// Claims, for a circuit's probe, the one waiting row of `destination` (pending or
    /// retrying, lease free or expired) that is due first, even if its time has not come: while
    /// a vendor is down nothing may be due for a long while, and the probe should not wait out
    /// an order's own backoff to learn that the vendor is back.
    async fn claim_probe(
        &self,
        destination: Destination,
        lease_owner: &str,
        lease: Duration,
        now_ms: i64,
    ) -> Result<Option<ClaimedDelivery>, StorageError> {
        let claimed = self
            .claim(destination, 1, lease_owner, lease, now_ms, i64::MAX)
            .await?;
        Ok(claimed.into_iter().next())
    }

    /// Records the outcome of an attempt and frees the lease. Returns false (and changes
    /// nothing) when `lease_owner` no longer holds the row.
    async fn record(
        &self,
        destination: Destination,
        order_id: &str,
        lease_owner: &str,
        outcome: Outcome,
        now_ms: i64,
    ) -> Result<bool, StorageError>;

    /// Records the outcomes of several attempts at `destination` (one CitrusAd batch) in one
    /// transaction, so a batch costs one durable commit instead of one per order. Returns, per
    /// entry and in order, what [`Outbox::record`] would have: false where `lease_owner` no
    /// longer held the row.
    async fn record_all(
        &self,
        destination: Destination,
        lease_owner: &str,
        outcomes: Vec<(String, Outcome)>,
        now_ms: i64,
    ) -> Result<Vec<bool>, StorageError>;

    /// Frees a lease without counting an attempt (graceful shutdown).
    async fn release(
        &self,
        destination: Destination,
        order_id: &str,
        lease_owner: &str,
    ) -> Result<(), StorageError>;

    async fn status(&self, order_id: &str) -> Result<Option<OrderStatus>, StorageError>;

    async fn dead_letters(&self, limit: u32) -> Result<Vec<DeadLetter>, StorageError>;

    /// Makes dead rows due again with a fresh retry budget. `order_id` / `destination` narrow
    /// it; both `None` retries every dead row. Returns how many rows changed.
    async fn retry_dead(
        &self,
        order_id: Option<&str>,
        destination: Option<Destination>,
        now_ms: i64,
    ) -> Result<u64, StorageError>;

    /// Makes every retrying row of `destination` due at `now_ms`, keeping its attempts and
    /// retry budget: the vendor is back (its circuit closed), so the orders waiting out their
    /// backoff need not wait longer. Leased rows are left alone. Returns how many changed.
    async fn retry_now(&self, destination: Destination, now_ms: i64) -> Result<u64, StorageError>;

    async fn depth(&self) -> Result<Vec<DepthRow>, StorageError>;

    /// Cheap round trip, for `/readyz`.
    async fn ping(&self) -> Result<(), StorageError>;

    // Retention ([`retention`]): pruning, the order ids remembered after it, space.

    /// Gives dead rows up (`dead-letters discard`): they become `skipped`, with the reason,
    /// and are never sent; the order is then pruned at the retention like a delivered one and
    /// its id remembered, so a repeat hand-off does not send it either. `order_id` /
    /// `destination` narrow it as in [`Outbox::retry_dead`]. Returns how many rows changed.
    async fn discard_dead(
        &self,
        order_id: Option<&str>,
        destination: Option<Destination>,
        now_ms: i64,
    ) -> Result<u64, StorageError>;

    /// Removes up to `limit` orders whose every destination is finished (`delivered`, or
    /// `skipped`) since `finished_before` at the latest, keeping each one's order id as a
    /// [`PrunedOrder`]. Pending, retrying and dead orders are never removed.
    async fn prune_finished(
        &self,
        finished_before: i64,
        limit: u32,
        now_ms: i64,
    ) -> Result<Batch, StorageError>;

    /// Forgets up to `limit` pruned order ids accepted before `accepted_before`.
    async fn forget_pruned(&self, accepted_before: i64, limit: u32) -> Result<Batch, StorageError>;

    /// What the relay remembers of a pruned order, if it does.
    async fn pruned(&self, order_id: &str) -> Result<Option<PrunedOrder>, StorageError>;

    /// Gives up to `max_pages` free pages back to the filesystem; returns how many remain free.
    /// SQLite truncates its file (`PRAGMA incremental_vacuum`); PostgreSQL leaves that to its
    /// autovacuum (rows deleted make room for new ones) and answers 0.
    async fn reclaim_space(&self, max_pages: u32) -> Result<u64, StorageError>;

    /// Bytes the outbox takes on disk (`/metrics`): SQLite's file and its WAL; PostgreSQL's
    /// tables with their indexes and TOAST.
    async fn size_on_disk(&self) -> Result<u64, StorageError>;

    // The operators' console ([`console`]).

    /// Per destination, how many of its orders were delivered in the hour and in the day
    /// before `now_ms`.
    async fn delivered_recently(&self, now_ms: i64)
        -> Result<Vec<DeliveredRecently>, StorageError>;

    /// Up to `limit` held orders, the newest first; with `order_id_prefix`, only those whose
    /// order id starts with it.
    async fn latest_orders(
        &self,
        limit: u32,
        order_id_prefix: Option<&str>,
    ) -> Result<Vec<OrderStatus>, StorageError>;

    /// Orders accepted and orders delivered per minute ([`MinuteActivity`]) from `since_ms`
    /// on, oldest minute first; minutes with neither are left out.
    async fn activity(&self, since_ms: i64) -> Result<Vec<MinuteActivity>, StorageError>;

    // Import (`ordersync-relay import`, [`crate::import`]).

    /// Stores the checkouts of one batch of an operator's import in one transaction, each as
    /// [`Outbox::insert`] would (never a second copy of an order id stored, or pruned and
    /// remembered), and returns, per checkout and in order, whether it was stored now. An order
    /// id repeated within the batch is stored once, from its first checkout. Returns only once
    /// the batch is durable.
    async fn insert_batch(
        &self,
        checkouts: Vec<NewCheckout>,
        now_ms: i64,
    ) -> Result<Vec<Imported>, StorageError>;

    /// Per order id and in order, whether the outbox knows it (stored, or pruned and still
    /// remembered); reads only (an import's dry run).
    async fn known(&self, order_ids: &[String]) -> Result<Vec<bool>, StorageError>;
}

/// The storage a database URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite://PATH` (or `sqlite:PATH`): one relay process per file.
    Sqlite,
    /// `postgres://...` or `postgresql://...`: any number of relay instances.
    Postgres,
}

impl Backend {
    /// Which backend `database_url` names; the error keeps only the scheme (a URL may hold a
    /// password).
    pub fn of(database_url: &str) -> Result<Backend, StorageError> {
        match database_url.split_once(':').map(|(scheme, _)| scheme) {
            Some("sqlite") => Ok(Backend::Sqlite),
            Some("postgres" | "postgresql") => Ok(Backend::Postgres),
            _ => Err(StorageError::UnsupportedUrl(scheme_of(database_url))),
        }
    }
}

/// A database URL's scheme, shortened, for an error message (the rest may carry a password).
fn scheme_of(database_url: &str) -> String {
    database_url
        .split_once(':')
        .map_or(database_url, |(scheme, _)| scheme)
        .chars()
        .take(32)
        .collect()
}

/// Opens the outbox for the relay that will serve and deliver from it.
///
/// Both keep their leases in the rows. A SQLite outbox is served by one relay process at a
/// time ([`SqliteOutbox::open_to_serve`] refuses a second one), so the relay that starts serving
/// it frees every lease there (their process is gone) and a restart after a crash resumes every
/// delivery at once. A PostgreSQL outbox is shared by any number of instances, whose leases
/// are live: a crashed instance's leases simply expire.
pub async fn open_for_delivery(
    database_url: &str,
) -> Result<std::sync::Arc<dyn Outbox>, StorageError> {
    match Backend::of(database_url)? {
        Backend::Sqlite => Ok(std::sync::Arc::new(
            SqliteOutbox::open_to_serve(database_url).await?,
        )),
        Backend::Postgres => Ok(std::sync::Arc::new(
            PostgresOutbox::open(database_url).await?,
        )),
    }
}

/// Opens the outbox a database URL names (operator commands: leases are left alone).
pub async fn open(database_url: &str) -> Result<std::sync::Arc<dyn Outbox>, StorageError> {
    match Backend::of(database_url)? {
        Backend::Sqlite => Ok(std::sync::Arc::new(SqliteOutbox::open(database_url).await?)),
        Backend::Postgres => Ok(std::sync::Arc::new(
            PostgresOutbox::open(database_url).await?,
        )),
    }
}
