//! The SQLite outbox's single writer: one thread owns the only connection that writes, and
//! commits the writes that reach it close together in one transaction (group commit).
//!
//! Why: with `synchronous=FULL` every commit costs an fsync of the WAL, and SQLite has one write
//! lock per file. When hand-offs and delivery workers each committed on their own pooled
//! connection, they queued on that lock inside SQLite's busy handler (which sleeps in steps of
//! up to 100 ms), and each paid its own fsync. Here they queue on a channel instead: the writer
//! takes every write waiting (plus, when several hand-offs were waiting and a
//! [`GroupCommit::window`] is set, those arriving within it; up to [`GroupCommit::max_group`]),
//! applies them in one transaction, commits once, and only then answers every caller. A 202
//! therefore still means "on disk"; a failed commit fails every write of the group with the
//! same error.
//!
//! Why a thread of its own rather than an async task: SQLite calls block, and an async driver
//! (sqlx) runs each statement on a worker thread of the connection's, one channel round trip
//! and two thread wake-ups per statement. The profile of the ingest benchmark was mostly those
//! context switches. Here the whole group runs on the thread that owns the connection, on
//! cached prepared statements: callers cost one channel send and one answer each.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::oneshot;

use super::super::{
    Batch, ClaimedDelivery, DeadLetterAction, Destination, NewCheckout, Outcome, StorageError,
};
use super::checkpointer::Nudge;
use super::pruning;
use super::writes::{self, Stored};

/// How writes are grouped into one transaction.
#[derive(Debug, Clone, Copy)]
pub struct GroupCommit {
    /// How long after the first write of a group others may still join it, when other
    /// hand-offs were already waiting beside it (a lone hand-off is committed at once).
    /// Measured from the moment that first write was queued. Zero by default: with the writer
    /// on a thread of its own, writes that arrive while a group commits queue up and form the
    /// next group anyway, and lingering only added its length to every hand-off (`bench/ingest.py`,
    /// 1 ms against none: half-load p50 2.0 against 1.3 ms, saturation about 11,700 against
    /// 16,500 requests/s). Tests widen it to make grouping certain.
    pub window: Duration,
    /// At most this many writes per transaction (bounds a group's latency and memory).
    pub max_group: usize,
}

impl Default for GroupCommit {
    fn default() -> Self {
        GroupCommit {
            window: Duration::ZERO,
            max_group: 256,
        }
    }
}

/// Writes queued beyond this make their callers wait for room (backpressure, bounded memory).
const QUEUE_CAPACITY: usize = 4096;

