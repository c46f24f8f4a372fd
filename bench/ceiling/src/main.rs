//! The ceiling of the ingest benchmark: the cheapest axum server that takes the relay's
//! hand-off route. It reads the whole body (as the relay must) and answers 202 with a small
//! JSON body, but checks nothing and stores nothing, so the gap between its throughput and the
//! relay's is what verifying, validating and durably storing a checkout costs.
//!
//! Usage: `ordersync-bench-ceiling [ADDR]` (default `127.0.0.1:0`). Prints
//! `ceiling listening on http://ADDR` on stdout once bound; stops on SIGTERM / Ctrl-C.

use axum::body::Bytes;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use std::io::Write;

/// Same shape as the relay's 202, so both servers write a comparable response.
const ACCEPTED: &str = r#"{"orderId":"0","status":"accepted"}"#;

async fn accept(body: Bytes) -> impl IntoResponse {
    // Touch the body so the read cannot be optimised away: its length decides nothing.
    let _length = body.len();
    (
        StatusCode::ACCEPTED,
        [(header::CONTENT_TYPE, "application/json")],
        ACCEPTED,
    )
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let listener = tokio::net::TcpListener::bind(&address).await?;
    println!("ceiling listening on http://{}", listener.local_addr()?);
    std::io::stdout().flush()?;
    let app = Router::new().route("/v1/checkouts", post(accept));
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
