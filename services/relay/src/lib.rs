//! gewebe-relay: publishes committed outbox rows of every relayed schema to NATS JetStream.
//! The loop is in [`relay`]; HTTP here is operations only (health, metrics, status, OpenAPI).

pub mod config;
mod http;
pub mod metrics;
pub mod relay;
pub mod store;
pub mod stream;

use std::{ops::Deref, sync::Arc, time::Duration};

use gewebe_platform::{
    Shutdown,
    db::Db,
    http::{MetricsRegistry, Readiness, Server},
    nats::Nats,
};

pub use config::Config;
pub use relay::Relay;

pub struct App {
    pub relay: Relay,
    pub config: Config,
}

#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("database settings: {0}")]
    Db(#[from] sqlx::Error),
    #[error("NATS: {0}")]
    Nats(#[from] async_nats::ConnectError),
    #[error("RELAY_SCHEMAS: {0}")]
    Schema(#[from] gewebe_events::outbox::OutboxError),
    #[error("binding the listener: {0}")]
    Bind(#[from] std::io::Error),
}

/// The relay without HTTP, for `replay` and tests.
pub async fn relay(config: &Config, registry: &MetricsRegistry) -> Result<Relay, StartError> {
    let db = Db::connect_lazy(&config.db, config::SERVICE)?;
    let nats = Nats::connect(&config.nats, config::SERVICE).await?;
    let schemas = config
        .relay
        .schemas
        .iter()
        .map(|s| store::SchemaSql::new(s))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Relay {
        db,
        nats,
        schemas,
        config: config.relay.clone(),
        metrics: metrics::RelayMetrics::register(registry),
        state: Arc::default(),
        acked: std::sync::Mutex::default(),
    })
}

/// Connects, binds, and starts the relay loop and its housekeeping as tracked tasks that stop on
/// shutdown; `run()` the returned server.
pub async fn build(config: Config, shutdown: Shutdown) -> Result<Server, StartError> {
    let registry = MetricsRegistry::new();
    let relay = relay(&config, &registry).await?;
    let state = AppState(Arc::new(App { relay, config }));

    let readiness = Readiness::new(state.config.http.ready_timeout, shutdown.clone())
        .check("postgres", {
            let (db, schemas) = (state.relay.db.clone(), state.config.relay.schemas.clone());
            move || {
                let (db, schemas) = (db.clone(), schemas.clone());
                async move {
                    for schema in &schemas {
                        db.check_schema(schema).await?;
                    }
                    Ok(())
                }
            }
        })
        .check("nats", {
            let nats = state.relay.nats.clone();
            move || {
                let nats = nats.clone();
                async move { nats.check().await }
            }
        });

    spawn_tasks(&state, &shutdown);
    let router = gewebe_platform::http::stack(
        http::router(state.clone()),
        &state.config.http,
        readiness,
        registry,
    );
    let listener = Server::bind(state.config.http.bind).await?;
    Ok(Server::new(
        listener,
        router,
        shutdown,
        state.config.http.shutdown_deadline,
    ))
}

fn spawn_tasks(state: &AppState, shutdown: &Shutdown) {
    let (app, stop) = (state.clone(), shutdown.clone());
    shutdown.spawn(async move { app.relay.run(stop).await });

    let (app, stop) = (state.clone(), shutdown.clone());
    shutdown.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if let Err(e) = app.relay.stats().await {
                        tracing::debug!(error = %e, "outbox stats unavailable");
                    }
                }
                () = stop.cancelled() => break,
            }
        }
    });

    let (app, stop) = (state.clone(), shutdown.clone());
    shutdown.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tokio::select! {
                _ = tick.tick() => match app.relay.prune().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(pruned = n, "pruned published outbox rows past retention"),
                    Err(e) => tracing::warn!(error = %e, "pruning the outbox failed"),
                },
                () = stop.cancelled() => break,
            }
        }
    });
}