/// One write, as the writer applies it.
#[derive(Debug)]
pub(super) enum Write {
    Insert {
        checkout: NewCheckout,
        now_ms: i64,
    },
    /// One batch of an operator's import, every checkout in the same transaction.
    InsertBatch {
        checkouts: Vec<NewCheckout>,
        now_ms: i64,
    },
    Claim {
        destination: Destination,
        limit: u32,
        lease_owner: String,
        lease_until: i64,
        now_ms: i64,
        /// Rows due by then (`now_ms` for a claim of due rows, later for a probe).
        due_by: i64,
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
    /// Every lease in the file, when a relay starts serving it.
    FreeEveryLease,
    /// An operator's retry or discard of dead letters (`dead-letters`, the console).
    ChangeDead {
        action: DeadLetterAction,
        order_id: Option<String>,
        destination: Option<Destination>,
        now_ms: i64,
    },
    RetryNow {
        destination: Destination,
        now_ms: i64,
    },
    /// Reads a PRAGMA on the writing connection itself (its durability settings are the ones
    /// that matter).
    Pragma(&'static str),
    // Retention ([`pruning`]).
    Prune {
        finished_before: i64,
        limit: u32,
        now_ms: i64,
    },
    Forget {
        accepted_before: i64,
        limit: u32,
    },
    /// `PRAGMA incremental_vacuum`, outside the group's transaction (it is one of its own).
    Reclaim {
        max_pages: u32,
    },
}

/// What a write returns, one variant per kind of [`Write`].
#[derive(Debug)]
pub(super) enum Written {
    Inserted(Stored),
    InsertedBatch(Vec<Stored>),
    Claimed(Vec<ClaimedDelivery>),
    Recorded(Vec<bool>),
    Released,
    Changed(u64),
    Pragma(String),
    Batch(Batch),
    /// Pages still free after a reclaim.
    Free(u64),
}

struct Request {
    write: Write,
    queued_at: Instant,
    reply: oneshot::Sender<Result<Written, StorageError>>,
}

/// The handle every clone of the outbox shares; the thread stops when the last one is dropped.
#[derive(Debug, Clone)]
pub(super) struct Writer {
    requests: flume::Sender<Request>,
    commits: Arc<AtomicU64>,
}

impl Writer {
    /// Starts the writer thread on `connection`, which nothing else may use for writing;
    /// `checkpointer` hears of every commit.
    pub fn spawn(
        connection: Connection,
        policy: GroupCommit,
        checkpointer: Nudge,
    ) -> Result<Self, StorageError> {
        let (requests, receiver) = flume::bounded(QUEUE_CAPACITY);
        let commits = Commits {
            count: Arc::new(AtomicU64::new(0)),
            checkpointer,
        };
        let count = Arc::clone(&commits.count);
        std::thread::Builder::new()
            .name("outbox-writer".to_owned())
            .spawn(move || run(connection, receiver, policy, commits))
            .map_err(StorageError::StorageThread)?;
        Ok(Writer {
            requests,
            commits: count,
        })
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
            .send_async(request)
            .await
            .map_err(|_| StorageError::WriterStopped)?;
        answer.await.map_err(|_| StorageError::WriterStopped)?
    }
}

/// Where the writer reports each commit: the count [`Writer::commits`] reads, and the
/// checkpointer.
struct Commits {
    count: Arc<AtomicU64>,
    checkpointer: Nudge,
}

impl Commits {
    fn one_more(&self) {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.checkpointer.committed();
    }
}

fn run(
    mut connection: Connection,
    requests: flume::Receiver<Request>,
    policy: GroupCommit,
    commits: Commits,
) {
    let mut group = Vec::with_capacity(policy.max_group);
    // Ends once every handle is gone: nothing can be queued any more.
    while let Ok(first) = requests.recv() {
        let deadline = first.queued_at + policy.window;
        group.push(first);
        gather(&requests, &mut group, deadline, policy.max_group);
        reclaim_space_alone(&connection, &mut group, &commits);
        if !group.is_empty() {
            commit_group(&mut connection, &mut group, &commits);
        }
    }
    if let Err((_, error)) = connection.close() {
        tracing::warn!(%error, "closing the outbox's writing connection failed");
    }
}

/// Adds to `group` whatever is already queued; then, if several hand-offs were (the relay is
/// under concurrent load), whatever arrives before `deadline`. Otherwise the group is committed
/// at once: lingering would only add the window to a lone hand-off's latency (delivery claims
/// and outcomes waiting beside it do not justify that), and under load hand-offs queue up on
/// their own while the previous group commits.
fn gather(
    requests: &flume::Receiver<Request>,
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
            Err(flume::TryRecvError::Disconnected) => return,
            Err(flume::TryRecvError::Empty) if hand_offs(group) < 2 => return,
            Err(flume::TryRecvError::Empty) => match requests.recv_deadline(deadline) {
                Ok(request) => group.push(request),
                Err(_) => return,
            },
        }
    }
}

/// Takes the space reclaims (`PRAGMA incremental_vacuum`, which SQLite runs only outside a
/// transaction) out of `group` and runs each as a transaction of its own, before the group's.
fn reclaim_space_alone(connection: &Connection, group: &mut Vec<Request>, commits: &Commits) {
    for request in group.extract_if(.., |request| matches!(request.write, Write::Reclaim { .. })) {
        let Write::Reclaim { max_pages } = request.write else {
            continue;
        };
        let result = pruning::reclaim(connection, max_pages).map(Written::Free);
        // The pages it moved went to the WAL: the checkpointer copies them and truncates.
        commits.one_more();
        let _ = request.reply.send(result);
    }
}

