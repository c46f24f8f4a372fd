//! The CitrusAd worker: batches of up to 100 orders per `POST /v1/orders`, filled from the
//! outbox with a short linger, each order's answer mapped back by position (CitrusAd answers
//! in the order it was sent; [`super::classify::each_order`]).
//!
//! One bad order must not sink 99 good ones: when a batch of several is refused with 400 or
//! 422, each order is sent again on its own, so only the bad one goes dead.
//!
//! Up to `--citrus-concurrency` batches (default 1) are in flight at once
//! ([`super::window`]): with more than one, against a vendor whose answers are sometimes slow,
//! a batch holding one slow order no longer holds back every batch after it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::sync::watch;
use tokio::task::JoinError;

use super::build::{self, Ready};
use super::classify::{classify_batch, each_order, Attempt, BatchAttempt};
use super::window::{Claimed, Requests, Task};
use super::{RequestEnd, Shared};
use crate::clock;
use crate::outbox::{ClaimedDelivery, Destination};
use crate::vendors::CitrusClient;

/// Cloned into each batch's task (the client and the shared parts are reference-counted).
#[derive(Clone)]
pub struct CitrusWorker {
    shared: Shared,
    client: Arc<CitrusClient>,
}

impl CitrusWorker {
    pub fn new(shared: Shared, client: CitrusClient) -> Self {
        Self {
            shared,
            client: Arc::new(client),
        }
    }

    /// A claimed batch through the stages: build each order (those that cannot be built are
    /// recorded as never sent), send the rest as one request, classify the answer per order,
    /// record every outcome.
    async fn deliver(&self, claimed: Vec<ClaimedDelivery>) {
        let now = clock::now_rfc3339();
        let (batch, not_sent) = build::citrus_batch(claimed, self.client.settings(), &now);
        if !not_sent.is_empty() {
            let ended = RequestEnd::now();
            let mut finished = Vec::with_capacity(not_sent.len());
            for (row, attempt) in &not_sent {
                self.shared
                    .record
                    .observe(Destination::Citrusad, attempt)
                    .await;
                let outcome =
                    self.shared
                        .record
                        .outcome(row, attempt.clone(), Duration::ZERO, ended);
                finished.push((row, outcome, Duration::ZERO));
            }
            self.shared.record.all(finished).await;
        }
        if batch.is_empty() {
            return;
        }
        let started = Instant::now();
        let answer = self.send(&batch, &now).await;
        let latency = started.elapsed();
        let splittable = matches!(
            answer.attempt,
            Attempt::Rejected { status, .. }
                if batch.len() > 1
                    && (status == StatusCode::BAD_REQUEST.as_u16()
                        || status == StatusCode::UNPROCESSABLE_ENTITY.as_u16())
        );
        if splittable {
            tracing::warn!(
                orders = batch.len(),
                "CitrusAd refused a batch; sending its orders one by one to find the bad ones"
            );
            for ready in batch {
                let started = Instant::now();
                let single = self.send(std::slice::from_ref(&ready), &now).await;
                self.record(vec![ready], single, started.elapsed()).await;
            }
            return;
        }
        self.record(batch, answer, latency).await;
    }

    /// One request to CitrusAd, classified; its result also feeds the destination's circuit.
    async fn send(&self, batch: &[Ready], now: &str) -> BatchAttempt {
        let orders = build::citrus_orders(batch, self.client.settings(), now);
        let answer = classify_batch(self.client.send_batch(orders).await);
        self.shared
            .record
            .observe(Destination::Citrusad, &answer.attempt)
            .await;
        answer
    }

    /// Gives each order of a batch its own outcome from the batch's answer, and records them
    /// in one write.
    async fn record(&self, batch: Vec<Ready>, answer: BatchAttempt, latency: Duration) {
        // The batch was one request: its orders retry together (see [`RequestEnd`]).
        let ended = RequestEnd::now();
        let ids = batch.iter().map(|ready| ready.claimed.order_id.as_str());
        let finished = batch
            .iter()
            .zip(each_order(&answer, ids))
            .map(|(ready, own)| {
                let outcome = self
                    .shared
                    .record
                    .outcome(&ready.claimed, own, latency, ended);
                (&ready.claimed, outcome, latency)
            })
            .collect();
        self.shared.record.all(finished).await;
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
        let settings = &self.shared.settings;
        let size = settings.citrus_batch_size.get();
        let claims = &self.shared.claims;
        let claim = claims
            .batch(Destination::Citrusad, size, settings.batch_linger, shutdown)
            .await;
        let orders = claim.rows.len();
        let full = orders == size as usize;
        let sendable = claims.unless_stopping(claim.rows, shutdown).await;
        let requests: Vec<Task<()>> = if sendable.is_empty() {
            Vec::new()
        } else {
            let worker = self.clone();
            vec![Box::pin(async move { worker.deliver(sendable).await })]
        };
        Claimed {
            filled: full && !requests.is_empty(),
            requests,
            orders,
            probe: claim.probe,
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
