//! The CibleR worker: one request per order, up to `--cibler-concurrency` in flight.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinError;

use super::classify::{classify, Attempt};
use super::window::{Claimed, Requests, Task};
use super::{build, RequestEnd, Shared};
use crate::outbox::{ClaimedDelivery, Destination, Outcome};
use crate::vendors::CiblerClient;

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

/// One claimed order through the stages: build, send, classify, then its outcome (recorded
/// with the others that ended together, [`record`]). Returns it with its outcome and how long
/// the request took.
async fn deliver(
    shared: Shared,
    client: Arc<CiblerClient>,
    claimed: ClaimedDelivery,
) -> (ClaimedDelivery, Outcome, Duration) {
    let started = Instant::now();
    let attempt = send(&client, &claimed).await;
    let latency = started.elapsed();
    shared.record.observe(Destination::Cibler, &attempt).await;
    let outcome = shared
        .record
        .outcome(&claimed, attempt, latency, RequestEnd::now());
    (claimed, outcome, latency)
}

/// Builds the order's request and sends it; what the answer means.
async fn send(client: &CiblerClient, claimed: &ClaimedDelivery) -> Attempt {
    let checkout = match build::checkout(claimed) {
        Ok(checkout) => checkout,
        Err(not_sent) => return not_sent,
    };
    match build::cibler_order(&checkout, client.settings(), claimed.cookie_id.as_deref()) {
        Ok(order) => classify(client.send(&order).await),
        Err(not_sent) => not_sent,
    }
}

/// One request per order.
#[async_trait::async_trait]
impl Requests for CiblerWorker {
    type Ended = (ClaimedDelivery, Outcome, Duration);

    fn destination(&self) -> Destination {
        Destination::Cibler
    }

    /// `--cibler-concurrency`.
    fn places(&self) -> usize {
        self.shared.settings.cibler_concurrency.get() as usize
    }

    async fn claim(&self, free: usize, shutdown: &watch::Receiver<bool>) -> Claimed<Self::Ended> {
        let claims = &self.shared.claims;
        let claim = claims.allowed(Destination::Cibler, free as u32).await;
        let orders = claim.rows.len();
        let requests: Vec<Task<_>> = claims
            .unless_stopping(claim.rows, shutdown)
            .await
            .into_iter()
            .map(|row| Box::pin(deliver(self.shared.clone(), self.client.clone(), row)) as Task<_>)
            .collect();
        Claimed {
            filled: orders == free && !requests.is_empty(),
            requests,
            orders,
            probe: claim.probe,
        }
    }

    /// The outcomes of requests that ended together in one write, recorded while the next
    /// requests go out; their leases keep these orders from being claimed again until the
    /// outcomes are in.
    fn ended(&self, ended: Vec<Result<Self::Ended, JoinError>>) -> Option<Task<()>> {
        let shared = self.shared.clone();
        Some(Box::pin(async move { record(&shared, ended).await }))
    }
}

/// Records the outcomes of requests that ended; a task that failed is logged, and its order's
/// lease expires so that it is tried again.
async fn record(
    shared: &Shared,
    ended: Vec<Result<(ClaimedDelivery, Outcome, Duration), JoinError>>,
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
    shared.record.all(finished).await;
}
