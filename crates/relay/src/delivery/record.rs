//! The *record* stage: what an attempt means for its order (via the retry policy), written to
//! the outbox under the claim's lease, logged, counted in the metrics; and each vendor
//! request's result fed to its destination's circuit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::circuit::{Change, Circuits};
use super::classify::{Attempt, DeliveryError};
use super::retry::{Decision, Jitter, RetryPolicy};
use crate::clock;
use crate::metrics::Metrics;
use crate::outbox::{ClaimedDelivery, Destination, Outbox, Outcome};
use crate::redact::Redactor;

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

/// Records outcomes for one process (its lease owner), and feeds the circuits.
#[derive(Clone)]
pub struct Recorder {
    pub(super) outbox: Arc<dyn Outbox>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) redactor: Redactor,
    pub(super) policy: RetryPolicy,
    pub(super) lease_owner: String,
    pub(super) circuits: Circuits,
    /// For the log line when a circuit opens.
    pub(super) circuit_threshold: u32,
}

impl Recorder {
    /// Feeds one vendor request's result to `destination`'s circuit, and acts on what changed:
    /// logs and the `ordersync_circuit_open` gauge; when a probe was answered, every order
    /// waiting out its backoff for this vendor is made due at once.
    pub async fn observe(&self, destination: Destination, attempt: &Attempt) {
        let circuit = self.circuits.of(destination);
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
                    failures = self.circuit_threshold,
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
    pub fn outcome(
        &self,
        claimed: &ClaimedDelivery,
        attempt: Attempt,
        latency: Duration,
        ended: RequestEnd,
    ) -> Outcome {
        let failed_attempts = claimed.attempts + 1;
        // The error's text names no secret, but a connection error's detail is the HTTP
        // stack's: redacted like the answers, to be sure.
        let error = |error: DeliveryError| self.redactor.redact(&error.to_string());
        let answer = |body: String| self.redactor.redact(&body);
        let outcome = match attempt {
            Attempt::Delivered { status, body } => Outcome::Delivered {
                vendor_status: status,
                vendor_response: Some(answer(body)),
            },
            Attempt::Rejected { status, body } => Outcome::Dead {
                error: error(DeliveryError::Status(status)),
                vendor_status: Some(status),
                vendor_response: Some(answer(body)),
            },
            Attempt::NotSent { reason } => Outcome::Dead {
                error: error(reason.into()),
                vendor_status: None,
                vendor_response: None,
            },
            Attempt::Retryable {
                error: last,
                status,
                body,
                retry_after,
            } => {
                let vendor_response = body.map(answer);
                match self.policy.decide(
                    failed_attempts,
                    claimed.budget_started_at,
                    ended.at_ms,
                    retry_after,
                    ended.jitter,
                ) {
                    Decision::RetryAt(next_attempt_at) => Outcome::Retry {
                        next_attempt_at,
                        error: error(last),
                        vendor_status: status,
                        vendor_response,
                    },
                    Decision::GiveUp => Outcome::Dead {
                        error: error(DeliveryError::BudgetExhausted {
                            attempts: failed_attempts,
                            last: Box::new(last),
                        }),
                        vendor_status: status,
                        vendor_response,
                    },
                }
            }
        };
        Self::log_attempt(claimed, &outcome, latency);
        outcome
    }

    /// One structured line per delivery attempt. Never a secret: errors and vendor answers
    /// were redacted above, and keys are not fields here.
    fn log_attempt(claimed: &ClaimedDelivery, outcome: &Outcome, latency: Duration) {
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
                ..
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
    pub async fn all(&self, finished: Vec<(&ClaimedDelivery, Outcome, Duration)>) {
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
}

/// The `outcome` label of the deliveries metric.
fn outcome_label(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Delivered { .. } => "delivered",
        Outcome::Retry { .. } => "retry",
        Outcome::Dead { .. } => "dead",
    }
}
