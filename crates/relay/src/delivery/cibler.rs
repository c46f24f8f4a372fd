//! The CibleR worker: one request per order, up to `--cibler-concurrency` in flight.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ordersync_core::wire::checkout_from_json;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use super::{RequestEnd, Shared, Worker};
use crate::outbox::{ClaimedDelivery, Destination, Outcome};
use crate::vendors::{Attempt, CiblerClient};

pub struct CiblerWorker {
    shared: Shared,
    client: Arc<CiblerClient>,
}

impl CiblerWorker {
    pub fn new(shared: Shared, client: CiblerClient) -> Self {
        Self {
            shared,
            client: Arc::new(client),
        }
    }
}

/// Sends one claimed order; returns it with what happened and how long it took.
async fn deliver(
    shared: Shared,
    client: Arc<CiblerClient>,
    claimed: ClaimedDelivery,
) -> (ClaimedDelivery, Outcome, Duration) {
    let started = Instant::now();
    let attempt = match checkout_from_json(&claimed.checkout_json) {
        Ok(checkout) => client.send(&checkout, claimed.cookie_id.as_deref()).await,
        // Only a hand-edited database gets here: keep the row, dead, for the operator.
        Err(e) => Attempt::Rejected {
            status: 0,
            body: format!("stored checkout unreadable: {e}"),
        },
    };
    let latency = started.elapsed();
    shared.observe(Destination::Cibler, &attempt).await;
    let outcome = shared.outcome(&claimed, attempt, latency, RequestEnd::now());
    (claimed, outcome, latency)
}

#[async_trait::async_trait]
impl Worker for CiblerWorker {
    fn destination(&self) -> Destination {
        Destination::Cibler
    }

    /// Keeps up to `--cibler-concurrency` requests in flight: each one that ends frees its place
    /// for the next due order at once, so one slow answer holds back only its own order. (A
    /// round of requests that all had to end before the next round waited for its slowest
    /// answer: the vendor's tail latency, not its mean, set the pace.) While requests are in
    /// flight, new checkouts and the poll interval also fill free places. The round ends when
    /// nothing is in flight, every outcome recorded.
    async fn run_once(&self, shutdown: &watch::Receiver<bool>, wake: &Notify) -> usize {
        let window = self.shared.settings.cibler_concurrency as usize;
        let mut sending = JoinSet::new();
        let mut recording = JoinSet::new();
        let mut handled = 0;
        // Whether the outbox may hold more due orders: true after a claim that filled every free
        // place, and again once a request ends, a checkout is stored or the poll interval passes.
        let mut more_may_be_due = true;
        let mut probing = false;
        loop {
            let free = window - sending.len();
            let may_claim = !probing && free > 0 && !*shutdown.borrow();
            if more_may_be_due && may_claim {
                let free = free as u32;
                let (claimed, probe) = self.shared.claim_allowed(Destination::Cibler, free).await;
                more_may_be_due = claimed.len() as u32 == free;
                probing = probe;
                handled += claimed.len();
                if *shutdown.borrow() {
                    // Claimed as the stop came: hand them back unsent for the next start.
                    self.shared.release(&claimed).await;
                } else {
                    for row in claimed {
                        sending.spawn(deliver(self.shared.clone(), self.client.clone(), row));
                    }
                }
                continue;
            }
            if sending.is_empty() {
                break;
            }
            // In-flight requests are awaited even during shutdown: each ends within the vendor
            // timeout, and finishing beats sending the order a second time after a restart.
            tokio::select! {
                Some(first) = sending.join_next() => {
                    let mut ended = vec![first];
                    while let Some(next) = sending.try_join_next() {
                        ended.push(next);
                    }
                    // The outcomes of requests that ended together in one write, recorded while
                    // the next requests go out; their leases keep these orders from being
                    // claimed again until the outcomes are in.
                    let shared = self.shared.clone();
                    recording.spawn(async move { record(&shared, ended).await });
                    // A busy round can last as long as orders keep coming: let go of the
                    // writes already done as it goes.
                    while recording.try_join_next().is_some() {}
                    more_may_be_due = true;
                }
                _ = wake.notified(), if may_claim => more_may_be_due = true,
                _ = tokio::time::sleep(self.shared.settings.poll_interval), if may_claim => {
                    more_may_be_due = true;
                }
            }
        }
        recording.join_all().await;
        handled
    }
}

/// Records the outcomes of requests that ended; a task that failed is logged, and its order's
/// lease expires so that it is tried again.
async fn record(
    shared: &Shared,
    ended: Vec<Result<(ClaimedDelivery, Outcome, Duration), tokio::task::JoinError>>,
) {
    let mut sent = Vec::with_capacity(ended.len());
    let mut results = Vec::with_capacity(ended.len());
    for joined in ended {
        match joined {
            Ok((claimed, outcome, latency)) => {
                sent.push(claimed);
                results.push((outcome, latency));
            }
            Err(e) => {
                tracing::error!(error = %e, "a CibleR delivery task failed; its lease will expire")
            }
        }
    }
    let finished = sent
        .iter()
        .zip(results)
        .map(|(claimed, (outcome, latency))| (claimed, outcome, latency))
        .collect();
    shared.finish_all(finished).await;
}
