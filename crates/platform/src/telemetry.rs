//! Logs and traces: JSON lines to stdout (with the request span's fields, so every line carries
//! `request_id`), Loki push when `LOKI_URL` is set, OTLP traces when `OTEL_EXPORTER_OTLP_ENDPOINT`
//! is set. W3C `traceparent` extraction happens per request in `http::context`.

use opentelemetry::trace::TracerProvider as _;
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

use crate::{ConfigError, Env};

#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    pub service: &'static str,
    /// `RUST_LOG` — filter directives (default `info`).
    pub filter: String,
    /// `LOKI_URL` — push logs to this Loki, labelled with the service name.
    pub loki_url: Option<String>,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` — export traces over OTLP/HTTP (the exporter reads the
    /// standard `OTEL_*` variables itself).
    pub otlp_endpoint: Option<String>,
}

impl TelemetryConfig {
    pub fn from_env(env: &Env, service: &'static str) -> Result<Self, ConfigError> {
        let filter = env.raw("RUST_LOG").unwrap_or_else(|| "info".to_owned());
        EnvFilter::try_new(&filter)
            .map_err(|e| ConfigError::new("RUST_LOG", format!("invalid filter: {e}")))?;
        let loki_url = env.raw("LOKI_URL");
        if let Some(url) = &loki_url {
            tracing_loki::url::Url::parse(url)
                .map_err(|e| ConfigError::new("LOKI_URL", format!("invalid URL: {e}")))?;
        }
        Ok(Self {
            service,
            filter,
            loki_url,
            otlp_endpoint: env.raw("OTEL_EXPORTER_OTLP_ENDPOINT"),
        })
    }
}

/// Keeps exporters alive; dropping it flushes pending spans.
#[must_use = "dropping the guard stops trace export"]
pub struct TelemetryGuard {
    tracer_provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.tracer_provider.take()
            && let Err(e) = provider.shutdown()
        {
            tracing::warn!(error = %e, "flushing traces failed");
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("LOKI_URL: {0}")]
    Loki(String),
    #[error("OTEL_EXPORTER_OTLP_ENDPOINT: {0}")]
    Otlp(String),
    #[error("logging was already initialised: {0}")]
    Init(String),
}

/// Installs the global subscriber. Call once, inside the Tokio runtime (Loki's task is spawned).
pub fn init(config: &TelemetryConfig) -> Result<TelemetryGuard, TelemetryError> {
    let filter = EnvFilter::try_new(&config.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(true)
        .with_filter(filter);

    let loki = match &config.loki_url {
        Some(url) => {
            let url = tracing_loki::url::Url::parse(url)
                .map_err(|e| TelemetryError::Loki(e.to_string()))?;
            let (layer, task) = tracing_loki::builder()
                .label("service", config.service)
                .map_err(|e| TelemetryError::Loki(e.to_string()))?
                .build_url(url)
                .map_err(|e| TelemetryError::Loki(e.to_string()))?;
            tokio::spawn(task);
            Some(layer.with_filter(
                EnvFilter::try_new(&config.filter).unwrap_or_else(|_| EnvFilter::new("info")),
            ))
        }
        None => None,
    };

    let mut tracer_provider = None;
    let otel = match &config.otlp_endpoint {
        Some(_) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .build()
                .map_err(|e| TelemetryError::Otlp(e.to_string()))?;
            let resource = opentelemetry_sdk::Resource::builder()
                .with_service_name(config.service)
                .build();
            let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(resource)
                .build();
            let tracer = provider.tracer(config.service);
            tracer_provider = Some(provider);
            Some(tracing_opentelemetry::layer().with_tracer(tracer))
        }
        None => None,
    };

    tracing_subscriber::registry()
        .with(json)
        .with(loki)
        .with(otel)
        .try_init()
        .map_err(|e| TelemetryError::Init(e.to_string()))?;
    Ok(TelemetryGuard { tracer_provider })
}
