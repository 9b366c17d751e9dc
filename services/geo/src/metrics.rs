//! gewebe-geo's own Prometheus metrics (HTTP metrics come from the platform stack).

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family},
};

use gewebe_platform::http::MetricsRegistry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabel {
    pub event_type: String,
    pub result: &'static str,
}

#[derive(Clone, Default)]
pub struct GeoMetrics {
    tiles: Family<ResultLabel, Counter>,
    account_events: Family<EventLabel, Counter>,
    tile_changes_folded: Counter,
    writes_refused: Family<ReasonLabel, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

impl GeoMetrics {
    pub fn register(registry: &MetricsRegistry) -> Self {
        let this = Self::default();
        registry.with(|r| {
            r.register(
                "geo_tiles",
                "Tile answers by result: rendered, cached (rendered earlier at the same version), not_modified (304)",
                this.tiles.clone(),
            );
            r.register(
                "geo_account_events",
                "Account events consumed, by type and result: applied, skipped (seen or older), failed",
                this.account_events.clone(),
            );
            r.register(
                "geo_tile_changes_folded",
                "Tile change-log rows folded into a new epoch",
                this.tile_changes_folded.clone(),
            );
            r.register(
                "geo_writes_refused",
                "Writes refused before any work, by reason: rate_limited (429), privacy_pending (409, a home waiting for its owner's settings)",
                this.writes_refused.clone(),
            );
        });
        this
    }

    pub fn tile(&self, result: &'static str) {
        self.tiles.get_or_create(&ResultLabel { result }).inc();
    }

    pub fn account_event(&self, event_type: &str, result: &'static str) {
        self.account_events
            .get_or_create(&EventLabel {
                event_type: event_type.to_owned(),
                result,
            })
            .inc();
    }

    pub fn refused(&self, reason: &'static str) {
        self.writes_refused
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    pub fn folded(&self, n: u64) {
        self.tile_changes_folded.inc_by(n);
    }
}
