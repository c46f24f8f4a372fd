//! The SQLite outbox: one file, WAL journal, `synchronous=FULL`, so a committed insert has
//! reached the disk before the relay answers 202.
//!
//! Every write goes through one writer thread ([`writer`], SQL in [`writes`]) that owns the
//! only writing connection and commits the writes arriving close together in one transaction
//! (group commit); reads (status, dead letters, depth, readiness; SQL in [`reads`]) use a pool
//! of read-only connections ([`Readers`]), which WAL lets run beside the writer without ever
//! taking the write lock. Both are rusqlite: one driver for the whole SQLite outbox.
//!
//! The tables, their columns and the lease rule are PostgreSQL's ([`schema`]); rows are read
//! back by the mapping both backends share ([`super::stored`]).

mod checkpointer;
mod console;
mod pruning;
mod reads;
mod schema;
mod serve_lock;
mod writer;
mod writes;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_sqlite::{Hook, HookError, Runtime};
use rusqlite::Connection;

use serve_lock::ServeLock;
pub use writer::GroupCommit;
use writer::{Write, Writer, Written};
use writes::Stored;

use super::{
    Batch, ClaimedDelivery, DeadLetter, DeadLetterAction, DeliveredRecently, DepthRow, Destination,
    Imported, InsertOutcome, MinuteActivity, NewCheckout, OrderStatus, Outbox, Outcome,
    PrunedOrder, StorageError,
};

/// The outbox in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteOutbox {
    /// Read-only connections: they never write, so never wait on the write lock.
    readers: deadpool_sqlite::Pool,
    writer: Writer,
    /// Held by the relay that serves this file ([`SqliteOutbox::open_to_serve`]).
    serving: Option<Arc<ServeLock>>,
    /// The database file (its size, and its WAL's beside it, is the outbox's size on disk).
    path: PathBuf,
}

/// Connections for reads. Status and metrics reads are short; more would only compete with
/// the writer for the 2 cores.
const READ_CONNECTIONS: usize = 4;

impl SqliteOutbox {
    /// Opens (creating if needed) the database a `sqlite://PATH` URL names and applies the
    /// schema, with the default [`GroupCommit`] policy.
    pub async fn open(database_url: &str) -> Result<Self, StorageError> {
        Self::open_with(database_url, GroupCommit::default()).await
    }

    /// As [`SqliteOutbox::open`], grouping writes by `policy`.
    pub async fn open_with(database_url: &str, policy: GroupCommit) -> Result<Self, StorageError> {
        Self::open_as(database_url, policy, SpaceReclaim::LeaveAsIs).await
    }

    async fn open_as(
        database_url: &str,
        policy: GroupCommit,
        reclaim: SpaceReclaim,
    ) -> Result<Self, StorageError> {
        let path = file_of(database_url)?;
        let opened = path.clone();
        // The writing connection creates the file and its schema before anything else opens it.
        let (writing, checkpointer) = tokio::task::spawn_blocking(move || {
            let writing = open_writing(&opened, reclaim)?;
            Ok::<_, StorageError>((writing, checkpointer::spawn(opened)?))
        })
        .await
        .map_err(|error| StorageError::Corrupt(format!("opening the outbox: {error}")))??;
        let readers = read_pool(&path)?;
        Ok(Self {
            readers,
            writer: Writer::spawn(writing, policy, checkpointer)?,
            serving: None,
            path,
        })
    }

