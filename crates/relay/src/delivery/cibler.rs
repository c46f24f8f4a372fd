//! The CibleR worker: one request per order, a few in parallel.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ordersync_core::wire::checkout_from_json;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::{Jitter, Shared, Worker};
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
    let outcome = shared.outcome(&claimed, attempt, latency, Jitter::for_request());
    (claimed, outcome, latency)
}

#[async_trait::async_trait]
impl Worker for CiblerWorker {
    fn destination(&self) -> Destination {
        Destination::Cibler
    }

    async fn run_once(&self, shutdown: &watch::Receiver<bool>) -> usize {
        let (claimed, _probe) = self
            .shared
            .claim_allowed(Destination::Cibler, self.shared.settings.cibler_concurrency)
            .await;
        let count = claimed.len();
        if count > 0 && *shutdown.borrow() {
            // Claimed as the stop came: hand them back unsent for the next start.
            self.shared.release(&claimed).await;
            return count;
        }
        // In-flight requests are awaited even during shutdown: each ends within the vendor
        // timeout, and finishing beats sending the order a second time after a restart.
        let mut tasks = JoinSet::new();
        for row in claimed {
            tasks.spawn(deliver(self.shared.clone(), self.client.clone(), row));
        }
        let mut round = Vec::with_capacity(count);
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(finished) => round.push(finished),
                Err(e) => {
                    tracing::error!(error = %e, "a CibleR delivery task failed; its lease will expire")
                }
            }
        }
        // The round's outcomes in one write: the requests run in parallel, so the last answer
        // comes about when the first would have been recorded alone plus one request's time.
        let (sent, results): (Vec<ClaimedDelivery>, Vec<(Outcome, Duration)>) = round
            .into_iter()
            .map(|(claimed, outcome, latency)| (claimed, (outcome, latency)))
            .unzip();
        let finished = sent
            .iter()
            .zip(results)
            .map(|(claimed, (outcome, latency))| (claimed, outcome, latency))
            .collect();
        self.shared.finish_all(finished).await;
        count
    }
}
