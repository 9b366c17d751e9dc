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

use std::time::Duration;

use axum::Router;
use gewebe_events::outbox::Outbox;
use gewebe_platform::{
    Shutdown, StartError, Startup,
    auth::JwtVerifier,
    db::{Db, schema_migrator},
    http::Server,
    redis::Redis,
};
use sqlx::migrate::Migrator;

pub use config::Config;

/// The schema gewebe-auth owns.
pub const SCHEMA: &str = "auth";

pub type AppState = gewebe_platform::AppState<App>;

/// Everything a handler may need, built once at start-up.
pub struct App {
    pub db: Db,
    pub redis: Redis,
    pub throttle: throttle::Throttle,
    pub keys: keys::KeyStore,
    pub outbox: Outbox,
    pub hasher: accounts::password::Hasher,
    /// Verifies this service's own access tokens, through its JWKS like every other service.
    pub verifier: JwtVerifier,
    pub config: Config,
}

impl AsRef<JwtVerifier> for App {
    fn as_ref(&self) -> &JwtVerifier {
        &self.verifier
    }
}

impl From<error::Error> for StartError {
    fn from(e: error::Error) -> Self {
        Self::service("password hashing", e)
    }
}

/// Everything `migrate` applies, in order: the service's own tables, then its outbox.
pub fn migrators() -> Result<Vec<Migrator>, gewebe_events::outbox::OutboxError> {
    let own = schema_migrator(sqlx::migrate!("./migrations"), SCHEMA);
    gewebe_events::outbox::with_outbox(own, SCHEMA)
}

/// Binds, connects, starts key rotation, housekeeping and audit anchoring, and returns the server;
/// `run()` it (zero-to-production's `Application::build`).
pub async fn build(mut config: Config, shutdown: Shutdown) -> Result<Server, StartError> {
    let start = Startup::bind(&config.http, shutdown).await?;
    config.jwt = config.jwt.or_local(start.local_addr()?);
    let db = Db::connect_lazy(&config.db, config::SERVICE)?;
    let redis = Redis::connect(&config.redis).await?;
    let keys = key_store(&db, &config);
    if let Err(e) = keys.ensure_fresh().await {
        // Not fatal: the database may still be starting; the hourly check retries.
        tracing::warn!(error = %e, "checking the signing key at start-up failed");
    }
    let verifier = JwtVerifier::new(config.jwt.clone())?;
    let hasher = accounts::password::Hasher::new(
        config.accounts.argon2_m_kib,
        config.accounts.argon2_t,
        config.accounts.argon2_p,
        config.accounts.hash_concurrency,
    )?;
    let outbox = Outbox::new(SCHEMA, db.pool().clone())?;
    let throttle =
        throttle::Throttle::new(redis.clone(), config.throttle.clone(), &config.keys.kek);
    let state = AppState::new(App {
        db,
        redis,
        throttle,
        keys,
        outbox,
        hasher,
        verifier,
        config,
    });

    let keys = state.keys.clone();
    // Start-up checked just now: the first check is an hour away.
    start
        .shutdown
        .every_after(Duration::from_hours(1), move || {
            let keys = keys.clone();
            async move {
                if let Err(e) = keys.ensure_fresh().await {
                    tracing::warn!(error = %e, "signing key rotation check failed");
                }
            }
        });
    housekeeping::spawn(&state, &start.shutdown);
    audit::anchor::spawn(&state, &start.shutdown);
    let readiness = start
        .readiness()
        .postgres(&state.db, &[SCHEMA])
        .redis(&state.redis);
    Ok(start.serve(router(state), readiness))
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

/// All of gewebe-auth's public routes.
pub fn router(state: AppState) -> Router {
    let features = keys::router()
        .merge(accounts::router())
        .merge(sessions::router())
        .merge(admin::router());
    openapi::router(features).with_state(state)
}