    /// Opens the outbox for the one relay process that serves it: fails with
    /// [`StorageError::AlreadyServed`] while another process does ([`serve_lock`]). Every lease
    /// in the file was then taken by a relay process that is gone, so they are freed: its
    /// deliveries resume at once rather than when their leases run out. A file
    /// written before the relay pruned (without incremental auto-vacuum) is rewritten once so
    /// that pruning can give its space back ([`SpaceReclaim::Enable`]).
    pub async fn open_to_serve(database_url: &str) -> Result<Self, StorageError> {
        let lock = ServeLock::acquire(&file_of(database_url)?)?;
        let mut outbox =
            Self::open_as(database_url, GroupCommit::default(), SpaceReclaim::Enable).await?;
        outbox.serving = Some(Arc::new(lock));
        let freed = outbox.changed(Write::FreeEveryLease).await?;
        if freed > 0 {
            tracing::info!(
                leases = freed,
                "freed the delivery leases of the relay that served this outbox before"
            );
        }
        Ok(outbox)
    }

    /// Reads a PRAGMA's value on the writing connection (tests check the durability settings
    /// are really in force where commits happen).
    pub async fn pragma(&self, name: &str) -> Result<String, StorageError> {
        let query = match name {
            "journal_mode" => "PRAGMA journal_mode",
            "synchronous" => "PRAGMA synchronous",
            "foreign_keys" => "PRAGMA foreign_keys",
            "auto_vacuum" => "PRAGMA auto_vacuum",
            _ => return Err(StorageError::Corrupt(format!("pragma {name} not readable"))),
        };
        match self.writer.submit(Write::Pragma(query)).await? {
            Written::Pragma(value) => Ok(value),
            other => Err(unexpected(&other)),
        }
    }

    /// How many transactions the writer has committed since this outbox was opened; with
    /// group commit, fewer than the writes it was given.
    pub fn group_commits(&self) -> u64 {
        self.writer.commits()
    }

    /// Closes the read connections. The writer stops once every handle to it is dropped.
    pub async fn close(&self) {
        self.readers.close();
    }

    /// Runs `read` on a read connection, on a blocking thread (rusqlite is synchronous).
    async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, StorageError> {
        let connection = self
            .readers
            .get()
            .await
            .map_err(|error| StorageError::ReadPool(error.to_string()))?;
        connection
            .interact(move |connection| read(connection))
            .await
            .map_err(|error| StorageError::ReadPool(error.to_string()))?
    }

    async fn changed(&self, write: Write) -> Result<u64, StorageError> {
        match self.writer.submit(write).await? {
            Written::Changed(count) => Ok(count),
            other => Err(unexpected(&other)),
        }
    }
}

/// How long a statement waits for a lock another process holds (an operator command writing
/// the same file): this process's own writes never wait on each other.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The file a `sqlite://PATH` URL names (`sqlite:PATH` too; percent-escapes decoded, so a path
/// may hold `?` or `#`). Query parameters are refused rather than ignored: the relay sets the
/// connection's modes itself (WAL, `synchronous=FULL`, read-only readers).
fn file_of(database_url: &str) -> Result<PathBuf, StorageError> {
    let written = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
        .ok_or_else(|| StorageError::UnsupportedUrl(super::scheme_of(database_url)))?;
    if written.contains('?') {
        return Err(StorageError::SqliteUrl(
            "query parameters are not supported (the relay sets its own connection modes)",
        ));
    }
    if written.is_empty() || written == ":memory:" {
        return Err(StorageError::SqliteUrl(
            "needs a file path: the outbox must outlive the process",
        ));
    }
    let path = percent_encoding::percent_decode_str(written)
        .decode_utf8()
        .map_err(|_| StorageError::SqliteUrl("the path is not UTF-8 once percent-decoded"))?;
    Ok(PathBuf::from(path.into_owned()))
}

/// The pool of read connections: opened read-only (so a read can never write, nor wait on
/// the write lock), with the writer's busy timeout for a lock another process holds.
fn read_pool(path: &std::path::Path) -> Result<deadpool_sqlite::Pool, StorageError> {
    let make = |error: &dyn std::fmt::Display| StorageError::ReadPool(error.to_string());
    deadpool_sqlite::Config::new(path)
        .builder(Runtime::Tokio1)
        .map_err(|error| make(&error))?
        .max_size(READ_CONNECTIONS)
        .post_create(Hook::async_fn(|connection, _| {
            Box::pin(async move {
                connection
                    .interact(|connection| {
                        connection.busy_timeout(BUSY_TIMEOUT)?;
                        connection.pragma_update(None, "query_only", true)
                    })
                    .await
                    .map_err(|error| HookError::message(error.to_string()))?
                    .map_err(HookError::Backend)
            })
        }))
        .build()
        .map_err(|error| make(&error))
}

