//! `ordersync-relay import FILE`: reconciliation from the shop's own records.
//!
//! Some orders never reach the relay from the browser (the tab closed while the relay was
//! unreachable, a consent banner blocked the page's scripts, an hour of misconfiguration). The
//! shop's database is the source of truth: the operator exports its orders as JSON Lines, one
//! checkout object per line (the fields of a hand-off's checkout, plus `cookieId` when the shop
//! stored the `cibler_id` cookie with the order), and imports the file. No signature: the
//! operator's machine is trusted.
//!
//! Each line goes through exactly the rules of a hand-off ([`Acceptance::accept_record`]: the
//! same validation, the same per-destination plan, so the import must run with the relay's own
//! destination settings). A valid order whose id the outbox does not know is stored for
//! delivery; one it knows (stored, or delivered, pruned and still remembered) is counted and
//! never sent again; a refused line (not JSON, not an object, an invalid checkout) is written
//! to the refusals file ([`refused`]) with its line number, field and reason, and the import
//! goes on.
//!
//! **Speed and memory.** The file is streamed: a thread reads and validates lines while the
//! batch before is being stored, and each batch of [`BATCH_LINES`] lines is one transaction
//! (SQLite: one fsync; PostgreSQL: one statement). Memory holds a couple of batches, whatever
//! the file's size (BENCHMARKS.md, "Import").
//!
//! **Beside a serving relay.** PostgreSQL: the importer writes the database directly, as any
//! relay instance does (a repeat waits on the primary key and inserts nothing). SQLite: the
//! importer opens the outbox as the operator commands do (without the serve lock, which stays
//! with the serving relay) and writes through the same store code, its own writer thread under
//! SQLite's file lock. That keeps every invariant of the serving relay:
//! - *queue depth*: counted from the rows when asked, so whatever either process commits;
//! - *leases*: the serving relay's leases (in the rows) cover rows it claimed; the importer
//!   only adds new rows, never claims one and never changes a stored one, and the relay's
//!   workers find the new rows at their next poll (`--poll-interval`);
//! - *never twice*: the check of the remembered ids and the insert are one transaction, and
//!   SQLite runs one write transaction at a time, so a pruning pass or a hand-off of the same
//!   order id is either wholly before or wholly after a batch;
//! - *durability*: the same `synchronous=FULL` connection settings.
//!
//! The one thing to take care of is the write lock itself: a batch holds it for its
//! transaction, and a serving relay's writer, wanting it meanwhile, waits in SQLite's busy
//! handler, which retries after growing sleeps (up to 100 ms) and gives up after 10 s. An
//! importer that began its next batch at once would take the lock back before those retries
//! ever found it free, and the relay's hand-offs would fail. So on SQLite the importer leaves
//! the lock free after each batch for as long as the batch held it ([`pace`]): the serving
//! relay's writer gets it within a few of its retries, and hand-offs wait tens of
//! milliseconds at worst while an import runs (BENCHMARKS.md, "Import": a p99 of 37 ms beside
//! a delivering relay, 730 ms without the pause). Alone on its file the pause costs the import
//! almost nothing: the next batch is read and validated meanwhile.

mod lines;
mod progress;
mod refused;

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc;

use crate::acceptance::{AcceptError, Acceptance, Destinations};
use crate::clock;
use crate::config::{destination_settings, CiblerArgs, CitrusArgs, ConfigError, StorageArgs};
use crate::outbox::{self, Backend, Imported, NewCheckout, Outbox, StorageError};
use lines::{Line, Lines};
use progress::{Position, Progress};
use refused::{Refusal, RefusedFile};

/// Lines per batch, and so per transaction. Larger batches cost fewer commits; each batch
/// holds the SQLite write lock for its transaction, which a serving relay's hand-offs wait out
/// (BENCHMARKS.md, "Import", for the measurements behind this size).
pub const BATCH_LINES: usize = 1000;

