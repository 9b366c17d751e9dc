//! The relay's Prometheus metrics.

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Unit,
};
use std::sync::atomic::AtomicU64;

use gewebe_platform::http::MetricsRegistry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SchemaLabel {
    pub schema: String,
}

#[derive(Clone)]
pub struct RelayMetrics {
    pub pending: Family<SchemaLabel, Gauge>,
    pub oldest_pending_age: Family<SchemaLabel, Gauge<f64, AtomicU64>>,
    pub published: Family<SchemaLabel, Counter>,
    pub publish_errors: Counter,
    pub quarantined: Family<SchemaLabel, Counter>,
    pub batch_duration: Histogram,
    pub leader: Gauge,
    pub pruned: Counter,
}

impl RelayMetrics {
    pub fn register(registry: &MetricsRegistry) -> Self {
        let this = Self {
            pending: Family::default(),
            oldest_pending_age: Family::default(),
            published: Family::default(),
            publish_errors: Counter::default(),
            quarantined: Family::default(),
            batch_duration: Histogram::new(
                prometheus_client::metrics::histogram::exponential_buckets(0.0005, 2.0, 14),
            ),
            leader: Gauge::default(),
            pruned: Counter::default(),
        };
        registry.with(|r| {
            r.register(
                "relay_pending_events",
                "Outbox rows not yet published",
                this.pending.clone(),
            );
            r.register_with_unit(
                "relay_oldest_pending_age",
                "Age of the oldest unpublished outbox row",
                Unit::Seconds,
                this.oldest_pending_age.clone(),
            );
            r.register(
                "relay_published_events",
                "Events acknowledged by JetStream",
                this.published.clone(),
            );
            r.register(
                "relay_publish_errors",
                "Failed publish attempts (rows stay pending)",
                this.publish_errors.clone(),
            );
            r.register(
                "relay_quarantined_events",
                "Rows moved to the quarantine table",
                this.quarantined.clone(),
            );
            r.register_with_unit(
                "relay_batch_duration",
                "Read, publish, ack and mark of one batch",
                Unit::Seconds,
                this.batch_duration.clone(),
            );
            r.register(
                "relay_leader",
                "1 while this instance holds the relay lock",
                this.leader.clone(),
            );
            r.register(
                "relay_pruned_events",
                "Published rows deleted after the retention window",
                this.pruned.clone(),
            );
        });
        this
    }

    pub fn label(schema: &str) -> SchemaLabel {
        SchemaLabel {
            schema: schema.to_owned(),
        }
    }
}
