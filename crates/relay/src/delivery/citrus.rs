//! The CitrusAd worker: batches of up to 100 orders per `POST /v1/orders`, filled from the
//! outbox with a short linger, each order's answer mapped back by position (CitrusAd answers
//! in the order it was sent).
//!
//! One bad order must not sink 99 good ones: when a batch of several is refused with 400 or
//! 422, each order is sent again on its own, so only the bad one goes dead.
//!
//! Up to `--citrus-concurrency` batches (default 1) are in flight at once
//! ([`super::window`]): with more than one, against a vendor whose answers are sometimes slow,
//! a batch holding one slow order no longer holds back every batch after it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ordersync_core::wire::{checkout_from_json, CitrusOrder};
use ordersync_core::Checkout;
use reqwest::StatusCode;
use tokio::sync::watch;
use tokio::task::JoinError;

use super::window::{Claimed, Requests, Task};
use super::{RequestEnd, Shared};
use crate::clock;
use crate::outbox::{ClaimedDelivery, Destination};
use crate::vendors::citrus::BatchAttempt;
use crate::vendors::{Attempt, CitrusClient};

/// Cloned into each batch's task (the client and the shared parts are reference-counted).
#[derive(Clone)]
pub struct CitrusWorker {
    shared: Shared,
    client: Arc<CitrusClient>,
}

/// A claimed row with its checkout read back.
struct Ready {
    claimed: ClaimedDelivery,
    checkout: Checkout,
}

impl CitrusWorker {
    pub fn new(shared: Shared, client: CitrusClient) -> Self {
        Self {
            shared,
            client: Arc::new(client),
        }
    }

    /// Claims a batch: whatever is due now, plus what arrives during the linger. True with a
    /// circuit's probe (one order, no linger).
    async fn claim_batch(&self, shutdown: &watch::Receiver<bool>) -> (Vec<ClaimedDelivery>, bool) {
        let size = self.shared.settings.citrus_batch_size.get();
        let (mut claimed, probe) = self.shared.claim_allowed(Destination::Citrusad, size).await;
        let linger = self.shared.settings.batch_linger;
        if probe || claimed.is_empty() || claimed.len() as u32 >= size || linger.is_zero() {
            return (claimed, probe);
        }
        let mut shutdown = shutdown.clone();
        tokio::select! {
            _ = tokio::time::sleep(linger) => {}
            _ = shutdown.changed() => {}
        }
        let more = size - claimed.len() as u32;
        claimed.extend(self.shared.claim(Destination::Citrusad, more).await);
        (claimed, probe)
    }

    /// Reads each claimed order's checkout back, then sends the batch and records every
    /// outcome. An unreadable checkout (only a hand-edited database gets one) goes dead.
    async fn send_claimed(&self, claimed: Vec<ClaimedDelivery>) {
        let mut batch = Vec::with_capacity(claimed.len());
        for row in claimed {
            match checkout_from_json(&row.checkout_json) {
                Ok(checkout) => batch.push(Ready {
                    claimed: row,
                    checkout,
                }),
                Err(e) => {
                    let attempt = Attempt::NotSent {
                        reason: format!("stored checkout unreadable: {e}"),
                    };
                    self.finish(&row, attempt, Duration::ZERO).await;
                }
            }
        }
        self.deliver(batch).await;
    }

    /// Sends `batch` and records each order's outcome.
    async fn deliver(&self, batch: Vec<Ready>) {
        let now = clock::now_rfc3339();
        let mut sendable = Vec::with_capacity(batch.len());
        for ready in batch {
            match CitrusOrder::new(&ready.checkout, &self.client.settings().order, &now) {
                Ok(_) => sendable.push(ready),
                Err(e) => {
                    // Acceptance refuses these; only a changed configuration gets here.
                    let attempt = Attempt::NotSent {
                        reason: format!("not sent: {e}"),
                    };
                    self.finish(&ready.claimed, attempt, Duration::ZERO).await;
                }
            }
        }
        if sendable.is_empty() {
            return;
        }
        let started = Instant::now();
        let answer = self.send(&sendable, &now).await;
        let latency = started.elapsed();
        let splittable = matches!(
            answer.attempt,
            Attempt::Rejected { status, .. }
                if sendable.len() > 1
                    && (status == StatusCode::BAD_REQUEST.as_u16()
                        || status == StatusCode::UNPROCESSABLE_ENTITY.as_u16())
        );
        if splittable {
            tracing::warn!(
                orders = sendable.len(),
                "CitrusAd refused a batch; sending its orders one by one to find the bad ones"
            );
            for ready in sendable {
                let started = Instant::now();
                let single = self.send(std::slice::from_ref(&ready), &now).await;
                self.map_back(vec![ready], single, started.elapsed()).await;
            }
            return;
        }
        self.map_back(sendable, answer, latency).await;
    }