/// Longest line read: the relay's default limit on a hand-off's body (`--max-body-bytes`).
pub const MAX_LINE_BYTES: usize = 1_048_576;

/// Refused lines also printed on standard error as they are found (all are in the file).
const REFUSALS_SHOWN: u64 = 10;

/// Batches read ahead of the one being stored (bounds the memory).
const BATCHES_AHEAD: usize = 2;

/// Options of `ordersync-relay import`.
#[derive(Debug, Clone, clap::Args)]
pub struct ImportArgs {
    /// JSON Lines file of checkouts, one object per line, with `cookieId` when known; `-` for
    /// standard input.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Where to write the refused lines with their reasons (JSON Lines). Default: next to FILE,
    /// `<name>.refused.jsonl`; for standard input, `ordersync-import.refused.jsonl` in the
    /// current directory. Always written (empty when nothing is refused).
    #[arg(long, value_name = "FILE")]
    pub refused: Option<PathBuf>,
    /// Validate and count (new, already known, refused) without storing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub storage: StorageArgs,
    #[command(flatten)]
    pub cibler: CiblerArgs,
    #[command(flatten)]
    pub citrus: CitrusArgs,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot read {input}: {source}")]
    Read {
        input: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the refused lines to {path:?}: {source}")]
    Refused {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the outbox: {0}")]
    Open(#[source] StorageError),
    #[error(
        "storing the batch from line {line} on failed: {source}. The {stored} new orders \
         before it are stored: import the same file again once the outbox is back (they are \
         then counted as already known, not sent twice)"
    )]
    Storage {
        line: u64,
        stored: u64,
        #[source]
        source: StorageError,
    },
    /// A dry run could not ask the outbox which order ids it knows.
    #[error("looking up the order ids of the batch from line {line} on failed: {source}")]
    Lookup {
        line: u64,
        #[source]
        source: StorageError,
    },
    #[error("cannot write the summary: {0}")]
    Output(#[source] std::io::Error),
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// The file imported, or `-` for standard input.
    pub input: String,
    pub dry_run: bool,
    /// Lines holding a record (blank lines are skipped): `new + already_known + refused`.
    pub read: u64,
    /// Stored for delivery (in a dry run: would have been).
    pub new: u64,
    /// Known to the outbox already, or earlier in the file: not stored, not sent again.
    pub already_known: u64,
    pub refused: u64,
    /// Where the refused lines were written, with their reasons.
    pub refused_file: PathBuf,
}

/// `ordersync-relay import`: checks the settings, opens the outbox, imports, prints the
/// summary on `out` (progress and refusals go to standard error).
pub async fn run(args: &ImportArgs, out: &mut impl Write) -> Result<Summary, ImportError> {
    let acceptance = Arc::new(acceptance(&args.cibler, &args.citrus)?);
    let backend = args.storage.database_url.backend();
    let input = Input::of(&args.file);
    let refused_path = args
        .refused
        .clone()
        .unwrap_or_else(|| refused::default_path(input.path()));
    let reader = input.open()?;
    let outbox = outbox::open(args.storage.database_url.as_str())
        .await
        .map_err(ImportError::Open)?;
    let storing = Storing {
        outbox,
        dry_run: args.dry_run,
        pace: !args.dry_run && backend == Backend::Sqlite,
    };
    let refused_file = RefusedFile::create(&refused_path)?;
    let (at, counted) = import(reader, &input, acceptance, refused_file, &storing).await?;
    let summary = Summary {
        input: input.name(),
        dry_run: storing.dry_run,
        read: at.read,
        new: counted.new,
        already_known: counted.already_known,
        refused: at.refused,
        refused_file: std::path::absolute(&refused_path).unwrap_or(refused_path),
    };
    print_summary(&summary, args.json, out).map_err(ImportError::Output)?;
    Ok(summary)
}

/// The destinations as the relay's own settings (the same flags and `ORDERSYNC_*` variables as
/// `serve`) enable them: the per-destination rule depends on them.
fn acceptance(cibler: &CiblerArgs, citrus: &CitrusArgs) -> Result<Acceptance, ConfigError> {
    let (cibler, citrus) = destination_settings(
        cibler,
        citrus,
        "no destination is configured: import with the relay's own settings (its environment), \
         so that orders are planned as the relay plans a hand-off",
    )?;
    // An import line carries no envelope and no token (`accept_record`): nothing to verify.
    Ok(Acceptance {
        verifier: None,
        accept_unsigned: false,
        destinations: Destinations { cibler, citrus },
    })
}

/// The file to import, or standard input.
#[derive(Debug, Clone)]
enum Input {
    Stdin,
    File(PathBuf),
}

/// Read buffer: large reads, few system calls.
const READ_BUFFER_BYTES: usize = 256 * 1024;

impl Input {
    fn of(file: &Path) -> Input {
        if file == Path::new("-") {
            Input::Stdin
        } else {
            Input::File(file.to_owned())
        }
    }

    fn path(&self) -> Option<&Path> {
        match self {
            Input::Stdin => None,
            Input::File(path) => Some(path),
        }
    }

    fn name(&self) -> String {
        match self {
            Input::Stdin => "-".to_owned(),
            Input::File(path) => path.display().to_string(),
        }
    }

    fn failed(&self, source: std::io::Error) -> ImportError {
        ImportError::Read {
            input: match self {
                Input::Stdin => "standard input".to_owned(),
                Input::File(path) => format!("{path:?}"),
            },
            source,
        }
    }

    /// The reader, and the input's size when it is a regular file (for the progress).
    fn open(&self) -> Result<(Box<dyn BufRead + Send>, Option<u64>), ImportError> {
        match self {
            Input::Stdin => Ok((
                Box::new(BufReader::with_capacity(
                    READ_BUFFER_BYTES,
                    std::io::stdin(),
                )),
                None,
            )),
            Input::File(path) => {
                let file = std::fs::File::open(path).map_err(|e| self.failed(e))?;
                let size = file
                    .metadata()
                    .ok()
                    .filter(|metadata| metadata.is_file())
                    .map(|metadata| metadata.len());
                Ok((
                    Box::new(BufReader::with_capacity(READ_BUFFER_BYTES, file)),
                    size,
                ))
            }
        }
    }
}

/// Where accepted checkouts go.
struct Storing {
    outbox: Arc<dyn Outbox>,
    dry_run: bool,
    /// Leave the SQLite write lock free after each batch (see the module documentation).
    pace: bool,
}

/// The checkouts accepted from a run of lines, and where the reading stood after them.
struct Batch {
    first_line: u64,
    checkouts: Vec<NewCheckout>,
    at: Position,
    /// Refusals to show on standard error (the first [`REFUSALS_SHOWN`]).
    notes: Vec<String>,
}

impl Batch {
    fn starting_at(line: u64) -> Batch {
        Batch {
            first_line: line,
            checkouts: Vec::with_capacity(BATCH_LINES),
            at: Position::default(),
            notes: Vec::new(),
        }
    }
}

/// Reads, validates and stores the whole input; returns where the reading ended (lines read,
/// refused) and what storing counted.
async fn import(
    (reader, total_bytes): (Box<dyn BufRead + Send>, Option<u64>),
    input: &Input,
    acceptance: Arc<Acceptance>,
    refused_file: RefusedFile,
    storing: &Storing,
) -> Result<(Position, Counted), ImportError> {
    let (batches, mut arriving) = mpsc::channel(BATCHES_AHEAD);
    let failed_read = {
        let input = input.clone();
        move |e| input.failed(e)
    };
    let reading = tokio::task::spawn_blocking(move || {
        read_and_validate(reader, &acceptance, refused_file, &batches, failed_read)
    });
    let mut progress = Progress::new(total_bytes);
    let mut counted = Counted::default();
    // Order ids seen earlier in the file, in a dry run only (a real import asks the outbox).
    let mut seen = storing.dry_run.then(HashSet::new);
    while let Some(batch) = arriving.recv().await {
        for note in &batch.notes {
            progress.note(note);
        }
        let at = batch.at;
        store(storing, batch, &mut seen, &mut counted).await?;
        progress.update(at);
    }
    progress.finish();
    let at = reading
        .await
        .map_err(|e| input.failed(std::io::Error::other(e)))??;
    Ok((at, counted))
}

#[derive(Debug, Default)]
struct Counted {
    new: u64,
    already_known: u64,
}

/// Stores one batch (in a dry run, only tells new orders from known ones), counts, and on
/// SQLite leaves the write lock free for as long as the batch held it.
async fn store(
    storing: &Storing,
    Batch {
        first_line,
        checkouts,
        ..
    }: Batch,
    seen: &mut Option<HashSet<u64>>,
    counted: &mut Counted,
) -> Result<(), ImportError> {
    if checkouts.is_empty() {
        return Ok(());
    }
    let started = Instant::now();
    let outcomes = match seen {
        Some(seen) => dry_run(storing.outbox.as_ref(), &checkouts, seen)
            .await
            .map_err(|source| ImportError::Lookup {
                line: first_line,
                source,
            })?,
        None => storing
            .outbox
            .insert_batch(checkouts, clock::now_ms())
            .await
            .map_err(|source| ImportError::Storage {
                line: first_line,
                stored: counted.new,
                source,
            })?,
    };
    for outcome in outcomes {
        match outcome {
            Imported::New => counted.new += 1,
            Imported::AlreadyKnown => counted.already_known += 1,
        }
    }
    if storing.pace {
        pace(started.elapsed()).await;
    }
    Ok(())
}

/// Waits as long as the last batch held the SQLite write lock (see the module documentation).
async fn pace(held: Duration) {
    tokio::time::sleep(held).await;
}

/// What a batch would do: an order id known to the outbox, or seen earlier in the file, is
/// already known. Earlier ids are kept as 64-bit hashes (about 16 MB for a million orders,
/// the set's overhead included; two of a million ids sharing one is a chance in 37 million); a
/// real import needs none, the outbox itself refuses a repeat.
async fn dry_run(
    outbox: &dyn Outbox,
    checkouts: &[NewCheckout],
    seen: &mut HashSet<u64>,
) -> Result<Vec<Imported>, StorageError> {
    let order_ids: Vec<String> = checkouts.iter().map(|c| c.order_id.clone()).collect();
    let known = outbox.known(&order_ids).await?;
    Ok(order_ids
        .iter()
        .zip(known)
        .map(|(order_id, known)| {
            let first_in_file = seen.insert(fingerprint(order_id));
            if known || !first_in_file {
                Imported::AlreadyKnown
            } else {
                Imported::New
            }
        })
        .collect())
}

fn fingerprint(order_id: &str) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    order_id.hash(&mut hasher);
    hasher.finish()
}

/// The reading thread: every line validated, refusals written as they come, accepted
/// checkouts sent on in batches. Returns where the reading ended.
fn read_and_validate(
    reader: Box<dyn BufRead + Send>,
    acceptance: &Acceptance,
    mut refused_file: RefusedFile,
    batches: &mpsc::Sender<Batch>,
    failed_read: impl Fn(std::io::Error) -> ImportError,
) -> Result<Position, ImportError> {
    let mut lines = Lines::new(reader, MAX_LINE_BYTES);
    let mut at = Position::default();
    let mut batch = Batch::starting_at(1);
    let mut lines_in_batch = 0;
    // Whole seconds: read once per batch, not per line.
    let mut now = clock::now_rfc3339();
    while let Some(line) = lines.next_line().map_err(&failed_read)? {
        let verdict = match &line {
            Line::Text(text) if text.trim().is_empty() => continue,
            Line::Text(text) => acceptance.accept_record(text, &now).map_err(|e| (e, text)),
            Line::NotUtf8(text) => Err((not_utf8(), text)),
            Line::TooLong { start } => Err((too_long(), start)),
        };
        at.read += 1;
        lines_in_batch += 1;
        match verdict {
            Ok(accepted) => batch.checkouts.push(accepted.new_checkout),
            Err((error, text)) => {
                at.refused += 1;
                refused_file.write(&refusal(lines.number(), &error, text))?;
                if at.refused <= REFUSALS_SHOWN {
                    batch
                        .notes
                        .push(format!("line {}: refused: {error}", lines.number()));
                }
                if at.refused == REFUSALS_SHOWN {
                    batch
                        .notes
                        .push("(further refusals only in the refusals file)".to_owned());
                }
            }
        }
        if lines_in_batch == BATCH_LINES {
            at.bytes = lines.consumed();
            batch.at = at;
            let next = Batch::starting_at(lines.number() + 1);
            if batches
                .blocking_send(std::mem::replace(&mut batch, next))
                .is_err()
            {
                // The storing side stopped on an error of its own, which it reports.
                return Ok(at);
            }
            lines_in_batch = 0;
            now = clock::now_rfc3339();
        }
    }
    at.bytes = lines.consumed();
    batch.at = at;
    // The last batch, even empty: it carries the final position.
    let _ = batches.blocking_send(batch);
    refused_file.finish()?;
    Ok(at)
}

fn refusal<'a>(line: u64, error: &'a AcceptError, text: &'a str) -> Refusal<'a> {
    let (field, reason) = match error {
        AcceptError::Invalid { field, message, .. } => (field.as_deref(), message.as_str()),
        // An import line carries no token; kept total all the same.
        AcceptError::Unauthorized { message, .. } => (None, message.as_str()),
    };
    Refusal {
        line,
        field,
        reason,
        code: error.reason(),
        text,
    }
}

fn not_utf8() -> AcceptError {
    AcceptError::Invalid {
        field: None,
        message: "the line is not valid UTF-8 (JSON text is UTF-8)".to_owned(),
        reason: "invalid_utf8",
    }
}

fn too_long() -> AcceptError {
    AcceptError::Invalid {
        field: None,
        message: format!("the line is longer than {MAX_LINE_BYTES} bytes"),
        reason: "line_too_long",
    }
}

fn print_summary(summary: &Summary, json: bool, out: &mut impl Write) -> std::io::Result<()> {
    if json {
        serde_json::to_writer_pretty(&mut *out, summary)?;
        return writeln!(out);
    }
    let (title, new) = if summary.dry_run {
        ("dry run (nothing stored)", "would be stored for delivery")
    } else {
        ("imported", "stored for delivery")
    };
    writeln!(out, "{title}: {}", summary.input)?;
    writeln!(out, "  read           {:>9} lines", summary.read)?;
    writeln!(out, "  new            {:>9} {new}", summary.new)?;
    writeln!(
        out,
        "  already known  {:>9} not sent again",
        summary.already_known
    )?;
    writeln!(
        out,
        "  refused        {:>9} written with their reasons to {}",
        summary.refused,
        summary.refused_file.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_names_every_count_and_the_refusals_file() {
        let summary = Summary {
            input: "orders.jsonl".into(),
            dry_run: false,
            read: 10,
            new: 7,
            already_known: 2,
            refused: 1,
            refused_file: PathBuf::from("/data/orders.refused.jsonl"),
        };
        let mut out = Vec::new();
        print_summary(&summary, false, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let expected = [
            "imported: orders.jsonl",
            "  read                  10 lines",
            "  new                    7 stored for delivery",
            "  already known          2 not sent again",
            "  refused                1 written with their reasons to /data/orders.refused.jsonl",
        ];
        assert_eq!(text.lines().collect::<Vec<_>>(), expected);
        let mut out = Vec::new();
        print_summary(&summary, true, &mut out).unwrap();
        let parsed: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(parsed["alreadyKnown"], 2);
        assert_eq!(parsed["refusedFile"], "/data/orders.refused.jsonl");
    }
}
