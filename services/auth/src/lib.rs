//! gewebe-auth: accounts, login, sessions, EdDSA JWT and JWKS. Every route lives in a feature
//! module that exports `router()`; they are merged in [`router`].

pub mod accounts;
pub mod admin;
pub mod audit;
pub mod config;
pub mod error;
pub mod housekeeping;
pub mod keys;
mod openapi;
pub mod sessions;
pub mod throttle;

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
    pub throttle: throttle::Throttle,
    pub keys: keys::KeyStore,
    pub outbox: gewebe_events::outbox::Outbox,
    pub hasher: accounts::password::Hasher,
    /// Verifies this service's own access tokens, through its JWKS like every other service.
    pub verifier: gewebe_platform::auth::JwtVerifier,
    pub config: Config,
}

impl axum::extract::FromRef<AppState> for gewebe_platform::auth::JwtVerifier {
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
    #[error("redis settings: {0}")]
    Redis(#[from] gewebe_platform::redis::RedisError),
    #[error("binding the listener: {0}")]
    Bind(#[from] std::io::Error),
    #[error("outbox: {0}")]
    Outbox(#[from] gewebe_events::outbox::OutboxError),
    #[error("password hashing: {0}")]
    Hashing(#[from] error::Error),
    #[error("HTTP client: {0}")]
    Http(String),
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
    let keys = key_store(&db, &config);
    if let Err(e) = keys.ensure_fresh().await {
        // Not fatal: the database may still be starting; the hourly task retries.
        tracing::warn!(error = %e, "checking the signing key at start-up failed");
    }
    spawn_key_rotation(keys.clone(), &shutdown);
    housekeeping::spawn(db.clone(), &config, &shutdown);
    if let Some(path) = config.audit.anchor_path.clone() {
        audit::anchor::spawn(
            db.clone(),
            audit::anchor::key(&config.keys.kek),
            path,
            config.audit.anchor_interval,
            &shutdown,
        );
    }
    let listener = Server::bind(config.http.bind).await?;
    let addr = listener.local_addr()?;
    let jwks_url = config
        .accounts
        .jwks_url
        .clone()
        .unwrap_or_else(|| format!("http://127.0.0.1:{}/.well-known/jwks.json", addr.port()));
    let verifier = gewebe_platform::auth::JwtVerifier::new(gewebe_platform::auth::JwtConfig {
        jwks_url,
        issuer: config.keys.issuer.clone(),
        audience: config.keys.audience.clone(),
        refresh_min_interval: std::time::Duration::from_secs(5),
        cache_ttl: std::time::Duration::from_secs(300),
        leeway_secs: 30,
    })
    .map_err(|e| StartError::Http(e.to_string()))?;
    let hasher = accounts::password::Hasher::new(
        config.accounts.argon2_m_kib,
        config.accounts.argon2_t,
        config.accounts.argon2_p,
        config.accounts.hash_concurrency,
    )?;
    let outbox = gewebe_events::outbox::Outbox::new(SCHEMA, db.pool().clone())?;
    let throttle =
        throttle::Throttle::new(redis.clone(), config.throttle.clone(), &config.keys.kek);
    let state = AppState(Arc::new(App {
        db,
        redis,
        throttle,
        keys,
        outbox,
        hasher,
        verifier,
        config,
    }));

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
    Ok(Server::new(
        listener,
        router,
        shutdown,
        state.config.http.shutdown_deadline,
    ))
}

/// The key store over `db` with the configured KEK and rotation policy.
pub fn key_store(db: &Db, config: &Config) -> keys::KeyStore {
    keys::KeyStore::new(
        db.clone(),
        config.keys.kek.clone(),
        config.keys.rotate_after,
        config.keys.overlap,
    )
}

fn spawn_key_rotation(keys: keys::KeyStore, shutdown: &Shutdown) {
    let stop = shutdown.clone();
    shutdown.spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
        tick.tick().await; // the first tick is immediate; start-up already checked
        loop {
            tokio::select! {
                _ = tick.tick() => if let Err(e) = keys.ensure_fresh().await {
                    tracing::warn!(error = %e, "signing key rotation check failed");
                },
                () = stop.cancelled() => break,
            }
        }
    });
}

/// All of gewebe-auth's public routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(openapi::router())
        .merge(keys::router())
        .merge(accounts::router())
        .merge(sessions::router())
        .merge(admin::router())
        .with_state(state)
}
