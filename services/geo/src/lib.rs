//! gewebe-geo: nodes and edges on PostGIS with H3 cells, area and radius queries, vector tiles and
//! location privacy. Every route lives in a feature module that exports `router()`; they are merged
//! in [`router`].

pub mod access;
pub mod account_events;
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

use std::time::Duration;

use axum::Router;
use gewebe_events::{consumer::ConsumerHealth, outbox::Outbox};
use gewebe_platform::{
    Shutdown, StartError, Startup,
    auth::JwtVerifier,
    db::{Db, schema_migrator},
    http::{MetricsRegistry, Server},
    nats::Nats,
};
use sqlx::migrate::Migrator;

pub use config::Config;

/// The schema gewebe-geo owns.
pub const SCHEMA: &str = "geo";

pub type AppState = gewebe_platform::AppState<App>;

/// Everything a handler may need, built once at start-up.
pub struct App {
    pub db: Db,
    pub nats: Nats,
    pub outbox: Outbox,
    pub verifier: JwtVerifier,
    pub tiles: tiles::TileCache,
    pub metrics: metrics::GeoMetrics,
    pub writes: limit::WriteLimiter,
    /// Asks auth for the owner's current privacy settings before a `home` is written.
    pub auth_http: reqwest::Client,
    pub auth_base: String,
    pub config: Config,
}

impl AsRef<JwtVerifier> for App {
    fn as_ref(&self) -> &JwtVerifier {
        &self.verifier
    }
}

/// Everything `migrate` applies, in order: the service's own tables, then its outbox.
pub fn migrators() -> Result<Vec<Migrator>, gewebe_events::outbox::OutboxError> {
    let own = schema_migrator(sqlx::migrate!("./migrations"), SCHEMA);
    gewebe_events::outbox::with_outbox(own, SCHEMA)
}

/// Binds, connects, checks PostGIS, starts the account consumer and the tile-log folding, and
/// returns the server; `run()` it.
pub async fn build(config: Config, shutdown: Shutdown) -> Result<Server, StartError> {
    let start = Startup::bind(&config.http, shutdown).await?;
    let db = Db::connect_lazy(&config.db, config::SERVICE)?;
    match postgis::check(&db).await {
        Ok(version) => tracing::info!(postgis = %version, "PostGIS found"),
        // A database that is still starting is not fatal (readiness reports it); a missing or too
        // old PostGIS is.
        Err(postgis::PostGisError::Unreachable(e)) => {
            tracing::warn!(error = %e, "could not check PostGIS at start-up");
        }
        Err(e) => return Err(StartError::service("PostGIS", e)),
    }
    let state = state_with(db, config, &start.registry).await?;
    let consumer = ConsumerHealth::default();
    if state.config.geo.consume_account_events {
        let shutdown = start.shutdown.clone();
        let run = account_events::run(state.clone(), consumer.clone(), shutdown.clone());
        shutdown.spawn(run);
    }
    let app = state.clone();
    start.shutdown.every(Duration::from_mins(1), move || {
        let app = app.clone();
        async move { fold(&app).await }
    });
    let readiness = start
        .readiness()
        .flag("consumer", move || consumer.check())
        .postgres(&state.db, &[SCHEMA])
        .nats(&state.nats);
    Ok(start.serve(router(state), readiness))
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
    let verifier = JwtVerifier::new(config.jwt.clone())?;
    let outbox = Outbox::new(SCHEMA, db.pool().clone())?;
    let auth_base = config
        .geo
        .auth_base(&config.jwt.jwks_url)
        .ok_or_else(|| StartError::service("GEO_AUTH_URL", "is not set"))?;
    // Short: a home write holds its transaction while it asks.
    let auth_http = gewebe_platform::http_client(Duration::from_secs(2))?;
    Ok(AppState::new(App {
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
    }))
}

/// Folds the tile change log into a new epoch once its rows are older than the retention.
async fn fold(app: &AppState) {
    let folded = async {
        let mut tx = app.db.begin().await?;
        let n = changes::fold(&mut tx, app.config.geo.tile_changes_retention).await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(n)
    };
    match folded.await {
        Ok(0) => {}
        Ok(n) => {
            app.metrics.folded(n);
            tracing::info!(folded = n, "tile change log folded into a new epoch");
        }
        Err(e) => tracing::warn!(error = %e, "folding the tile change log failed"),
    }
}

/// All of gewebe-geo's public routes.
pub fn router(state: AppState) -> Router {
    let features = nodes::router()
        .merge(edges::router())
        .merge(tiles::router());
    openapi::router(features).with_state(state)
}