/// Whether opening a file may switch it to incremental auto-vacuum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SpaceReclaim {
    /// A new file always gets it; an older file is left as it is (an operator command must not
    /// rewrite a file a relay may be serving).
    LeaveAsIs,
    /// The serving relay (it holds the serve lock) rewrites an older file once.
    Enable,
}

/// `PRAGMA auto_vacuum` value of incremental auto-vacuum: free pages are kept in the file until
/// `PRAGMA incremental_vacuum` moves pages from its end into them and truncates it.
const INCREMENTAL_AUTO_VACUUM: i64 = 2;

/// Makes the file one whose free pages can be given back to the filesystem: pruning frees
/// pages, and without auto-vacuum SQLite keeps them in the file for reuse, so the file never
/// shrinks. A new file takes the setting before its first table; a file written before the
/// relay pruned needs one `VACUUM` (a rewrite of the whole file, needing as much free disk
/// again) to take it, done when the serving relay opens it.
fn enable_incremental_vacuum(
    connection: &Connection,
    reclaim: SpaceReclaim,
) -> Result<(), StorageError> {
    let mode: i64 = connection.query_row("PRAGMA auto_vacuum", [], |row| row.get(0))?;
    if mode == INCREMENTAL_AUTO_VACUUM {
        return Ok(());
    }
    let tables: i64 =
        connection.query_row("SELECT COUNT(*) FROM sqlite_master", [], |row| row.get(0))?;
    if tables > 0 && reclaim == SpaceReclaim::LeaveAsIs {
        return Ok(());
    }
    connection.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    if tables > 0 {
        tracing::info!(
            "rewriting the outbox once (VACUUM) so that pruned orders give their space back"
        );
        connection.execute_batch("VACUUM")?;
    }
    Ok(())
}

/// The one connection that writes: WAL lets reads run beside it; `synchronous=FULL` makes each
/// commit wait for fsync of the WAL, which is what makes a 202 mean "on disk".
fn open_writing(path: &std::path::Path, reclaim: SpaceReclaim) -> Result<Connection, StorageError> {
    let mut connection = Connection::open(path)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    enable_incremental_vacuum(&connection, reclaim)?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    connection.pragma_update(
        None,
        "wal_autocheckpoint",
        checkpointer::WRITER_AUTOCHECKPOINT_PAGES,
    )?;
    schema::apply(&mut connection)?;
    Ok(connection)
}

/// The writer answered a write with the result of another kind (a bug, not bad data).
fn unexpected(written: &Written) -> StorageError {
    StorageError::Corrupt(format!("the outbox writer answered {written:?}"))
}

#[async_trait]
impl Outbox for SqliteOutbox {
    async fn insert(
        &self,
        checkout: NewCheckout,
        now_ms: i64,
    ) -> Result<InsertOutcome, StorageError> {
        let order_id = checkout.order_id.clone();
        match self
            .writer
            .submit(Write::Insert { checkout, now_ms })
            .await?
        {
            Written::Inserted(Stored::New) => Ok(InsertOutcome::Inserted),
            Written::Inserted(Stored::Pruned(pruned)) => Ok(InsertOutcome::Pruned(pruned)),
            // Read after the commit that found the repeat: the first copy is committed by then
            // (even when it was in the same group), so any reader sees it.
            Written::Inserted(Stored::Repeat) => match self.status(&order_id).await? {
                Some(status) => Ok(InsertOutcome::Existing(status)),
                None => Err(StorageError::Corrupt(format!("order {order_id} vanished"))),
            },
            other => Err(unexpected(&other)),
        }
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
        let write = Write::Claim {
            destination,
            limit,
            lease_owner: lease_owner.to_owned(),
            lease_until: now_ms.saturating_add(lease.as_millis() as i64),
            now_ms,
            due_by,
        };
        match self.writer.submit(write).await? {
            Written::Claimed(claimed) => Ok(claimed),
            other => Err(unexpected(&other)),
        }
    }