/// Applies and commits `group` (emptying it), then answers every caller.
fn commit_group(connection: &mut Connection, group: &mut Vec<Request>, commits: &Commits) {
    match apply_together(connection, group) {
        Ok(results) => {
            // Counted before anyone is answered, so a caller sees its own commit counted.
            commits.one_more();
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
                let result = apply_alone(connection, &request.write, commits);
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
    Commit(rusqlite::Error),
}

impl From<rusqlite::Error> for GroupFailure {
    fn from(error: rusqlite::Error) -> Self {
        GroupFailure::Commit(error)
    }
}

/// The whole group in one transaction, so it costs one fsync. No savepoint per write: each
/// would cost two more statements, and a write failing is rare enough to be handled by
/// redoing the group write by write ([`GroupFailure::Write`]).
fn apply_together(
    connection: &mut Connection,
    group: &[Request],
) -> Result<Vec<Result<Written, StorageError>>, GroupFailure> {
    // IMMEDIATE: the write lock is taken once, for the whole group, before any write of it
    // runs (only another process, an operator command, can be holding it).
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut results = Vec::with_capacity(group.len());
    for request in group {
        match apply(&transaction, &request.write) {
            Ok(written) => results.push(Ok(written)),
            Err(error) => {
                tracing::warn!(%error, "an outbox write failed; its group is redone write by write");
                transaction.rollback()?;
                return Err(GroupFailure::Write);
            }
        }
    }
    transaction.commit().map_err(GroupFailure::Commit)?;
    Ok(results)
}

/// One write in its own transaction.
fn apply_alone(
    connection: &mut Connection,
    write: &Write,
    commits: &Commits,
) -> Result<Written, StorageError> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Dropping the transaction on an error rolls it back.
    let written = apply(&transaction, write)?;
    transaction.commit()?;
    commits.one_more();
    Ok(written)
}

fn apply(connection: &Connection, write: &Write) -> Result<Written, StorageError> {
    Ok(match write {
        Write::Insert { checkout, now_ms } => {
            Written::Inserted(writes::insert(connection, checkout, *now_ms)?)
        }
        Write::InsertBatch { checkouts, now_ms } => Written::InsertedBatch(
            checkouts
                .iter()
                .map(|checkout| writes::insert(connection, checkout, *now_ms))
                .collect::<Result<_, _>>()?,
        ),
        Write::Claim {
            destination,
            limit,
            lease_owner,
            lease_until,
            now_ms,
            due_by,
        } => Written::Claimed(writes::claim(
            connection,
            *destination,
            *limit,
            lease_owner,
            *lease_until,
            *now_ms,
            *due_by,
        )?),
        Write::Record {
            destination,
            lease_owner,
            outcomes,
            now_ms,
        } => Written::Recorded(
            outcomes
                .iter()
                .map(|(order_id, outcome)| {
                    writes::record_one(
                        connection,
                        *destination,
                        order_id,
                        lease_owner,
                        outcome.clone(),
                        *now_ms,
                    )
                })
                .collect::<Result<_, _>>()?,
        ),
        Write::Release {
            destination,
            order_id,
            lease_owner,
        } => {
            writes::release(connection, *destination, order_id, lease_owner)?;
            Written::Released
        }
        Write::FreeEveryLease => Written::Changed(writes::free_every_lease(connection)?),
        Write::ChangeDead {
            action,
            order_id,
            destination,
            now_ms,
        } => Written::Changed(writes::change_dead(
            connection,
            *action,
            order_id.as_deref(),
            *destination,
            *now_ms,
        )?),
        Write::RetryNow {
            destination,
            now_ms,
        } => Written::Changed(writes::retry_now(connection, *destination, *now_ms)?),
        Write::Pragma(query) => Written::Pragma(writes::pragma(connection, query)?),
        Write::Prune {
            finished_before,
            limit,
            now_ms,
        } => Written::Batch(pruning::prune(
            connection,
            *finished_before,
            *limit,
            *now_ms,
        )?),
        Write::Forget {
            accepted_before,
            limit,
        } => Written::Batch(pruning::forget(connection, *accepted_before, *limit)?),
        // Always taken out of the group before its transaction ([`reclaim_space_alone`]).
        Write::Reclaim { .. } => {
            return Err(StorageError::Corrupt(
                "a space reclaim reached a transaction".to_owned(),
            ))
        }
    })
}
