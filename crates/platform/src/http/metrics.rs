//! Prometheus metrics. One registry per service instance (no process-global recorder), so tests
//! that run several services in one process do not mix their figures.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::{Registry, Unit},
};

use crate::Problem;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

fn latency_histogram() -> Histogram {
    // 1 ms .. ~16 s: covers cache hits up to slow tile renders.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.001, 2.0, 15,
    ))
}

/// The service's metric registry; services register their own metrics into it at start-up.
#[derive(Clone, Default)]
pub struct MetricsRegistry(Arc<Mutex<Registry>>);

impl MetricsRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers into the shared registry; call at start-up.
    pub fn with<R>(&self, f: impl FnOnce(&mut Registry) -> R) -> R {
        let mut guard = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }

    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        self.with(|r| prometheus_client::encoding::text::encode(&mut out, r))?;
        Ok(out)
    }
}

/// The HTTP stack's own metrics.
pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    in_flight: Gauge,
}

impl HttpMetrics {
    pub fn register(registry: &MetricsRegistry) -> Arc<Self> {
        let this = Self {
            requests: Family::default(),
            duration: Family::new_with_constructor(latency_histogram),
            in_flight: Gauge::default(),
        };
        registry.with(|r| {
            r.register(
                "http_requests",
                "HTTP requests by method, route template and status",
                this.requests.clone(),
            );
            r.register_with_unit(
                "http_request_duration",
                "HTTP request latency by method and route template",
                Unit::Seconds,
                this.duration.clone(),
            );
            r.register(
                "http_requests_in_flight",
                "HTTP requests being handled",
                this.in_flight.clone(),
            );
        });
        Arc::new(this)
    }

    pub fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let route = route.to_owned();
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.clone(),
                status,
            })
            .inc();
        self.duration
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route,
            })
            .observe(elapsed.as_secs_f64());
    }

    pub fn in_flight_guard(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }
}

/// Decrements the in-flight gauge even when the request future is dropped mid-way.
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

pub async fn handler(State(registry): State<MetricsRegistry>) -> Response {
    match registry.render() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            )],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "encoding metrics failed");
            Problem::internal().into_response()
        }
    }
}
