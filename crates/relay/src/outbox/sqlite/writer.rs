//! The SQLite outbox's single writer: one task owns the only connection that writes, and
//! commits the writes that reach it close together in one transaction (group commit).
//!
//! Why: with `synchronous=FULL` every commit costs an fsync of the WAL, and SQLite has one write
//! lock per file. When hand-offs and delivery workers each committed on their own pooled
//! connection, they queued on that lock inside SQLite's busy handler (which sleeps in steps of
//! up to 100 ms), and each paid its own fsync. Here they queue on a channel instead: the writer
//! takes every write waiting, plus (when several hand-offs were waiting) those arriving within
//! [`GroupCommit::window`] of the group's first one (up to [`GroupCommit::max_group`]),
//! applies them in one transaction, commits once, and only then answers every caller. A 202 therefore still means "on disk"; a failed
//! commit fails every write of the group with the same error.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::SqliteConnection;
use sqlx::Connection;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::super::{
    ClaimedDelivery, Destination, InsertOutcome, NewCheckout, Outcome, StorageError,
};
use super::statements;

/// How writes are grouped into one transaction.
#[derive(Debug, Clone, Copy)]
pub struct GroupCommit {
    /// How long after the first write of a group others may still join it, when other hand-offs were
    /// already waiting beside it (a lone hand-off is committed at once). Measured from the moment
    /// that first write was queued: a write that already waited while the previous group
    /// committed does not wait again.
    pub window: Duration,
    /// At most this many writes per transaction (bounds a group's latency and memory).
    pub max_group: usize,
}

impl Default for GroupCommit {
    fn default() -> Self {
        GroupCommit {
            window: Duration::from_millis(1),
            max_group: 256,
        }
    }
}

/// Writes queued beyond this make their callers wait for room (backpressure, bounded memory).
const QUEUE_CAPACITY: usize = 4096;