    /// One request to CitrusAd; its result also feeds the destination's circuit.
    async fn send(&self, batch: &[Ready], now: &str) -> BatchAttempt {
        let orders = batch
            .iter()
            .filter_map(|r| CitrusOrder::new(&r.checkout, &self.client.settings().order, now).ok())
            .collect();
        let answer = self.client.send_batch(orders).await;
        self.shared
            .observe(Destination::Citrusad, &answer.attempt)
            .await;
        answer
    }

    /// Gives each order of a batch its own outcome from the batch's answer.
    async fn map_back(&self, batch: Vec<Ready>, answer: BatchAttempt, latency: Duration) {
        let BatchAttempt {
            attempt,
            answered_orders,
        } = answer;
        // The batch was one request: its orders retry together (see [`RequestEnd`]).
        let ended = RequestEnd::now();
        let mut finished = Vec::with_capacity(batch.len());
        for (index, ready) in batch.iter().enumerate() {
            let own = match (&attempt, &answered_orders) {
                (Attempt::Delivered { status, .. }, Some(entries)) => {
                    per_order_answer(*status, entries.get(index), &ready.claimed.order_id)
                }
                (other, _) => other.clone(),
            };
            let outcome = self.shared.outcome(&ready.claimed, own, latency, ended);
            finished.push((&ready.claimed, outcome, latency));
        }
        // One transaction for the whole batch.
        self.shared.finish_all(finished).await;
    }

    /// An order that ends without a request (refused before sending).
    async fn finish(&self, claimed: &ClaimedDelivery, attempt: Attempt, latency: Duration) {
        self.shared.observe(Destination::Citrusad, &attempt).await;
        let outcome = self
            .shared
            .outcome(claimed, attempt, latency, RequestEnd::now());
        self.shared.finish(claimed, outcome, latency).await;
    }
}

/// One order's share of a 2xx batch answer: its entry (by position) when CitrusAd returned
/// one; a missing entry means CitrusAd did not confirm this order, so it is tried again.
fn per_order_answer(status: u16, entry: Option<&serde_json::Value>, order_id: &str) -> Attempt {
    match entry {
        Some(entry) => {
            let echoed = entry.get("id").and_then(|id| id.as_str());
            if echoed.is_some_and(|id| id != order_id) {
                tracing::warn!(
                    order_id,
                    echoed_id = echoed,
                    "CitrusAd's answer at this position carries another id"
                );
            }
            Attempt::Delivered {
                status,
                body: entry.to_string(),
            }
        }
        None => Attempt::Retryable {
            error: "CitrusAd's answer did not include this order".into(),
            status: Some(status),
            retry_after: None,
        },
    }
}

/// One request per batch; each batch records its own outcomes (one write for the batch).
#[async_trait::async_trait]
impl Requests for CitrusWorker {
    type Ended = ();

    fn destination(&self) -> Destination {
        Destination::Citrusad
    }

    /// `--citrus-concurrency`.
    fn places(&self) -> usize {
        self.shared.settings.citrus_concurrency.get() as usize
    }

    /// One batch per claim, whatever the free places: a claim that fills its batch says more
    /// may be due, and the next free place takes the next batch.
    async fn claim(&self, _free: usize, shutdown: &watch::Receiver<bool>) -> Claimed<()> {
        let (claimed, probe) = self.claim_batch(shutdown).await;
        let orders = claimed.len();
        let full = orders == self.shared.settings.citrus_batch_size.get() as usize;
        let sendable = self.shared.unless_stopping(claimed, shutdown).await;
        let requests: Vec<Task<()>> = if sendable.is_empty() {
            Vec::new()
        } else {
            let worker = self.clone();
            vec![Box::pin(async move { worker.send_claimed(sendable).await })]
        };
        Claimed {
            filled: full && !requests.is_empty(),
            requests,
            orders,
            probe,
        }
    }

    fn ended(&self, ended: Vec<Result<(), JoinError>>) -> Option<Task<()>> {
        for failed in ended.iter().filter_map(|e| e.as_ref().err()) {
            tracing::error!(
                error = %failed,
                "a CitrusAd batch task failed; its leases will expire"
            );
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_map_back_by_position() {
        let entry = serde_json::json!({"id": "A"});
        assert!(matches!(
            per_order_answer(200, Some(&entry), "A"),
            Attempt::Delivered { status: 200, body } if body == r#"{"id":"A"}"#
        ));
        // Another id at this position is kept and logged, not refused: the seed's own
        // multi-order example echoes one id twice.
        assert!(matches!(
            per_order_answer(200, Some(&entry), "B"),
            Attempt::Delivered { .. }
        ));
        assert!(matches!(
            per_order_answer(200, None, "B"),
            Attempt::Retryable { .. }
        ));
    }
}
