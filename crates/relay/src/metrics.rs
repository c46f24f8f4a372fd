//! Prometheus metrics. Labels are fixed, low-cardinality words (destination, outcome, reason):
//! never an order id, an email, a key or a secret.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::outbox::{DeliveryState, DepthRow, Destination};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DestinationLabel {
    destination: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    destination: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    destination: String,
    state: String,
}

fn latency_histogram() -> Histogram {
    // 5 ms .. ~41 s.
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// Every metric the relay exports.
pub struct Metrics {
    registry: Registry,
    accepted: Counter,
    duplicates: Counter,
    rejected: Family<ReasonLabel, Counter>,
    deliveries: Family<OutcomeLabels, Counter>,
    retries: Family<DestinationLabel, Counter>,
    queue_depth: Family<StateLabels, Gauge>,
    latency: Family<DestinationLabel, Histogram, fn() -> Histogram>,
    circuit_open: Family<DestinationLabel, Gauge>,
    retention: RetentionMetrics,
}

/// What retention exports ([`crate::retention`]).
#[derive(Default)]
struct RetentionMetrics {
    remembered: Counter,
    pruned: Counter,
    forgotten: Counter,
    outbox_bytes: Gauge,
}

impl RetentionMetrics {
    fn register(&self, registry: &mut Registry) {
        registry.register(
            "ordersync_checkouts_remembered",
            "Hand-offs of an order delivered and pruned earlier, whose id the relay remembers (answered 200, not stored, not sent again)",
            self.remembered.clone(),
        );
        registry.register(
            "ordersync_orders_pruned",
            "Finished orders removed at the retention (their order ids remembered)",
            self.pruned.clone(),
        );
        registry.register(
            "ordersync_order_ids_forgotten",
            "Order ids of pruned orders forgotten at the order id memory",
            self.forgotten.clone(),
        );
        registry.register(
            "ordersync_outbox_size_bytes",
            "Bytes the outbox takes on disk (SQLite: the file and its WAL; PostgreSQL: the relay's tables with their indexes)",
            self.outbox_bytes.clone(),
        );
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let accepted = Counter::default();
        let duplicates = Counter::default();
        let rejected = Family::<ReasonLabel, Counter>::default();
        let deliveries = Family::<OutcomeLabels, Counter>::default();
        let retries = Family::<DestinationLabel, Counter>::default();
        let queue_depth = Family::<StateLabels, Gauge>::default();
        let circuit_open = Family::<DestinationLabel, Gauge>::default();
        let latency =
            Family::<DestinationLabel, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
        registry.register(
            "ordersync_checkouts_accepted",
            "Checkouts stored durably (answered 202)",
            accepted.clone(),
        );
        registry.register(
            "ordersync_checkouts_duplicate",
            "Hand-offs of an order already stored (answered 200)",
            duplicates.clone(),
        );
        registry.register(
            "ordersync_checkouts_rejected",
            "Hand-offs refused, by reason",
            rejected.clone(),
        );
        registry.register(
            "ordersync_deliveries",
            "Delivery attempts by destination and outcome (delivered, retry, dead)",
            deliveries.clone(),
        );
        registry.register(
            "ordersync_delivery_retries",
            "Attempts that failed and were scheduled again",
            retries.clone(),
        );
        registry.register(
            "ordersync_queue_depth",
            "Outbox rows by destination and state",
            queue_depth.clone(),
        );
        registry.register(
            "ordersync_delivery_latency_seconds",
            "Duration of one vendor request",
            latency.clone(),
        );
        registry.register(
            "ordersync_circuit_open",
            "1 while a destination's circuit is open (its vendor kept failing: one probe at a time)",
            circuit_open.clone(),
        );
        let retention = RetentionMetrics::default();
        retention.register(&mut registry);
        for destination in Destination::ALL {
            // Present (0) from the start, so a dashboard sees the series before any outage.
            circuit_open
                .get_or_create(&DestinationLabel {
                    destination: destination.as_str().to_owned(),
                })
                .set(0);
        }
        Self {
            registry,
            accepted,
            duplicates,
            rejected,
            deliveries,
            retries,
            queue_depth,
            latency,
            circuit_open,
            retention,
        }
    }

    pub fn accepted(&self) {
        self.accepted.inc();
    }

    pub fn duplicate(&self) {
        self.duplicates.inc();
    }

    pub fn rejected(&self, reason: &str) {
        self.rejected
            .get_or_create(&ReasonLabel {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// One attempt's outcome: `delivered`, `retry` or `dead`.
    pub fn delivery(&self, destination: Destination, outcome: &str, latency: Duration) {
        self.deliveries
            .get_or_create(&OutcomeLabels {
                destination: destination.as_str().to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
        if outcome == "retry" {
            self.retries
                .get_or_create(&DestinationLabel {
                    destination: destination.as_str().to_owned(),
                })
                .inc();
        }
        self.latency
            .get_or_create(&DestinationLabel {
                destination: destination.as_str().to_owned(),
            })
            .observe(latency.as_secs_f64());
    }

    /// Sets the queue-depth gauges from a fresh count (every state, zero when absent).
    pub fn set_circuit_open(&self, destination: Destination, open: bool) {
        self.circuit_open
            .get_or_create(&DestinationLabel {
                destination: destination.as_str().to_owned(),
            })
            .set(i64::from(open));
    }

    /// Whether `destination`'s circuit is open in this relay (the operators' console).
    pub fn circuit_open(&self, destination: Destination) -> bool {
        self.circuit_open
            .get_or_create(&DestinationLabel {
                destination: destination.as_str().to_owned(),
            })
            .get()
            != 0
    }

    pub fn set_depth(&self, rows: &[DepthRow]) {
        for destination in Destination::ALL {
            for state in DeliveryState::ALL {
                let count = rows
                    .iter()
                    .find(|r| r.destination == destination && r.state == state)
                    .map_or(0, |r| r.count);
                self.queue_depth
                    .get_or_create(&StateLabels {
                        destination: destination.as_str().to_owned(),
                        state: state.as_str().to_owned(),
                    })
                    .set(i64::try_from(count).unwrap_or(i64::MAX));
            }
        }
    }

    /// A hand-off of an order pruned earlier, still remembered.
    pub fn remembered(&self) {
        self.retention.remembered.inc();
    }

    pub fn pruned(&self, orders: u64) {
        self.retention.pruned.inc_by(orders);
    }

    pub fn forgotten(&self, order_ids: u64) {
        self.retention.forgotten.inc_by(order_ids);
    }

    pub fn set_outbox_size(&self, bytes: u64) {
        self.retention
            .outbox_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing metrics to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_circuit_reads_as_it_was_last_set() {
        let m = Metrics::new();
        assert!(!m.circuit_open(Destination::Citrusad));
        m.set_circuit_open(Destination::Citrusad, true);
        assert!(m.circuit_open(Destination::Citrusad));
        assert!(!m.circuit_open(Destination::Cibler));
        m.set_circuit_open(Destination::Citrusad, false);
        assert!(!m.circuit_open(Destination::Citrusad));
    }

    #[test]
    fn renders_every_family_with_its_labels() {
        let m = Metrics::new();
        m.accepted();
        m.duplicate();
        m.rejected("forged_signature");
        m.delivery(Destination::Citrusad, "retry", Duration::from_millis(12));
        m.set_depth(&[DepthRow {
            destination: Destination::Cibler,
            state: DeliveryState::Pending,
            count: 3,
        }]);
        m.remembered();
        m.pruned(5);
        m.forgotten(2);
        m.set_outbox_size(8192);
        let text = m.render();
        for needle in [
            "ordersync_checkouts_accepted_total 1",
            "ordersync_checkouts_duplicate_total 1",
            "ordersync_checkouts_rejected_total{reason=\"forged_signature\"} 1",
            "ordersync_deliveries_total{destination=\"citrusad\",outcome=\"retry\"} 1",
            "ordersync_delivery_retries_total{destination=\"citrusad\"} 1",
            "ordersync_queue_depth{destination=\"cibler\",state=\"pending\"} 3",
            "ordersync_queue_depth{destination=\"citrusad\",state=\"dead\"} 0",
            "ordersync_delivery_latency_seconds_count{destination=\"citrusad\"} 1",
            "ordersync_checkouts_remembered_total 1",
            "ordersync_orders_pruned_total 5",
            "ordersync_order_ids_forgotten_total 2",
            "ordersync_outbox_size_bytes 8192",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
    }
}
