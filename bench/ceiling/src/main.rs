//! The ceilings of the ingest benchmark: the cheapest axum servers that take the relay's
//! hand-off route. Both read the whole body (as the relay must) and answer 202 with a small
//! JSON body, but check nothing.
//!
//! - Plain (the default): stores nothing. The gap between its throughput and the relay's is
//!   what verifying, validating and durably storing a checkout costs.
//! - `--durable PATH`: answers 202 only once the body is on disk, the least any durable relay
//!   must do. One thread appends every waiting body to `PATH` and calls `fdatasync` once for
//!   them all (group commit, as the relay's SQLite writer does, without SQL, indexes or a
//!   delivery queue). The gap between it and the plain ceiling is the price of durability on
//!   this disk; the gap between the relay and it, the price of the relay's own work.
//! - `--sqlite PATH`: the same, but the thread inserts each body as a row of a one-table
//!   SQLite database (WAL, `synchronous=FULL`, one transaction per group, SQLite's default
//!   checkpoints), as the relay's outbox does without its validation, delivery rows, indexes
//!   or delivery work. The gap between it and `--durable` is what SQLite itself costs; between
//!   the relay and it, what the relay does beyond storing the body.
//!
//! Usage: `ordersync-bench-ceiling [ADDR] [--durable PATH | --sqlite PATH]` (default
//! `127.0.0.1:0`). Prints `ceiling listening on http://ADDR` on stdout once bound; stops on
//! SIGTERM / Ctrl-C.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use rusqlite::{Connection, TransactionBehavior};
use std::fs::{File, OpenOptions};
use std::io::Write;
use tokio::sync::{mpsc, oneshot};

/// Same shape as the relay's 202, so both servers write a comparable response.
const ACCEPTED: &str = r#"{"orderId":"0","status":"accepted"}"#;

fn accepted() -> impl IntoResponse {
    (
        StatusCode::ACCEPTED,
        [(header::CONTENT_TYPE, "application/json")],
        ACCEPTED,
    )
}

async fn accept(body: Bytes) -> impl IntoResponse {
    // Touch the body so the read cannot be optimised away: its length decides nothing.
    let _length = body.len();
    accepted()
}

/// A body to append, and who to tell once it is on disk.
type Append = (Bytes, oneshot::Sender<()>);

async fn accept_durably(
    State(appends): State<mpsc::Sender<Append>>,
    body: Bytes,
) -> impl IntoResponse {
    let (done, on_disk) = oneshot::channel();
    if appends.send((body, done)).await.is_err() || on_disk.await.is_err() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    accepted().into_response()
}

/// The single writer: takes every append waiting, has `store` make them all durable at once,
/// then answers them all. Stops (and the server answers 503) if storing fails.
fn write_groups(
    mut store: impl FnMut(&[Append]) -> Result<(), String>,
    mut appends: mpsc::Receiver<Append>,
) {
    let mut group = Vec::new();
    while let Some(first) = appends.blocking_recv() {
        group.push(first);
        while let Ok(next) = appends.try_recv() {
            group.push(next);
        }
        if let Err(error) = store(&group) {
            eprintln!("ceiling: storing {} bodies failed: {error}", group.len());
            return;
        }
        for (_, done) in group.drain(..) {
            let _ = done.send(());
        }
    }
}

/// Appends the group's bodies in one `write` and syncs once.
fn append_to(mut file: File) -> impl FnMut(&[Append]) -> Result<(), String> {
    let mut buffer = Vec::new();
    move |group| {
        buffer.clear();
        for (body, _) in group {
            buffer.extend_from_slice(body);
            buffer.push(b'\n');
        }
        file.write_all(&buffer)
            .and_then(|()| file.sync_data())
            .map_err(|error| error.to_string())
    }
}

/// Inserts the group's bodies in one transaction (one WAL fsync at its commit).
fn insert_into(mut connection: Connection) -> impl FnMut(&[Append]) -> Result<(), String> {
    move |group| {
        let insert_all = |connection: &mut Connection| -> rusqlite::Result<()> {
            let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut insert = transaction.prepare_cached("INSERT INTO bodies (body) VALUES (?1)")?;
                for (body, _) in group {
                    insert.execute([&body[..]])?;
                }
            }
            transaction.commit()
        };
        insert_all(&mut connection).map_err(|error| error.to_string())
    }
}

fn open_sqlite(path: &str) -> rusqlite::Result<Connection> {
    let connection = Connection::open(path)?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.execute_batch("CREATE TABLE IF NOT EXISTS bodies (body BLOB NOT NULL)")?;
    Ok(connection)
}

/// The durable route, its bodies stored by `store` on a thread of its own.
fn durable_app(
    store: impl FnMut(&[Append]) -> Result<(), String> + Send + 'static,
) -> std::io::Result<Router> {
    let (appends, receiver) = mpsc::channel(4096);
    std::thread::Builder::new()
        .name("ceiling-writer".to_owned())
        .spawn(move || write_groups(store, receiver))?;
    Ok(Router::new()
        .route("/v1/checkouts", post(accept_durably))
        .with_state(appends))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut address = "127.0.0.1:0".to_owned();
    let mut durable = None;
    let mut sqlite = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--durable" => durable = args.next(),
            "--sqlite" => sqlite = args.next(),
            _ => address = arg,
        }
    }
    let app = match (durable, sqlite) {
        (Some(path), _) => {
            durable_app(append_to(OpenOptions::new().create(true).append(true).open(path)?))?
        }
        (None, Some(path)) => {
            durable_app(insert_into(open_sqlite(&path).map_err(std::io::Error::other)?))?
        }
        (None, None) => Router::new().route("/v1/checkouts", post(accept)),
    };
    let listener = tokio::net::TcpListener::bind(&address).await?;
    println!("ceiling listening on http://{}", listener.local_addr()?);
    std::io::stdout().flush()?;
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
