//! The pruner: keeps the outbox small for months. On a modest interval it removes the orders
//! finished longer ago than the retention, forgets the order ids remembered longer than the
//! order id memory, and gives the space freed back to the filesystem, each in small steps with
//! a pause between them, so that hand-offs keep their latency while it runs (BENCHMARKS.md,
//! "Retention").
//!
//! Three lifetimes, one design (crates/relay/README.md, "Retention"): a finished order's
//! details are kept for `--retention` (30 days: enough to answer a shop or a vendor asking
//! about a recent order); its order id for `--order-id-memory` from acceptance (400 days: longer
//! than a year, so a re-import of a year of orders, an old order signed again, a browser's
//! queued hand-off or a late token replay is answered as a repeat and never delivered twice);
//! waiting and dead orders until they are delivered, retried or discarded.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clock;
use crate::config::RetentionSettings;
use crate::metrics::Metrics;
use crate::outbox::{Batch, Outbox, StorageError};

/// Orders removed (or order ids forgotten) per step. A step is one short transaction; on
/// SQLite it runs on the writer thread between two groups of hand-offs, which wait for it. On
/// the shared tables a pruned order is four row changes (its two deliveries deleted, its
/// checkout replaced by its memory): with a million orders to prune and hand-offs arriving at
/// 1,950/s, steps of 64 raised their p99 to 14.2 ms (3.4 without pruning), so steps are of 32
/// (BENCHMARKS.md, "Retention").
pub const STEP_ROWS: u32 = 32;

/// Free pages handed back to the filesystem per step (SQLite): 1 MB with 4 KB pages.
pub const STEP_PAGES: u32 = 256;

/// Pause between two steps: hand-offs arriving meanwhile are stored first.
pub const STEP_PAUSE: Duration = Duration::from_millis(20);

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    pub pruned: u64,
    pub forgotten: u64,
    /// Free pages left in the file after the pass (SQLite; 0 on PostgreSQL).
    pub free_pages: u64,
}

/// The background pruner of one relay process.
pub struct Pruner {
    outbox: Arc<dyn Outbox>,
    metrics: Arc<Metrics>,
    settings: RetentionSettings,
}

impl Pruner {
    pub fn new(
        outbox: Arc<dyn Outbox>,
        metrics: Arc<Metrics>,
        settings: RetentionSettings,
    ) -> Self {
        Pruner {
            outbox,
            metrics,
            settings,
        }
    }

    /// Runs a pass at once and then every prune interval, until `shutdown` turns true.
    pub fn spawn(self, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(async move {
            tracing::info!(
                retention_s = self.settings.retention.as_secs(),
                order_id_memory_s = self.settings.order_id_memory.as_secs(),
                "pruner started"
            );
            while !*shutdown.borrow() {
                match self.pass(&shutdown).await {
                    Ok(pass) if pass.pruned + pass.forgotten > 0 => tracing::info!(
                        pruned = pass.pruned,
                        forgotten = pass.forgotten,
                        free_pages = pass.free_pages,
                        "pruned finished orders"
                    ),
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(%error, "pruning failed; the next pass tries again")
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(self.settings.prune_interval) => {}
                    _ = shutdown.changed() => {}
                }
            }
        })
    }

    /// One pass: prune, forget, reclaim, each in steps, stopping early at shutdown.
    pub async fn pass(&self, shutdown: &watch::Receiver<bool>) -> Result<Pass, StorageError> {
        let now = clock::now_ms();
        let finished_before = now.saturating_sub(millis(self.settings.retention));
        let forget_before = now.saturating_sub(millis(self.settings.order_id_memory));
        let mut pass = Pass::default();
        loop {
            let step = self
                .outbox
                .prune_finished(finished_before, STEP_ROWS, clock::now_ms())
                .await?;
            pass.pruned += step.removed;
            self.metrics.pruned(step.removed);
            if !self.another_step(step, shutdown).await {
                break;
            }
        }
        loop {
            let step = self.outbox.forget_pruned(forget_before, STEP_ROWS).await?;
            pass.forgotten += step.removed;
            self.metrics.forgotten(step.removed);
            if !self.another_step(step, shutdown).await {
                break;
            }
        }
        let mut free_before = u64::MAX;
        loop {
            pass.free_pages = self.outbox.reclaim_space(STEP_PAGES).await?;
            // Stops once nothing is free, or a step freed nothing (never loops on a file that
            // keeps its free pages).
            let step = Batch {
                removed: free_before.saturating_sub(pass.free_pages),
                more: pass.free_pages > 0 && pass.free_pages < free_before,
            };
            free_before = pass.free_pages;
            if !self.another_step(step, shutdown).await {
                break;
            }
        }
        Ok(pass)
    }

    /// Whether to run another step after `step`: more is waiting and the relay is not
    /// stopping. Pauses first, so hand-offs go between the steps.
    async fn another_step(&self, step: Batch, shutdown: &watch::Receiver<bool>) -> bool {
        if !step.more || *shutdown.borrow() {
            return false;
        }
        tokio::time::sleep(STEP_PAUSE).await;
        !*shutdown.borrow()
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
