//! gewebe-feed's Prometheus metrics (HTTP metrics come from the platform stack).

use gewebe_platform::http::MetricsRegistry;
use prometheus_client::{
    metrics::{counter::Counter, gauge::Gauge, histogram::Histogram},
    registry::Unit,
};
use time::OffsetDateTime;

#[derive(Clone)]
pub struct FeedMetrics {
    open: Gauge,
    delivered: Counter,
    lagged: Counter,
    replays: Counter,
    resets: Counter,
    refused: Counter,
    latency: Histogram,
}

impl FeedMetrics {
    pub fn register(registry: &MetricsRegistry) -> Self {
        let this = Self {
            open: Gauge::default(),
            delivered: Counter::default(),
            lagged: Counter::default(),
            replays: Counter::default(),
            resets: Counter::default(),
            refused: Counter::default(),
            latency: Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                0.001, 2.0, 14,
            )),
        };
        registry.with(|r| {
            r.register(
                "feed_open_streams",
                "Streams open on this instance",
                this.open.clone(),
            );
            r.register(
                "feed_delivered_events",
                "Events handed to a client's socket",
                this.delivered.clone(),
            );
            r.register(
                "feed_lagged_disconnects",
                "Streams closed because their client read too slowly",
                this.lagged.clone(),
            );
            r.register(
                "feed_replays",
                "Streams that resumed from JetStream",
                this.replays.clone(),
            );
            r.register(
                "feed_resets",
                "Resume tokens too old to continue from: not in the stream, or beyond the replay horizon (the client got `reset`)",
                this.resets.clone(),
            );
            r.register(
                "feed_replays_refused",
                "Resumes that got `reset` instead of a replay: beyond the replay budget, or the budget or the forgotten list unreadable",
                this.refused.clone(),
            );
            r.register_with_unit(
                "feed_delivery_latency",
                "From the event's occurred_at to its hand-over to the client's socket",
                Unit::Seconds,
                this.latency.clone(),
            );
        });
        this
    }

    pub fn opened(&self) {
        self.open.inc();
    }
    pub fn closed(&self) {
        self.open.dec();
    }
    pub fn lagged(&self) {
        self.lagged.inc();
    }
    pub fn replayed(&self) {
        self.replays.inc();
    }
    pub fn reset(&self) {
        self.resets.inc();
    }
    pub fn refused(&self) {
        self.refused.inc();
    }
    pub fn delivered(&self, occurred_at: OffsetDateTime) {
        self.delivered.inc();
        let age = (OffsetDateTime::now_utc() - occurred_at).as_seconds_f64();
        self.latency.observe(age.max(0.0));
    }
}
