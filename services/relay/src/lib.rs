//! gewebe-relay: publishes committed outbox rows of every relayed schema to NATS JetStream.
//! The loop is in [`relay`]; HTTP here is operations only (health, metrics, status, OpenAPI).

pub mod config;
pub mod jetstream;
pub mod metrics;
mod openapi;
pub mod relay;
pub mod status;
pub mod store;

use std::time::Duration;

use axum::Router;
use gewebe_platform::{Shutdown, StartError, Startup, http::Server};

pub use config::Config;
pub use relay::Relay;

pub type AppState = gewebe_platform::AppState<App>;

pub struct App {
    pub relay: Relay,
    pub config: Config,
}

/// Binds, connects, starts the relay loop and its housekeeping as tracked tasks that stop on
/// shutdown; `run()` the returned server.
pub async fn build(config: Config, shutdown: Shutdown) -> Result<Server, StartError> {
    let start = Startup::bind(&config.http, shutdown).await?;
    let relay = Relay::connect(&config, &start.registry).await?;
    let state = AppState::new(App { relay, config });

    let (app, stop) = (state.clone(), start.shutdown.clone());
    start
        .shutdown
        .spawn(async move { app.relay.run(stop).await });
    let app = state.clone();
    start.shutdown.every(Duration::from_secs(5), move || {
        let app = app.clone();
        async move {
            if let Err(e) = app.relay.stats().await {
                tracing::debug!(error = %e, "outbox stats unavailable");
            }
        }
    });
    let app = state.clone();
    start.shutdown.every(Duration::from_mins(10), move || {
        let app = app.clone();
        async move {
            match app.relay.prune().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(pruned = n, "pruned published outbox rows past retention"),
                Err(e) => tracing::warn!(error = %e, "pruning the outbox failed"),
            }
        }
    });

    let schemas: Vec<&str> = state
        .config
        .relay
        .schemas
        .iter()
        .map(String::as_str)
        .collect();
    let readiness = start
        .readiness()
        .postgres(&state.relay.db, &schemas)
        .nats(&state.relay.nats);
    Ok(start.serve(router(state.clone()), readiness))
}

/// gewebe-relay's routes: status and the OpenAPI document (not routed publicly).
pub fn router(state: AppState) -> Router {
    openapi::router(status::router()).with_state(state)
}