    async fn record(
        &self,
        destination: Destination,
        order_id: &str,
        lease_owner: &str,
        outcome: Outcome,
        now_ms: i64,
    ) -> Result<bool, StorageError> {
        let held = self
            .record_all(
                destination,
                lease_owner,
                vec![(order_id.to_owned(), outcome)],
                now_ms,
            )
            .await?;
        Ok(held.first().copied().unwrap_or(false))
    }

    async fn record_all(
        &self,
        destination: Destination,
        lease_owner: &str,
        outcomes: Vec<(String, Outcome)>,
        now_ms: i64,
    ) -> Result<Vec<bool>, StorageError> {
        let write = Write::Record {
            destination,
            lease_owner: lease_owner.to_owned(),
            outcomes,
            now_ms,
        };
        match self.writer.submit(write).await? {
            Written::Recorded(held) => Ok(held),
            other => Err(unexpected(&other)),
        }
    }

    async fn release(
        &self,
        destination: Destination,
        order_id: &str,
        lease_owner: &str,
    ) -> Result<(), StorageError> {
        let write = Write::Release {
            destination,
            order_id: order_id.to_owned(),
            lease_owner: lease_owner.to_owned(),
        };
        match self.writer.submit(write).await? {
            Written::Released => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    async fn status(&self, order_id: &str) -> Result<Option<OrderStatus>, StorageError> {
        let order_id = order_id.to_owned();
        self.read(move |connection| reads::status(connection, &order_id))
            .await
    }

    async fn dead_letters(&self, limit: u32) -> Result<Vec<DeadLetter>, StorageError> {
        self.read(move |connection| reads::dead_letters(connection, limit))
            .await
    }

    async fn retry_dead(
        &self,
        order_id: Option<&str>,
        destination: Option<Destination>,
        now_ms: i64,
    ) -> Result<u64, StorageError> {
        self.changed(Write::ChangeDead {
            action: DeadLetterAction::Retry,
            order_id: order_id.map(str::to_owned),
            destination,
            now_ms,
        })
        .await
    }

    async fn retry_now(&self, destination: Destination, now_ms: i64) -> Result<u64, StorageError> {
        self.changed(Write::RetryNow {
            destination,
            now_ms,
        })
        .await
    }

    async fn depth(&self) -> Result<Vec<DepthRow>, StorageError> {
        self.read(reads::depth).await
    }

    async fn ping(&self) -> Result<(), StorageError> {
        self.read(|connection| Ok(connection.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }

    async fn discard_dead(
        &self,
        order_id: Option<&str>,
        destination: Option<Destination>,
        now_ms: i64,
    ) -> Result<u64, StorageError> {
        self.changed(Write::ChangeDead {
            action: DeadLetterAction::Discard,
            order_id: order_id.map(str::to_owned),
            destination,
            now_ms,
        })
        .await
    }

    async fn prune_finished(
        &self,
        finished_before: i64,
        limit: u32,
        now_ms: i64,
    ) -> Result<Batch, StorageError> {
        let write = Write::Prune {
            finished_before,
            limit,
            now_ms,
        };
        match self.writer.submit(write).await? {
            Written::Batch(batch) => Ok(batch),
            other => Err(unexpected(&other)),
        }
    }

    async fn forget_pruned(&self, accepted_before: i64, limit: u32) -> Result<Batch, StorageError> {
        let write = Write::Forget {
            accepted_before,
            limit,
        };
        match self.writer.submit(write).await? {
            Written::Batch(batch) => Ok(batch),
            other => Err(unexpected(&other)),
        }
    }

    async fn pruned(&self, order_id: &str) -> Result<Option<PrunedOrder>, StorageError> {
        let order_id = order_id.to_owned();
        self.read(move |connection| reads::pruned(connection, &order_id))
            .await
    }

    async fn reclaim_space(&self, max_pages: u32) -> Result<u64, StorageError> {
        match self.writer.submit(Write::Reclaim { max_pages }).await? {
            Written::Free(pages) => Ok(pages),
            other => Err(unexpected(&other)),
        }
    }

    async fn insert_batch(
        &self,
        checkouts: Vec<NewCheckout>,
        now_ms: i64,
    ) -> Result<Vec<Imported>, StorageError> {
        match self
            .writer
            .submit(Write::InsertBatch { checkouts, now_ms })
            .await?
        {
            Written::InsertedBatch(stored) => Ok(stored
                .into_iter()
                .map(|stored| match stored {
                    Stored::New => Imported::New,
                    Stored::Repeat | Stored::Pruned(_) => Imported::AlreadyKnown,
                })
                .collect()),
            other => Err(unexpected(&other)),
        }
    }

    async fn known(&self, order_ids: &[String]) -> Result<Vec<bool>, StorageError> {
        let asked = order_ids.to_vec();
        let known = self
            .read(move |connection| reads::known(connection, &asked))
            .await?;
        Ok(order_ids.iter().map(|id| known.contains(id)).collect())
    }

    async fn size_on_disk(&self) -> Result<u64, StorageError> {
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        let mut bytes = 0;
        for file in [self.path.as_os_str(), wal.as_os_str()] {
            // The WAL is absent between uses; the database file exists while the outbox is open.
            match tokio::fs::metadata(file).await {
                Ok(metadata) => bytes += metadata.len(),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(StorageError::FileSize(error)),
            }
        }
        Ok(bytes)
    }

    async fn delivered_recently(
        &self,
        now_ms: i64,
    ) -> Result<Vec<DeliveredRecently>, StorageError> {
        self.read(move |connection| console::delivered_recently(connection, now_ms))
            .await
    }

    async fn latest_orders(
        &self,
        limit: u32,
        order_id_prefix: Option<&str>,
    ) -> Result<Vec<OrderStatus>, StorageError> {
        let prefix = order_id_prefix.map(str::to_owned);
        self.read(move |connection| console::latest_orders(connection, limit, prefix.as_deref()))
            .await
    }

    async fn activity(&self, since_ms: i64) -> Result<Vec<MinuteActivity>, StorageError> {
        self.read(move |connection| console::activity(connection, since_ms))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sqlite_url_names_its_file() {
        assert_eq!(
            file_of("sqlite://ordersync.db").unwrap(),
            PathBuf::from("ordersync.db")
        );
        assert_eq!(
            file_of("sqlite:///var/lib/ordersync/outbox.db").unwrap(),
            PathBuf::from("/var/lib/ordersync/outbox.db")
        );
        assert_eq!(
            file_of("sqlite:outbox.db").unwrap(),
            PathBuf::from("outbox.db")
        );
        assert_eq!(
            file_of("sqlite://a%3Fb.db").unwrap(),
            PathBuf::from("a?b.db")
        );
    }

    #[test]
    fn a_sqlite_url_it_cannot_honour_is_refused() {
        for url in ["sqlite://outbox.db?mode=ro", "sqlite::memory:", "sqlite://"] {
            assert!(
                matches!(file_of(url), Err(StorageError::SqliteUrl(_))),
                "{url}"
            );
        }
        assert!(matches!(
            file_of("postgres://host/db"),
            Err(StorageError::UnsupportedUrl(_))
        ));
    }
}
