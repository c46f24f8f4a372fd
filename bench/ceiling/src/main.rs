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
//!
//! Usage: `ordersync-bench-ceiling [ADDR] [--durable PATH]` (default `127.0.0.1:0`). Prints
//! `ceiling listening on http://ADDR` on stdout once bound; stops on SIGTERM / Ctrl-C.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
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

/// The single writer: takes every append waiting, writes them in one `write`, syncs once, then
/// answers them all. Stops (and the server answers 503) if the disk refuses.
fn write_groups(mut file: File, mut appends: mpsc::Receiver<Append>) {
    let mut group = Vec::new();
    let mut buffer = Vec::new();
    while let Some(first) = appends.blocking_recv() {
        group.push(first);
        while let Ok(next) = appends.try_recv() {
            group.push(next);
        }
        buffer.clear();
        for (body, _) in &group {
            buffer.extend_from_slice(body);
            buffer.push(b'\n');
        }
        if let Err(error) = file.write_all(&buffer).and_then(|()| file.sync_data()) {
            eprintln!("ceiling: writing {} bodies failed: {error}", group.len());
            return;
        }
        for (_, done) in group.drain(..) {
            let _ = done.send(());
        }
    }
}

fn durable_app(path: &str) -> std::io::Result<Router> {
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    let (appends, receiver) = mpsc::channel(4096);
    std::thread::Builder::new()
        .name("ceiling-writer".to_owned())
        .spawn(move || write_groups(file, receiver))?;
    Ok(Router::new()
        .route("/v1/checkouts", post(accept_durably))
        .with_state(appends))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut address = "127.0.0.1:0".to_owned();
    let mut durable = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--durable" => durable = args.next(),
            _ => address = arg,
        }
    }
    let app = match durable {
        Some(path) => durable_app(&path)?,
        None => Router::new().route("/v1/checkouts", post(accept)),
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
