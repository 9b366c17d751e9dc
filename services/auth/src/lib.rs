//! gewebe-auth: accounts, login, sessions, EdDSA JWT and JWKS. Every route lives in a feature
//! module that exports `router()`; they are merged in [`router`].

pub mod config;
mod openapi;

use std::{ops::Deref, sync::Arc};

use axum::Router;
use gewebe_platform::{
    Shutdown,
    db::{Db, schema_migrator},
    http::{MetricsRegistry, Readiness, Server},
    redis::Redis,
};
use sqlx::migrate::Migrator;

pub use config::Config;

/// The schema gewebe-auth owns.
pub const SCHEMA: &str = "auth";

/// Everything a handler may need, built once at start-up.
pub struct App {
    pub db: Db,
    pub redis: Redis,
    pub config: Config,
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
    #[error("redis settings: {0}")]
    Redis(#[from] gewebe_platform::redis::RedisError),
    #[error("binding the listener: {0}")]
    Bind(#[from] std::io::Error),
}

/// The migrations, kept in the `auth` schema.
pub fn migrator() -> Migrator {
    schema_migrator(sqlx::migrate!("./migrations"), SCHEMA)
}

/// Everything `migrate` applies, in order: the service's own tables, then its outbox.
pub fn migrators() -> Result<Vec<Migrator>, gewebe_events::outbox::OutboxError> {
    Ok(vec![migrator(), gewebe_events::outbox::migrator(SCHEMA)?])
}

/// Connects, binds and returns the server; `run()` it (zero-to-production's `Application::build`).
pub async fn build(config: Config, shutdown: Shutdown) -> Result<Server, StartError> {
    let db = Db::connect_lazy(&config.db, config::SERVICE)?;
    let redis = Redis::connect(&config.redis).await?;
    let state = AppState(Arc::new(App { db, redis, config }));

    let readiness = Readiness::new(state.config.http.ready_timeout, shutdown.clone())
        .check("postgres", {
            let db = state.db.clone();
            move || {
                let db = db.clone();
                async move { db.check_schema(SCHEMA).await }
            }
        })
        .check("redis", {
            let redis = state.redis.clone();
            move || {
                let redis = redis.clone();
                async move { redis.check().await }
            }
        });
    let registry = MetricsRegistry::new();
    let router = gewebe_platform::http::stack(
        router(state.clone()),
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

/// All of gewebe-auth's public routes.
pub fn router(state: AppState) -> Router {
    Router::new().merge(openapi::router()).with_state(state)
}
