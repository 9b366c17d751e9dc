//! gewebe-geo: nodes and edges on PostGIS with H3 cells, area and radius queries, vector tiles and
//! location privacy. Every route lives in a feature module that exports `router()`; they are merged
//! in [`router`].

pub mod access;
pub mod accounts;
pub mod cells;
pub mod changes;
pub mod config;
pub mod cursor;
pub mod edges;
pub mod error;
pub mod events;
pub mod limit;
pub mod metrics;
pub mod nodes;
mod openapi;
pub mod postgis;
pub mod privacy;
pub mod tiles;
pub mod validate;

use std::{ops::Deref, sync::Arc, time::Duration};

use axum::Router;
use gewebe_events::consumer::ConsumerHealth;
use gewebe_platform::{
    Shutdown,
    auth::JwtVerifier,
    db::{Db, schema_migrator},
    http::{MetricsRegistry, Readiness, Server},
    nats::Nats,
};
use sqlx::migrate::Migrator;

pub use config::Config;

/// The schema gewebe-geo owns.
pub const SCHEMA: &str = "geo";

/// Everything a handler may need, built once at start-up.
pub struct App {
    pub db: Db,
    pub nats: Nats,
    pub outbox: gewebe_events::outbox::Outbox,
    pub verifier: JwtVerifier,
    pub tiles: tiles::TileCache,
    pub metrics: metrics::GeoMetrics,
    pub writes: limit::WriteLimiter,
    /// Asks auth for the owner's current privacy settings before a `home` is written.
    pub auth_http: reqwest::Client,
    pub auth_base: String,
    pub config: Config,
}

impl axum::extract::FromRef<AppState> for JwtVerifier {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

/// Cheap-to-clone handle on [`App`], the state of every router.
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
    #[error(transparent)]
    PostGis(#[from] postgis::PostGisError),
    #[error("NATS: {0}")]
    Nats(#[from] async_nats::ConnectError),
    #[error("binding the listener: {0}")]
    Bind(#[from] std::io::Error),
    #[error("outbox: {0}")]
    Outbox(#[from] gewebe_events::outbox::OutboxError),
    #[error("JWKS client: {0}")]
    Http(String),
}

/// The migrations, kept in the `geo` schema.
pub fn migrator() -> Migrator {
    schema_migrator(sqlx::migrate!("./migrations"), SCHEMA)
}

/// Everything `migrate` applies, in order: the service's own tables, then its outbox.
pub fn migrators() -> Result<Vec<Migrator>, gewebe_events::outbox::OutboxError> {
    Ok(vec![migrator(), gewebe_events::outbox::migrator(SCHEMA)?])
}

/// Connects, checks PostGIS, binds and returns the server; `run()` it.
pub async fn build(config: Config, shutdown: Shutdown) -> Result<Server, StartError> {
    let db = Db::connect_lazy(&config.db, config::SERVICE)?;
    match postgis::check(&db).await {
        Ok(version) => tracing::info!(postgis = %version, "PostGIS found"),
        // A database that is still starting is not fatal (readiness reports it); a missing or too
        // old PostGIS is.
        Err(postgis::PostGisError::Unreachable(e)) => {
            tracing::warn!(error = %e, "could not check PostGIS at start-up");
        }
        Err(e) => return Err(e.into()),
    }
    let registry = MetricsRegistry::new();
    let state = state_with(db, config, &registry).await?;

    let consumer = ConsumerHealth::default();
    let readiness = Readiness::new(state.config.http.ready_timeout, shutdown.clone())
        .check("consumer", {
            let consumer = consumer.clone();
            move || {
                let consumer = consumer.clone();
                async move { consumer.check() }
            }
        })
        .check("postgres", {
            let db = state.db.clone();
            move || {
                let db = db.clone();
                async move { db.check_schema(SCHEMA).await }
            }
        })
        .check("nats", {
            let nats = state.nats.clone();
            move || {
                let nats = nats.clone();
                async move { nats.check().await }
            }
        });
    spawn_tasks(&state, &shutdown, consumer);
    let listener = Server::bind(state.config.http.bind).await?;
    let router = gewebe_platform::http::stack(
        router(state.clone()),
        &state.config.http,
        readiness,
        registry,
    );
    Ok(Server::new(
        listener,
        router,
        shutdown,
        state.config.http.shutdown_deadline,
    ))
}

/// The application state without a server, for operator commands.
pub async fn state(config: Config) -> Result<AppState, StartError> {
    let db = Db::connect_lazy(&config.db, config::SERVICE)?;
    state_with(db, config, &MetricsRegistry::new()).await
}

async fn state_with(
    db: Db,
    config: Config,
    registry: &MetricsRegistry,
) -> Result<AppState, StartError> {
    let nats = Nats::connect(&config.nats, config::SERVICE).await?;
    let verifier =
        JwtVerifier::new(config.jwt.clone()).map_err(|e| StartError::Http(e.to_string()))?;
    let outbox = gewebe_events::outbox::Outbox::new(SCHEMA, db.pool().clone())?;
    let auth_base = config
        .geo
        .auth_base(&config.jwt.jwks_url)
        .ok_or_else(|| StartError::Http("GEO_AUTH_URL is not set".to_owned()))?;
    // Short: a home write holds its transaction while it asks.
    let auth_http = gewebe_platform::http_client(Duration::from_secs(2))
        .map_err(|e| StartError::Http(e.to_string()))?;
    Ok(AppState(Arc::new(App {
        db,
        nats,
        outbox,
        verifier,
        auth_http,
        auth_base,
        tiles: tiles::TileCache::new(config.geo.tile_cache_entries),
        metrics: metrics::GeoMetrics::register(registry),
        writes: limit::WriteLimiter::new(config.geo.write_limit),
        config,
    })))
}

fn spawn_tasks(state: &AppState, shutdown: &Shutdown, consumer: ConsumerHealth) {
    if state.config.geo.consume_account_events {
        let (app, stop) = (state.clone(), shutdown.clone());
        let (js, prefix) = (
            state.nats.jetstream.clone(),
            state.nats.subject_prefix.clone(),
        );
        shutdown.spawn(accounts::run(app, js, prefix, consumer, stop));
    }
    let (app, stop) = (state.clone(), shutdown.clone());
    shutdown.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = tick.tick() => match fold(&app).await {
                    Ok(0) => {}
                    Ok(n) => {
                        app.metrics.folded(n);
                        tracing::info!(folded = n, "tile change log folded into a new epoch");
                    }
                    Err(e) => tracing::warn!(error = %e, "folding the tile change log failed"),
                },
                () = stop.cancelled() => break,
            }
        }
    });
}

async fn fold(app: &AppState) -> sqlx::Result<u64> {
    let mut tx = app.db.begin().await?;
    let n = changes::fold(&mut tx, app.config.geo.tile_changes_retention).await?;
    tx.commit().await?;
    Ok(n)
}

/// All of gewebe-geo's public routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(openapi::router())
        .merge(nodes::router())
        .merge(edges::router())
        .merge(tiles::router())
        .with_state(state)
}
