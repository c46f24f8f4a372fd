//! The CibleR worker: one request per order, a few in parallel.

use std::sync::Arc;
use std::time::Instant;

use ordersync_core::wire::checkout_from_json;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::{Shared, Worker};
use crate::outbox::{ClaimedDelivery, Destination};
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

/// Sends one claimed order and records what happened.
async fn deliver(shared: Shared, client: Arc<CiblerClient>, claimed: ClaimedDelivery) {
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
    let outcome = shared.outcome(&claimed, attempt, latency);
    shared.finish(&claimed, outcome, latency).await;
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
        while let Some(joined) = tasks.join_next().await {
            if let Err(e) = joined {
                tracing::error!(error = %e, "a CibleR delivery task failed; its lease will expire");
            }
        }
        count
    }
}
