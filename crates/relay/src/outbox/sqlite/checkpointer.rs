//! WAL checkpoints off the writer's path.
//!
//! With SQLite's default (`wal_autocheckpoint=1000`), the commit that grows the WAL past 1,000
//! pages also copies them into the database file and fsyncs it, on the writer thread: every
//! few groups, one group's callers waited for that, which showed as the ingest benchmark's
//! p99 and p99.9. Here the writer only appends to the WAL; this thread, on a connection of its
//! own, runs `PRAGMA wal_checkpoint(PASSIVE)` soon after commits (passive: it never blocks the
//! writer, it copies what it can). The writer keeps a large autocheckpoint as a bound on the
//! WAL's size, in case these passes fall behind.
//!
//! After each pass this thread also flushes the database file (`fdatasync`). A passive pass
//! syncs the file itself only when it copied the whole WAL, which under steady writes it
//! rarely does: the copied pages then piled up in the page cache until the writer's own
//! autocheckpoint synced them all at once, tens of MB, on the writer's path (the ingest
//! benchmark's p99.9 of 30-120 ms). Flushed every pass, they leave that sync little to do:
//! half-load p99 / p99.9 went from 9.5 / 16-32 ms to 7.7-8.1 / 10-17 ms at 11,000 hand-offs/s.

use std::path::PathBuf;
use std::time::Duration;

use rusqlite::Connection;

use super::BUSY_TIMEOUT;
use crate::outbox::StorageError;

/// Pages the writer lets the WAL hold before it checkpoints itself (~40 MB with 4 KB pages).
/// SQLite starts the WAL over only once a checkpoint has copied all of it, which passes beside
/// a steady writer seldom manage; so under load the WAL does fill to this size, and the
/// writer's own checkpoint then copies what the last pass left (a few ms of commits, the file
/// already flushed by this thread) and lets the WAL start over.
pub(super) const WRITER_AUTOCHECKPOINT_PAGES: u32 = 10_000;

/// After a checkpoint, commits arriving within this long wait for the next pass. Each pass
/// ends with an fsync of the database file, and while the disk writes those pages a commit's
/// WAL fsync waits behind them: frequent small passes make those waits short. Measured at
/// half load (p99 / p99.9 of a 202), before passes flushed the file: 50 ms pauses 16.8 /
/// 30.9 ms, 10 ms 9.2 / 15.9 ms, 2 ms 7.7 / 57.6 ms and twice the checkpoint CPU. Since,
/// at 13,000 hand-offs/s over three runs each: 25 ms 10.0-10.8 / 14-28 ms, 10 ms 9.0-9.3 /
/// 14-31 ms, 5 ms 7.6-9.3 / 23-33 ms; 5 ms for the p99.
const PAUSE: Duration = Duration::from_millis(5);

/// Tells the checkpointer that commits happened. Cheap, never blocks the writer.
#[derive(Debug, Clone)]
pub(super) struct Nudge(flume::Sender<()>);

impl Nudge {
    pub fn committed(&self) {
        // Full: a pass is already due. Disconnected: the checkpointer thread is gone (only a
        // panic ends it while the writer lives); the writer's autocheckpoint then bounds the
        // WAL on its own.
        let _ = self.0.try_send(());
    }
}

/// Starts the checkpointer thread on its own connection to the database at `path`.
pub(super) fn spawn(path: PathBuf) -> Result<Nudge, StorageError> {
    let connection = Connection::open(&path)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    // Read-only is enough: fdatasync flushes the file's dirty pages whoever wrote them.
    let database = std::fs::File::open(&path).map_err(StorageError::StorageThread)?;
    let (nudge, nudged) = flume::bounded(1);
    std::thread::Builder::new()
        .name("outbox-checkpoint".to_owned())
        .spawn(move || run(connection, database, nudged))
        .map_err(StorageError::StorageThread)?;
    Ok(Nudge(nudge))
}

fn run(connection: Connection, database: std::fs::File, nudged: flume::Receiver<()>) {
    // Ends once the writer (the only holder of the sender) is gone.
    while nudged.recv().is_ok() {
        if let Err(error) = checkpoint(&connection) {
            tracing::warn!(%error, "a WAL checkpoint failed; the next commit will retry it");
        }
        if let Err(error) = database.sync_data() {
            tracing::warn!(%error, "syncing the database file failed");
        }
        std::thread::sleep(PAUSE);
    }
}

/// Copies into the database file what the WAL holds beyond it, without waiting for the writer.
fn checkpoint(connection: &Connection) -> rusqlite::Result<()> {
    connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}