/// One write, as the writer task applies it.
#[derive(Debug)]
pub(super) enum Write {
    Insert {
        checkout: NewCheckout,
        now_ms: i64,
    },
    Claim {
        destination: Destination,
        limit: u32,
        lease_owner: String,
        lease_until: i64,
        now_ms: i64,
    },
    Record {
        destination: Destination,
        lease_owner: String,
        outcomes: Vec<(String, Outcome)>,
        now_ms: i64,
    },
    Release {
        destination: Destination,
        order_id: String,
        lease_owner: String,
    },
    RetryDead {
        order_id: Option<String>,
        destination: Option<Destination>,
        now_ms: i64,
    },
    ReleaseAllLeases,
    /// Reads a PRAGMA on the writing connection itself (its durability settings are the ones
    /// that matter).
    Pragma(&'static str),
}

/// What a write returns, one variant per kind of [`Write`].
#[derive(Debug)]
pub(super) enum Written {
    Inserted(InsertOutcome),
    Claimed(Vec<ClaimedDelivery>),
    Recorded(Vec<bool>),
    Released,
    Changed(u64),
    Pragma(String),
}

struct Request {
    write: Write,
    queued_at: Instant,
    reply: oneshot::Sender<Result<Written, StorageError>>,
}

/// The handle every clone of the outbox shares; the task stops when the last one is dropped.
#[derive(Debug, Clone)]
pub(super) struct Writer {
    requests: mpsc::Sender<Request>,
    commits: Arc<AtomicU64>,
}

impl Writer {
    /// Starts the writer task on `connection`, which nothing else may use for writing.
    pub fn spawn(connection: SqliteConnection, policy: GroupCommit) -> Self {
        let (requests, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let commits = Arc::new(AtomicU64::new(0));
        tokio::spawn(run(connection, receiver, policy, Arc::clone(&commits)));
        Writer { requests, commits }
    }

    /// Groups the writer has committed so far (each one transaction, one fsync).
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Queues `write` and waits until the transaction holding it has committed.
    pub async fn submit(&self, write: Write) -> Result<Written, StorageError> {
        let (reply, answer) = oneshot::channel();
        let request = Request {
            write,
            queued_at: Instant::now(),
            reply,
        };
        self.requests
            .send(request)
            .await
            .map_err(|_| StorageError::WriterStopped)?;
        answer.await.map_err(|_| StorageError::WriterStopped)?
    }
}

async fn run(
    mut connection: SqliteConnection,
    mut requests: mpsc::Receiver<Request>,
    policy: GroupCommit,
    commits: Arc<AtomicU64>,
) {
    let mut group = Vec::with_capacity(policy.max_group);
    while let Some(first) = requests.recv().await {
        let deadline = first.queued_at + policy.window;
        group.push(first);
        gather(&mut requests, &mut group, deadline, policy.max_group).await;
        commit_group(&mut connection, &mut group, &commits).await;
    }
    // Every handle is gone: nothing can be queued any more.
    if let Err(error) = connection.close().await {
        tracing::warn!(%error, "closing the outbox's writing connection failed");
    }
}

/// Adds to `group` whatever is already queued; then, if several hand-offs were (the relay is
/// under concurrent load), whatever arrives before `deadline`. Otherwise the group is committed
/// at once: lingering would only add the window to a lone hand-off's latency (delivery claims
/// and outcomes waiting beside it do not justify that), and under load hand-offs queue up on
/// their own while the previous group commits.
async fn gather(
    requests: &mut mpsc::Receiver<Request>,
    group: &mut Vec<Request>,
    deadline: Instant,
    max_group: usize,
) {
    let hand_offs = |group: &[Request]| {
        group
            .iter()
            .filter(|r| matches!(r.write, Write::Insert { .. }))
            .count()
    };
    while group.len() < max_group {
        match requests.try_recv() {
            Ok(request) => group.push(request),
            Err(mpsc::error::TryRecvError::Disconnected) => return,
            Err(mpsc::error::TryRecvError::Empty) if hand_offs(group) < 2 => return,
            Err(mpsc::error::TryRecvError::Empty) => {
                match tokio::time::timeout_at(deadline, requests.recv()).await {
                    Ok(Some(request)) => group.push(request),
                    Ok(None) | Err(_) => return,
                }
            }
        }
    }
}

/// Applies and commits `group` (emptying it), then answers every caller.
async fn commit_group(
    connection: &mut SqliteConnection,
    group: &mut Vec<Request>,
    commits: &AtomicU64,
) {
    match apply_together(connection, group).await {
        Ok(results) => {
            // Counted before anyone is answered, so a caller sees its own commit counted.
            commits.fetch_add(1, Ordering::Relaxed);
            for (request, result) in group.drain(..).zip(results) {
                // A caller that went away (client disconnected) needs no answer.
                let _ = request.reply.send(result);
            }
        }
        Err(GroupFailure::Write) => {
            // One write of the group failed and the whole transaction was rolled back: the
            // others should not fail with it, so each is applied again in its own transaction
            // (in the same order, so the first of two repeats still wins). Rare: every write
            // here is an upsert or a guarded update.
            for request in group.drain(..) {
                let result = apply_alone(connection, &request.write, commits).await;
                let _ = request.reply.send(result);
            }
        }
        Err(GroupFailure::Commit(error)) => {
            tracing::error!(%error, writes = group.len(), "an outbox group commit failed");
            let shared = Arc::new(error);
            for request in group.drain(..) {
                let _ = request
                    .reply
                    .send(Err(StorageError::GroupCommit(Arc::clone(&shared))));
            }
        }
    }
}

enum GroupFailure {
    /// A write failed; nothing of the group was committed.
    Write,
    /// The transaction could not begin or commit; nothing of the group was committed.
    Commit(sqlx::Error),
}

impl From<sqlx::Error> for GroupFailure {
    fn from(error: sqlx::Error) -> Self {
        GroupFailure::Commit(error)
    }
}

/// The whole group in one transaction, so it costs one fsync. No savepoint per write: each
/// would cost two more statements, and a write failing is rare enough to be handled by
/// redoing the group write by write ([`GroupFailure::Write`]).
async fn apply_together(
    connection: &mut SqliteConnection,
    group: &[Request],
) -> Result<Vec<Result<Written, StorageError>>, GroupFailure> {
    // IMMEDIATE: the write lock is taken once, for the whole group, before any write of it
    // runs (only another process, an operator command, can be holding it).
    let mut transaction = connection.begin_with("BEGIN IMMEDIATE").await?;
    let mut results = Vec::with_capacity(group.len());
    for request in group {
        match apply(&mut transaction, &request.write).await {
            Ok(written) => results.push(Ok(written)),
            Err(error) => {
                tracing::warn!(%error, "an outbox write failed; its group is redone write by write");
                transaction.rollback().await?;
                return Err(GroupFailure::Write);
            }
        }
    }
    transaction.commit().await?;
    Ok(results)
}

/// One write in its own transaction.
async fn apply_alone(
    connection: &mut SqliteConnection,
    write: &Write,
    commits: &AtomicU64,
) -> Result<Written, StorageError> {
    let mut transaction = connection.begin_with("BEGIN IMMEDIATE").await?;
    let written = apply(&mut transaction, write).await?;
    transaction.commit().await?;
    commits.fetch_add(1, Ordering::Relaxed);
    Ok(written)
}

async fn apply(connection: &mut SqliteConnection, write: &Write) -> Result<Written, StorageError> {
    Ok(match write {
        Write::Insert { checkout, now_ms } => {
            Written::Inserted(statements::insert(connection, checkout, *now_ms).await?)
        }
        Write::Claim {
            destination,
            limit,
            lease_owner,
            lease_until,
            now_ms,
        } => Written::Claimed(
            statements::claim_due(
                connection,
                *destination,
                *limit,
                lease_owner,
                *lease_until,
                *now_ms,
            )
            .await?,
        ),
        Write::Record {
            destination,
            lease_owner,
            outcomes,
            now_ms,
        } => {
            let mut held = Vec::with_capacity(outcomes.len());
            for (order_id, outcome) in outcomes {
                held.push(
                    statements::record_one(
                        connection,
                        *destination,
                        order_id,
                        lease_owner,
                        outcome.clone(),
                        *now_ms,
                    )
                    .await?,
                );
            }
            Written::Recorded(held)
        }
        Write::Release {
            destination,
            order_id,
            lease_owner,
        } => {
            statements::release(connection, *destination, order_id, lease_owner).await?;
            Written::Released
        }
        Write::RetryDead {
            order_id,
            destination,
            now_ms,
        } => Written::Changed(
            statements::retry_dead(connection, order_id.as_deref(), *destination, *now_ms).await?,
        ),
        Write::ReleaseAllLeases => {
            Written::Changed(statements::release_all_leases(connection).await?)
        }
        Write::Pragma(query) => Written::Pragma(statements::pragma(connection, query).await?),
    })
}
