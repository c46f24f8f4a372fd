//! The CibleR worker: one request per order, up to `--cibler-concurrency` in flight.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ordersync_core::wire::checkout_from_json;
use tokio::sync::watch;
use tokio::task::JoinError;

use super::window::{Claimed, Requests, Task};
use super::{RequestEnd, Shared};
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
        Err(e) => Attempt::NotSent {
            reason: format!("stored checkout unreadable: {e}"),
        },
    };
    let latency = started.elapsed();
    shared.observe(Destination::Cibler, &attempt).await;
    let outcome = shared.outcome(&claimed, attempt, latency, RequestEnd::now());
    (claimed, outcome, latency)
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
        let (claimed, probe) = self
            .shared
            .claim_allowed(Destination::Cibler, free as u32)
            .await;
        let orders = claimed.len();
        let requests: Vec<Task<_>> = self
            .shared
            .unless_stopping(claimed, shutdown)
            .await
            .into_iter()
            .map(|row| Box::pin(deliver(self.shared.clone(), self.client.clone(), row)) as Task<_>)
            .collect();
        Claimed {
            filled: orders == free && !requests.is_empty(),
            requests,
            orders,
            probe,
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
    shared.finish_all(finished).await;
}
