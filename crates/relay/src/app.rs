//! Wiring: `serve` (server + delivery workers + graceful shutdown) and the operator commands
//! `verify` and `dead-letters`.

use std::io::Write;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;

use crate::acceptance::{Acceptance, Destinations};
use crate::clock;
use crate::config::{CitrusArgs, ConfigError, DeliveryArgs, ServeConfig, StorageArgs};
use crate::delivery::{self, Shared};
use crate::metrics::Metrics;
use crate::outbox::{self, DeadLetter, DeadLetterAction, Destination, StorageError};
use crate::redact::Redactor;
use crate::retention::Pruner;
use crate::server::console::ConsoleState;
use crate::server::{self, AppState, HttpPolicy};
use crate::signing::Verifier;
use crate::vendors::{self, citrus::InvalidKey, CiblerClient, CitrusClient};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Key(#[from] InvalidKey),
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("server error: {0}")]
    Serve(std::io::Error),
    #[error("{0}")]
    Operator(String),
}

/// Says which destinations are on, and loudly when unsigned checkouts are accepted.
fn announce(config: &ServeConfig) {
    match &config.cibler {
        Some(c) => tracing::info!(
            base_url = c.base_url.as_str(),
            customer_id = c.customer_id.as_str(),
            site_id = c.order.site_id,
            environment = c.order.environment.as_str(),
            "CibleR enabled"
        ),
        None => tracing::warn!(
            "CibleR disabled: no ORDERSYNC_CIBLER_API_KEY / ORDERSYNC_CIBLER_CUSTOMER_ID"
        ),
    }
    match &config.citrus {
        Some(c) => {
            tracing::info!(
                base_url = c.base_url.as_str(),
                team_id = c.order.team_id.as_deref().unwrap_or("(none)"),
                catalog_id = c.order.catalog_id.as_deref().unwrap_or("(none)"),
                auth_scheme = ?c.auth_scheme,
                "CitrusAd enabled"
            );
            if c.order.team_id.is_none() {
                tracing::warn!("CitrusAd teamId not set: orders are sent without teamId");
            }
        }
        None => tracing::warn!("CitrusAd disabled: no ORDERSYNC_CITRUS_API_KEY"),
    }
    if config.accept_unsigned {
        let banner =
            "!!! --accept-unsigned: UNSIGNED CHECKOUTS ARE ACCEPTED. Anyone who can reach \
                      this relay can report orders. Use only for a sandbox or a demo. !!!";
        tracing::warn!("{banner}");
        eprintln!("{banner}");
    }
    if config.signing_secret.is_none() {
        tracing::warn!("no signing secret: signed tokens cannot be verified");
    }
    let clients = &config.client_addresses;
    if clients.trusts_any_proxy() {
        tracing::info!(
            header = ?clients.header(),
            "behind trusted proxies: clients are told apart by the address they forward"
        );
    } else {
        tracing::info!(
            "no trusted proxies: clients are told apart by their TCP peer address \
             (behind a reverse proxy, set --trusted-proxies)"
        );
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
    tracing::info!("shutdown requested: no new checkouts; finishing in-flight deliveries");
}

/// Connections the kernel completes and queues before the relay accepts them. Each shopper's
/// page opens a connection of its own, so they come in bursts, and a full queue drops the
/// handshake: the client retries it 200 ms to 1 s later. The default behind
/// `TcpListener::bind` is 128; the ingest benchmark's 512 connections, opened at once against a
/// busy relay, overflowed it (141 handshakes dropped and retried in a 4 s run, counted in
/// `nstat`'s `ListenOverflows`). The kernel caps this at `net.core.somaxconn` (4096 by default).
const LISTEN_BACKLOG: u32 = 4096;

/// Binds `addr` as `TcpListener::bind` does (address reuse on Unix), with [`LISTEN_BACKLOG`].
fn listen(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Runs the relay until SIGTERM / SIGINT.
pub async fn serve(config: ServeConfig) -> Result<(), AppError> {
    announce(&config);
    let outbox = outbox::open_for_delivery(config.database_url.as_str()).await?;
    let metrics = Arc::new(Metrics::new());
    let redactor = Redactor::for_config(&config);
    let http = vendors::http_client(config.delivery.vendor_timeout)?;
    let cibler = config
        .cibler
        .clone()
        .map(|settings| CiblerClient::new(http.clone(), settings));
    let citrus = config
        .citrus
        .clone()
        .map(|settings| CitrusClient::new(http.clone(), settings))
        .transpose()?;
    let (stop_workers, workers_stopped) = watch::channel(false);
    let shared = Shared::new(
        outbox.clone(),
        metrics.clone(),
        redactor,
        config.delivery.clone(),
    );
    let pruner = Pruner::new(outbox.clone(), metrics.clone(), config.retention.clone())
        .spawn(workers_stopped.clone());
    let (wakers, workers) = delivery::spawn(shared, cibler, citrus, workers_stopped);
    let console = config.console.as_ref().map(|console| {
        ConsoleState::new(
            &console.token,
            outbox.clone(),
            metrics.clone(),
            wakers.clone(),
            config.enabled_destinations(),
        )
    });

    let state = AppState {
        acceptance: Arc::new(Acceptance {
            verifier: config
                .signing_secret
                .as_deref()
                .map(|secret| Verifier::new(secret, config.token_leeway)),
            accept_unsigned: config.accept_unsigned,
            destinations: Destinations {
                cibler: config.cibler.clone(),
                citrus: config.citrus.clone(),
            },
        }),
        outbox,
        metrics,
        wakers,
        max_body_bytes: config.max_body_bytes,
    };
    let policy = HttpPolicy {
        allowed_origins: config.allowed_origins.clone(),
        rate_limit_per_minute: config.rate_limit_per_minute,
        rate_limit_burst: config.rate_limit_burst,
        client_addresses: config.client_addresses.clone(),
    };
    let listener = listen(config.listen).map_err(|source| AppError::Listen {
        addr: config.listen,
        source,
    })?;
    let local = listener.local_addr().map_err(AppError::Serve)?;
    tracing::info!(listen = %local, "relay listening");
    // On stdout, like the sandbox: how tests and scripts learn the port when ADDR asks for 0.
    println!("ordersync relay listening on http://{local}");
    if console.is_some() {
        tracing::info!("operators' console on, at /console (token required)");
    }
    let app = server::router(state, &policy, console)
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(AppError::Serve)?;
    // The server has stopped accepting; now the workers finish what is in flight.
    let _ = stop_workers.send(true);
    for worker in workers {
        let _ = worker.await;
    }
    let _ = pruner.await;
    tracing::info!("relay stopped");
    Ok(())
}

/// `verify ORDER_ID`: what CitrusAd holds for an order, beside the relay's own status.
pub async fn verify(
    order_id: &str,
    storage: &StorageArgs,
    citrus: &CitrusArgs,
    delivery: &DeliveryArgs,
    out: &mut impl Write,
) -> Result<(), AppError> {
    let write_err = |e: std::io::Error| AppError::Operator(e.to_string());
    let outbox = outbox::open(storage.database_url.as_str()).await?;
    match outbox.status(order_id).await? {
        Some(status) => {
            writeln!(
                out,
                "relay: order {order_id} accepted at {}",
                clock::ms_to_rfc3339(status.accepted_at_ms)
            )
            .map_err(write_err)?;
            for d in &status.destinations {
                writeln!(
                    out,
                    "  {:<9} {:<9} attempts={} last_error={}",
                    d.destination.as_str(),
                    d.state.as_str(),
                    d.attempts,
                    d.last_error.as_deref().unwrap_or("-")
                )
                .map_err(write_err)?;
            }
        }
        None => match outbox.pruned(order_id).await? {
            Some(pruned) => writeln!(
                out,
                "relay: order {order_id} accepted at {}, last delivered at {}, pruned at {} \
                 (its details are gone; its order id is remembered)",
                clock::ms_to_rfc3339(pruned.accepted_at_ms),
                pruned
                    .delivered_at_ms
                    .map_or("-".to_owned(), clock::ms_to_rfc3339),
                clock::ms_to_rfc3339(pruned.pruned_at_ms)
            )
            .map_err(write_err)?,
            None => {
                writeln!(out, "relay: no checkout with order id {order_id}").map_err(write_err)?
            }
        },
    }
    let Some(settings) = citrus.validate()? else {
        writeln!(
            out,
            "citrusad: not configured (set ORDERSYNC_CITRUS_API_KEY and ORDERSYNC_CITRUS_BASE_URL)"
        )
        .map_err(write_err)?;
        return Ok(());
    };
    let redactor = Redactor::new([settings.api_key.clone()]);
    let client = CitrusClient::new(vendors::http_client(delivery.vendor_timeout)?, settings)?;
    match client.get_order(order_id).await {
        Ok((status, body)) => {
            let verdict = match status {
                200..=299 => "holds this order",
                404 => "does not hold this order (not ingested)",
                _ => "answered with an error",
            };
            writeln!(out, "citrusad: HTTP {status}: {verdict}").map_err(write_err)?;
            let pretty = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| serde_json::to_string_pretty(&v).ok())
                .unwrap_or(body);
            writeln!(out, "{}", redactor.redact(&pretty)).map_err(write_err)?;
        }
        Err(e) => writeln!(
            out,
            "citrusad: no answer: {}",
            redactor.redact(&e.to_string())
        )
        .map_err(write_err)?,
    }
    Ok(())
}

/// `dead-letters list`: every dead (order, destination), with the vendor's answer.
pub async fn dead_letters_list(
    storage: &StorageArgs,
    limit: u32,
    json: bool,
    out: &mut impl Write,
) -> Result<(), AppError> {
    let write_err = |e: std::io::Error| AppError::Operator(e.to_string());
    let outbox = outbox::open(storage.database_url.as_str()).await?;
    let dead = outbox.dead_letters(limit).await?;
    if json {
        let text =
            serde_json::to_string_pretty(&dead).map_err(|e| AppError::Operator(e.to_string()))?;
        writeln!(out, "{text}").map_err(write_err)?;
        return Ok(());
    }
    if dead.is_empty() {
        writeln!(out, "no dead letters").map_err(write_err)?;
    }
    for DeadLetter {
        order_id,
        destination,
        attempts,
        error,
        vendor_status,
        vendor_response,
        updated_at_ms,
    } in &dead
    {
        writeln!(
            out,
            "{order_id}\t{destination}\tattempts={attempts}\tat={}\tstatus={}\terror={}\tvendor_answer={}",
            clock::ms_to_rfc3339(*updated_at_ms),
            vendor_status.map_or("-".to_owned(), |s| s.to_string()),
            error.as_deref().unwrap_or("-"),
            vendor_response.as_deref().unwrap_or("-"),
        )
        .map_err(write_err)?;
    }
    Ok(())
}

/// `dead-letters retry` / `discard`: acts on the dead rows selected (every one when neither an
/// order nor a destination narrows it) and says how many.
pub async fn dead_letters_act(
    storage: &StorageArgs,
    action: DeadLetterAction,
    order_id: Option<&str>,
    destination: Option<Destination>,
    out: &mut impl Write,
) -> Result<u64, AppError> {
    let outbox = outbox::open(storage.database_url.as_str()).await?;
    let now = clock::now_ms();
    let count = action
        .apply(outbox.as_ref(), order_id, destination, now)
        .await?;
    let what = match action {
        DeadLetterAction::Retry => {
            "queued again; a running relay picks them up within its poll interval"
        }
        DeadLetterAction::Discard => {
            "discarded; they will not be sent, and their orders are pruned at the retention"
        }
    };
    writeln!(out, "{count} dead deliveries {what}")
        .map_err(|e| AppError::Operator(e.to_string()))?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Nothing accepts here, so every connection waits in the kernel's queue: with the default
    /// backlog of 128 the 129th handshake is dropped and its connect times out.
    #[tokio::test]
    async fn a_burst_of_connections_waits_in_the_queue_instead_of_being_dropped() {
        let listener = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let address = listener.local_addr().unwrap();
        let opened = tokio::task::spawn_blocking(move || {
            (0..400)
                .map(|_| std::net::TcpStream::connect_timeout(&address, Duration::from_millis(500)))
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .unwrap();
        assert_eq!(opened.expect("every connection queued").len(), 400);
        drop(listener);
    }
}
