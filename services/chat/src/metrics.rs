//! gewebe-chat's Prometheus metrics (HTTP metrics come from the platform stack).

use gewebe_platform::http::MetricsRegistry;
use prometheus_client::metrics::{counter::Counter, gauge::Gauge};

#[derive(Clone, Default)]
pub struct ChatMetrics {
    pub connections: Gauge,
    pub rooms: Gauge,
    pub sent: Counter,
    pub delivered: Counter,
    pub rate_limited: Counter,
    pub gaps_filled: Counter,
    pub gaps_skipped: Counter,
    pub live_publish_failures: Counter,
    pub slow_disconnects: Counter,
}

impl ChatMetrics {
    pub fn register(registry: &MetricsRegistry) -> Self {
        let this = Self::default();
        registry.with(|r| {
            r.register(
                "chat_connections",
                "WebSocket connections open on this instance",
                this.connections.clone(),
            );
            r.register(
                "chat_rooms",
                "Rooms with subscribers on this instance",
                this.rooms.clone(),
            );
            r.register(
                "chat_messages_sent",
                "Messages accepted by this instance",
                this.sent.clone(),
            );
            r.register(
                "chat_messages_delivered",
                "Message frames queued for a subscriber",
                this.delivered.clone(),
            );
            r.register(
                "chat_frames_rate_limited",
                "Client frames refused by the per-connection bucket",
                this.rate_limited.clone(),
            );
            r.register(
                "chat_live_gaps_filled",
                "Missing messages read from PostgreSQL for live delivery",
                this.gaps_filled.clone(),
            );
            r.register(
                "chat_live_gaps_skipped",
                "Gaps delivered across because PostgreSQL could not fill them",
                this.gaps_skipped.clone(),
            );
            r.register(
                "chat_slow_disconnects",
                "Connections closed because the client read too slowly (4003)",
                this.slow_disconnects.clone(),
            );
            r.register(
                "chat_live_publish_failures",
                "Live publications core NATS refused (the event stream repairs them)",
                this.live_publish_failures.clone(),
            );
        });
        this
    }
}
