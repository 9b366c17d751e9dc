//! gewebe-geo's configuration, from the environment (see the README's table).

use std::{sync::Arc, time::Duration};

use gewebe_platform::{
    ConfigError, Env, auth::JwtConfig, db::DbConfig, http::HttpConfig, main_loop::ServiceConfig,
    nats::NatsConfig, telemetry::TelemetryConfig,
};
use secrecy::SecretBox;

use crate::limit::WriteLimit;

pub const SERVICE: &str = "gewebe-geo";
pub const DEFAULT_PORT: u16 = 8082;

#[derive(Clone)]
pub struct Config {
    pub http: HttpConfig,
    pub db: DbConfig,
    pub nats: NatsConfig,
    pub jwt: JwtConfig,
    pub telemetry: TelemetryConfig,
    pub geo: GeoConfig,
}

#[derive(Clone)]
pub struct GeoConfig {
    /// `GEO_FUZZ_KEY` — base64 of 32 random bytes; keys the hash that places the public position of
    /// a `home` node. Never logged. Changing it moves every fuzzed home node once.
    pub fuzz_key: Arc<SecretBox<[u8; 32]>>,
    /// `GEO_TILE_CHANGES_RETENTION_SECS` — how long the tile change log keeps a write before it is
    /// folded into the floor (default 3600). Folding makes every client revalidate its tiles once.
    pub tile_changes_retention: Duration,
    /// `GEO_TILE_CACHE_ENTRIES` — rendered tiles kept in memory, reused while their ETag holds
    /// (default 4096; 0 turns the cache off).
    pub tile_cache_entries: usize,
    /// `GEO_CONSUMER` — consume account events (default `true`; tools and some tests turn it off).
    pub consume_account_events: bool,
    /// `GEO_WRITES_PER_SEC` (default 5; 0 turns the limit off) and `GEO_WRITE_BURST` (default 30):
    /// writes (node and edge create, change, delete) per account and instance; beyond them 429.
    pub write_limit: WriteLimit,
    /// `GEO_AUTH_URL` — gewebe-auth's base URL, asked for the owner's current privacy-settings
    /// version before a `home` is written (default: `JWKS_URL` without `/.well-known/jwks.json`).
    pub auth_url: Option<String>,
}

impl GeoConfig {
    /// Where a home write asks auth for the caller's settings: `GEO_AUTH_URL`, else the origin of
    /// auth's JWKS.
    pub fn auth_base(&self, jwks_url: &str) -> Option<String> {
        self.auth_url.clone().or_else(|| {
            jwks_url
                .strip_suffix("/.well-known/jwks.json")
                .map(str::to_owned)
        })
    }
}

impl std::fmt::Debug for GeoConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoConfig")
            .field("tile_changes_retention", &self.tile_changes_retention)
            .field("tile_cache_entries", &self.tile_cache_entries)
            .field("write_limit", &self.write_limit)
            .finish_non_exhaustive()
    }
}

impl GeoConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            fuzz_key: env.key32("GEO_FUZZ_KEY")?,
            tile_changes_retention: env.secs("GEO_TILE_CHANGES_RETENTION_SECS", 3600)?,
            tile_cache_entries: env.in_range("GEO_TILE_CACHE_ENTRIES", 4096, 0..=1_000_000)?,
            consume_account_events: env.or("GEO_CONSUMER", true)?,
            write_limit: WriteLimit {
                per_sec: env.in_range("GEO_WRITES_PER_SEC", 5, 0..=10_000)?,
                burst: env.in_range("GEO_WRITE_BURST", 30, 1..=100_000)?,
            },
            auth_url: env.raw("GEO_AUTH_URL"),
        })
    }

    /// For tests and tools: a fixed key, no consumer, no write limit (benchmarks write thousands of
    /// nodes a second from one account; tests that check the limit set it).
    pub fn with_key(key: [u8; 32]) -> Self {
        Self {
            fuzz_key: Arc::new(SecretBox::new(Box::new(key))),
            tile_changes_retention: Duration::from_hours(1),
            tile_cache_entries: 4096,
            consume_account_events: false,
            write_limit: WriteLimit::OFF,
            auth_url: None,
        }
    }
}

impl ServiceConfig for Config {
    fn telemetry(&self) -> &TelemetryConfig {
        &self.telemetry
    }

    fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let jwt = JwtConfig::from_env(env)?;
        let geo = GeoConfig::from_env(env)?;
        if !geo
            .auth_base(&jwt.jwks_url)
            .is_some_and(|url| url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ConfigError::new(
                "GEO_AUTH_URL",
                "must be gewebe-auth's http(s) base URL (required when JWKS_URL is not <auth>/.well-known/jwks.json)",
            ));
        }
        Ok(Self {
            telemetry: TelemetryConfig::from_env(env, SERVICE)?,
            http: HttpConfig::from_env(env, DEFAULT_PORT)?,
            db: DbConfig::from_env(env)?,
            nats: NatsConfig::from_env(env)?,
            jwt,
            geo,
        })
    }
}
