//! Delivery workers: one per enabled destination, each claiming due rows from the outbox under
//! a lease, sending them, and recording the outcome (delivered, retry later, or dead).
//!
//! New checkouts wake the workers at once ([`Wakers`]); otherwise they look for due rows every
//! poll interval. A vendor that keeps failing opens its destination's circuit ([`circuit`]):
//! its worker then sends one order at a time as a probe until the vendor answers again. On
//! shutdown a worker stops claiming, finishes the requests already in flight and releases rows
//! it claimed but did not send, so a restart picks them up at once.

pub mod cibler;
pub mod circuit;
pub mod citrus;
pub mod retry;
pub mod window;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::clock;
use crate::config::DeliverySettings;
use crate::metrics::Metrics;
use crate::outbox::{ClaimedDelivery, Destination, Outbox, Outcome};
use crate::redact::Redactor;
use crate::vendors::{self, Attempt, CiblerClient, CitrusClient};

use circuit::{Change, Circuit, Permit};
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

/// What the orders of one vendor request share: when its answer came, and its jitter draw.
/// They get one retry time from both (one clock reading for all, so they stay together to the
/// millisecond): a CitrusAd batch that failed is retried as one batch again.
#[derive(Debug, Clone, Copy)]
pub struct RequestEnd {
    pub at_ms: i64,
    pub jitter: Jitter,
}

impl RequestEnd {
    /// A request that ended now, with a fresh draw.
    pub fn now() -> Self {
        RequestEnd {
            at_ms: clock::now_ms(),
            jitter: Jitter::draw(&mut rand::thread_rng()),
        }
    }
}

