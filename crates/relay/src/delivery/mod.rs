//! Delivery workers: one per enabled destination, each taking due rows from the outbox through
//! named stages, each in its own module:
//!
//! 1. [`claim`]: due rows under this process's lease, as many as the destination's circuit
//!    permits ([`circuit`]: one as a probe while a vendor keeps failing).
//! 2. [`build`]: the vendor's request body from the stored checkout; a checkout that cannot be
//!    built is an attempt never sent.
//! 3. send: the vendor clients ([`crate::vendors`]), which hand back the answer as received.
//! 4. [`classify`]: the answer as an [`Attempt`] (delivered, retryable, rejected), shared out
//!    per order for a CitrusAd batch.
//! 5. [`record`]: the attempt as the outbox's [`Outcome`](crate::outbox::Outcome) through the
//!    retry policy ([`retry`]), written under the lease, logged, counted, fed to the circuit.
//!
//! The per-vendor workers ([`cibler`]: one order per request; [`citrus`]: batches) run the
//! stages, keeping up to N requests in flight ([`window`]). New checkouts wake the workers at
//! once ([`Wakers`]); otherwise they look for due rows every poll interval. On shutdown a
//! worker stops claiming, finishes the requests already in flight and releases rows it claimed
//! but did not send, so a restart picks them up at once.

pub mod build;
pub mod cibler;
pub mod circuit;
pub mod citrus;
pub mod claim;
pub mod classify;
pub mod record;
pub mod retry;
pub mod window;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::config::DeliverySettings;
use crate::metrics::Metrics;
use crate::outbox::Outbox;
use crate::redact::Redactor;
use crate::vendors::{CiblerClient, CitrusClient};

use circuit::Circuits;
use claim::Claims;
pub use classify::Attempt;
use record::Recorder;
pub use record::RequestEnd;
pub use retry::{Decision, Jitter, RetryPolicy};
use window::Requests;

/// Wakes idle workers when a checkout was stored.
#[derive(Debug, Clone, Default)]
pub struct Wakers {
    notifies: Vec<Arc<Notify>>,
}

impl Wakers {
    pub fn wake_all(&self) {
        for notify in &self.notifies {
            // `notify_one` keeps a permit when the worker is busy, so no wake-up is lost.
            notify.notify_one();
        }
    }

    fn add(&mut self) -> Arc<Notify> {
        let notify = Arc::new(Notify::new());
        self.notifies.push(notify.clone());
        notify
    }
}

/// What every worker shares: the settings, and the stages that hold state (the lease owner,
/// the outbox, the circuits).
#[derive(Clone)]
pub struct Shared {
    pub settings: DeliverySettings,
    pub claims: Claims,
    pub record: Recorder,
}

impl Shared {
    pub fn new(
        outbox: Arc<dyn Outbox>,
        metrics: Arc<Metrics>,
        redactor: Redactor,
        settings: DeliverySettings,
    ) -> Self {
        let policy = RetryPolicy {
            budget: settings.retry_budget,
            base: settings.backoff_base,
            cap: settings.backoff_cap,
        };
        // Unique per run, so a restarted relay never mistakes a dead process's leases for its
        // own.
        let lease_owner = format!(
            "relay-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        );
        let circuits = Circuits::new(
            settings.circuit_threshold,
            settings.backoff_base,
            settings.circuit_probe_max,
        );
        Self {
            claims: Claims {
                outbox: outbox.clone(),
                lease_owner: lease_owner.clone(),
                lease_duration: settings.lease_duration,
                circuits: circuits.clone(),
            },
            record: Recorder {
                outbox,
                metrics,
                redactor,
                policy,
                lease_owner,
                circuits,
                circuit_threshold: settings.circuit_threshold,
            },
            settings,
        }
    }
}

/// A destination's worker: keeps its requests in flight ([`window::keep_in_flight`]) while
/// orders are due, then waits for a stored checkout or the poll interval, until shutdown.
async fn run_worker<R: Requests>(
    worker: R,
    wake: Arc<Notify>,
    poll_interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let destination = worker.destination().as_str();
    tracing::info!(destination, "delivery worker started");
    while !*shutdown.borrow() {
        let started = Instant::now();
        let handled = window::keep_in_flight(&worker, poll_interval, &shutdown, &wake).await;
        if handled > 0 {
            tracing::debug!(
                destination,
                handled,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "round"
            );
            continue;
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(poll_interval) => {}
            _ = shutdown.changed() => {}
        }
    }
    tracing::info!(destination, "delivery worker stopped");
}

/// Starts one worker per enabled destination. They stop when `shutdown` turns true.
pub fn spawn(
    shared: Shared,
    cibler: Option<CiblerClient>,
    citrus: Option<CitrusClient>,
    shutdown: watch::Receiver<bool>,
) -> (Wakers, Vec<JoinHandle<()>>) {
    let mut wakers = Wakers::default();
    let mut handles = Vec::new();
    let poll = shared.settings.poll_interval;
    if let Some(client) = cibler {
        let worker = cibler::CiblerWorker::new(shared.clone(), client);
        let run = run_worker(worker, wakers.add(), poll, shutdown.clone());
        handles.push(tokio::spawn(run));
    }
    if let Some(client) = citrus {
        let worker = citrus::CitrusWorker::new(shared.clone(), client);
        let run = run_worker(worker, wakers.add(), poll, shutdown.clone());
        handles.push(tokio::spawn(run));
    }
    (wakers, handles)
}
