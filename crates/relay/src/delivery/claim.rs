//! The *claim* stage: due rows taken from the outbox under this process's lease, as many as
//! the destination's circuit permits (one as a probe while it is open), and handed back
//! unsent when the relay is stopping.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::circuit::{Circuits, Permit};
use crate::clock;
use crate::outbox::{ClaimedDelivery, Destination, Outbox};

/// What a claim took.
pub struct Claim {
    pub rows: Vec<ClaimedDelivery>,
    /// The rows are a circuit's probe (one order).
    pub probe: bool,
}

/// Claims rows for one process: its lease owner and lease duration, and the circuits that say
/// how much to claim.
#[derive(Clone)]
pub struct Claims {
    pub(super) outbox: Arc<dyn Outbox>,
    pub(super) lease_owner: String,
    pub(super) lease_duration: Duration,
    pub(super) circuits: Circuits,
}

impl Claims {
    /// Claims what `destination`'s circuit allows: up to `limit` rows when closed, one as a
    /// probe when open and its wait is over, none otherwise.
    pub async fn allowed(&self, destination: Destination, limit: u32) -> Claim {
        let circuit = self.circuits.of(destination);
        match circuit.permit(Instant::now()) {
            Permit::Full => Claim {
                rows: self.due(destination, limit).await,
                probe: false,
            },
            Permit::Wait => Claim {
                rows: Vec::new(),
                probe: false,
            },
            Permit::Probe => {
                let rows = self.probe(destination).await;
                if rows.is_empty() {
                    circuit.probe_unused(Instant::now());
                }
                Claim { rows, probe: true }
            }
        }
    }

    /// Claims a batch: what the circuit allows now (up to `size`), plus what becomes due
    /// during `linger` when the batch is not full. A probe is one order, without linger.
    pub async fn batch(
        &self,
        destination: Destination,
        size: u32,
        linger: Duration,
        shutdown: &watch::Receiver<bool>,
    ) -> Claim {
        let mut claim = self.allowed(destination, size).await;
        let claimed = claim.rows.len() as u32;
        if claim.probe || claimed == 0 || claimed >= size || linger.is_zero() {
            return claim;
        }
        let mut shutdown = shutdown.clone();
        tokio::select! {
            _ = tokio::time::sleep(linger) => {}
            _ = shutdown.changed() => {}
        }
        claim
            .rows
            .extend(self.due(destination, size - claimed).await);
        claim
    }

    /// Claims due rows; storage errors are logged and read as "nothing due".
    async fn due(&self, destination: Destination, limit: u32) -> Vec<ClaimedDelivery> {
        match self
            .outbox
            .claim_due(
                destination,
                limit,
                &self.lease_owner,
                self.lease_duration,
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
    async fn probe(&self, destination: Destination) -> Vec<ClaimedDelivery> {
        match self
            .outbox
            .claim_probe(
                destination,
                &self.lease_owner,
                self.lease_duration,
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
    pub async fn unless_stopping(
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