/// What every worker shares.
#[derive(Clone)]
pub struct Shared {
    pub outbox: Arc<dyn Outbox>,
    pub metrics: Arc<Metrics>,
    pub redactor: Redactor,
    pub settings: DeliverySettings,
    pub policy: RetryPolicy,
    /// This process's lease-owner name: unique per run, so a restarted relay never mistakes
    /// a dead process's leases for its own.
    pub lease_owner: String,
    /// One circuit per destination, in [`Destination::ALL`]'s order.
    circuits: Arc<[Circuit; 2]>,
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
        Self {
            outbox,
            metrics,
            redactor,
            policy,
            lease_owner: format!(
                "relay-{}-{:016x}",
                std::process::id(),
                rand::random::<u64>()
            ),
            circuits: Arc::new(Destination::ALL.map(|_| {
                Circuit::new(
                    settings.circuit_threshold,
                    settings.backoff_base,
                    settings.circuit_probe_max,
                )
            })),
            settings,
        }
    }

    fn circuit(&self, destination: Destination) -> &Circuit {
        &self.circuits[destination as usize]
    }

    /// Claims what `destination`'s circuit allows: up to `limit` rows when closed, one as a
    /// probe when open and its wait is over, none otherwise. True with a probe.
    async fn claim_allowed(
        &self,
        destination: Destination,
        limit: u32,
    ) -> (Vec<ClaimedDelivery>, bool) {
        let circuit = self.circuit(destination);
        match circuit.permit(Instant::now()) {
            Permit::Full => (self.claim(destination, limit).await, false),
            Permit::Wait => (Vec::new(), false),
            Permit::Probe => {
                let claimed = self.claim_probe(destination).await;
                if claimed.is_empty() {
                    circuit.probe_unused(Instant::now());
                }
                (claimed, true)
            }
        }
    }

    /// Feeds one vendor request's result to `destination`'s circuit, and acts on what changed:
    /// logs and the `ordersync_circuit_open` gauge; when a probe was answered, every order
    /// waiting out its backoff for this vendor is made due at once.
    async fn observe(&self, destination: Destination, attempt: &Attempt) {
        let circuit = self.circuit(destination);
        let answered = match attempt {
            Attempt::Delivered { .. } | Attempt::Rejected { .. } => true,
            Attempt::Retryable { .. } => false,
            Attempt::NotSent { .. } => {
                circuit.probe_unused(Instant::now());
                return;
            }
        };
        let name = destination.as_str();
        match circuit.record(answered, Instant::now()) {
            Change::None => {}
            Change::Opened(wait) => {
                self.metrics.set_circuit_open(destination, true);
                tracing::warn!(
                    destination = name,
                    failures = self.settings.circuit_threshold,
                    next_probe_in_ms = wait.as_millis() as u64,
                    "vendor keeps failing: circuit open, probing it with one order at a time"
                );
            }
            Change::ProbeFailed(wait) => tracing::warn!(
                destination = name,
                next_probe_in_ms = wait.as_millis() as u64,
                "vendor still failing: circuit stays open"
            ),
            Change::Closed => {
                self.metrics.set_circuit_open(destination, false);
                match self.outbox.retry_now(destination, clock::now_ms()).await {
                    Ok(released) => tracing::info!(
                        destination = name,
                        released,
                        "vendor answered the probe: circuit closed, waiting orders due now"
                    ),
                    Err(e) => tracing::error!(
                        destination = name,
                        error = %e,
                        "circuit closed, but the waiting orders could not be made due; they keep their backoff"
                    ),
                }
            }
        }
    }

    /// Turns a vendor's answer into what the outbox records (and logs the attempt); a retry
    /// is placed in its backoff window from `ended`, the end of the request that carried it.
    fn outcome(
        &self,
        claimed: &ClaimedDelivery,
        attempt: Attempt,
        latency: Duration,
        ended: RequestEnd,
    ) -> Outcome {
        let failed_attempts = claimed.attempts + 1;
        let outcome = match attempt {
            Attempt::Delivered { status, body } => Outcome::Delivered {
                vendor_status: status,
                vendor_response: Some(self.redactor.redact(&body)),
            },
            Attempt::Rejected { status, body } => {
                let body = self.redactor.redact(&body);
                Outcome::Dead {
                    error: vendors::summary(status, &body),
                    vendor_status: Some(status),
                    vendor_response: Some(body),
                }
            }
            Attempt::NotSent { reason } => Outcome::Dead {
                error: self.redactor.redact(&reason),
                vendor_status: None,
                vendor_response: None,
            },
            Attempt::Retryable {
                error,
                status,
                retry_after,
            } => {
                let error = self.redactor.redact(&error);
                match self.policy.decide(
                    failed_attempts,
                    claimed.budget_started_at,
                    ended.at_ms,
                    retry_after,
                    ended.jitter,
                ) {
                    Decision::RetryAt(next_attempt_at) => Outcome::Retry {
                        next_attempt_at,
                        error,
                        vendor_status: status,
                    },
                    Decision::GiveUp => Outcome::Dead {
                        error: format!(
                            "retry budget exhausted after {failed_attempts} attempts; last: {error}"
                        ),
                        vendor_status: status,
                        vendor_response: None,
                    },
                }
            }
        };
        self.log_attempt(claimed, &outcome, latency);
        outcome
    }

    /// One structured line per delivery attempt. Never a secret: errors and vendor answers
    /// were redacted above, and keys are not fields here.
    fn log_attempt(&self, claimed: &ClaimedDelivery, outcome: &Outcome, latency: Duration) {
        let latency_ms = latency.as_millis() as u64;
        let attempt = claimed.attempts + 1;
        let destination = claimed.destination.as_str();
        let order_id = claimed.order_id.as_str();
        match outcome {
            Outcome::Delivered { vendor_status, .. } => tracing::info!(
                order_id,
                destination,
                attempt,
                latency_ms,
                status = vendor_status,
                outcome = "delivered",
                "delivery attempt"
            ),
            Outcome::Retry {
                next_attempt_at,
                error,
                vendor_status,
            } => tracing::warn!(
                order_id,
                destination,
                attempt,
                latency_ms,
                status = vendor_status,
                retry_in_ms = next_attempt_at - clock::now_ms(),
                error = error.as_str(),
                outcome = "retry",
                "delivery attempt"
            ),
            Outcome::Dead {
                error,
                vendor_status,
                ..
            } => tracing::error!(
                order_id,
                destination,
                attempt,
                latency_ms,
                status = vendor_status,
                error = error.as_str(),
                outcome = "dead",
                "delivery attempt"
            ),
        }
    }

    /// Records the outcomes of one batch or round (one destination) in one write, and counts
    /// them: a CitrusAd batch of 100, or a round of CibleR requests, costs one message to the
    /// outbox and one place in a commit, not one each.
    async fn finish_all(&self, finished: Vec<(&ClaimedDelivery, Outcome, Duration)>) {
        let Some(destination) = finished.first().map(|(claimed, ..)| claimed.destination) else {
            return;
        };
        for (claimed, outcome, latency) in &finished {
            self.metrics
                .delivery(claimed.destination, outcome_label(outcome), *latency);
        }
        let (claims, outcomes): (Vec<&ClaimedDelivery>, Vec<(String, Outcome)>) = finished
            .into_iter()
            .map(|(claimed, outcome, _)| (claimed, (claimed.order_id.clone(), outcome)))
            .unzip();
        match self
            .outbox
            .record_all(destination, &self.lease_owner, outcomes, clock::now_ms())
            .await
        {
            Ok(held) => {
                for (claimed, held) in claims.iter().zip(held) {
                    if !held {
                        tracing::warn!(
                            order_id = claimed.order_id.as_str(),
                            destination = destination.as_str(),
                            "lease lost before the outcome was recorded; another worker will retry"
                        );
                    }
                }
            }
            Err(e) => tracing::error!(
                orders = claims.len(),
                destination = destination.as_str(),
                error = %e,
                "could not record a batch's delivery outcomes; the leases will expire and they are retried"
            ),
        }
    }

    /// Records an outcome and counts it.
    async fn finish(&self, claimed: &ClaimedDelivery, outcome: Outcome, latency: Duration) {
        self.metrics
            .delivery(claimed.destination, outcome_label(&outcome), latency);
        match self
            .outbox
            .record(
                claimed.destination,
                &claimed.order_id,
                &self.lease_owner,
                outcome,
                clock::now_ms(),
            )
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                order_id = claimed.order_id.as_str(),
                destination = claimed.destination.as_str(),
                "lease lost before the outcome was recorded; another worker will retry"
            ),
            Err(e) => tracing::error!(
                order_id = claimed.order_id.as_str(),
                destination = claimed.destination.as_str(),
                error = %e,
                "could not record a delivery outcome; the lease will expire and it is retried"
            ),
        }
    }

    /// Claims due rows; storage errors are logged and read as "nothing due".
    async fn claim(&self, destination: Destination, limit: u32) -> Vec<ClaimedDelivery> {
        match self
            .outbox
            .claim_due(
                destination,
                limit,
                &self.lease_owner,
                self.settings.lease_duration,
                clock::now_ms(),
            )
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(destination = destination.as_str(), error = %e, "claiming due deliveries failed");
                Vec::new()
            }
        }
    }

    /// Claims the waiting row due first, even if not due yet, as a circuit's probe.
    async fn claim_probe(&self, destination: Destination) -> Vec<ClaimedDelivery> {
        match self
            .outbox
            .claim_probe(
                destination,
                &self.lease_owner,
                self.settings.lease_duration,
                clock::now_ms(),
            )
            .await
        {
            Ok(row) => row.into_iter().collect(),
            Err(e) => {
                tracing::error!(destination = destination.as_str(), error = %e, "claiming a probe failed");
                Vec::new()
            }
        }
    }

    /// The claimed rows to send, or none if the relay is stopping: rows claimed as the stop
    /// came are handed back unsent, so the next start takes them at once.
    async fn unless_stopping(
        &self,
        claimed: Vec<ClaimedDelivery>,
        shutdown: &watch::Receiver<bool>,
    ) -> Vec<ClaimedDelivery> {
        if !*shutdown.borrow() {
            return claimed;
        }
        self.release(&claimed).await;
        Vec::new()
    }

    async fn release(&self, claimed: &[ClaimedDelivery]) {
        for row in claimed {
            if let Err(e) = self
                .outbox
                .release(row.destination, &row.order_id, &self.lease_owner)
                .await
            {
                tracing::warn!(order_id = row.order_id.as_str(), error = %e, "release failed; the lease will expire");
            }
        }
    }
}

/// The `outcome` label of the deliveries metric.
fn outcome_label(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Delivered { .. } => "delivered",
        Outcome::Retry { .. } => "retry",
        Outcome::Dead { .. } => "dead",
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
