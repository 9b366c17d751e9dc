//! gewebe-relay's configuration, from the environment (see the README's table).

use std::time::Duration;

use gewebe_platform::{
    ConfigError, Env, db::DbConfig, http::HttpConfig, main_loop::ServiceConfig, nats::NatsConfig,
    telemetry::TelemetryConfig,
};

pub const SERVICE: &str = "gewebe-relay";
pub const DEFAULT_PORT: u16 = 8086;

/// The seed's stream policy; replicas 1 locally, 3 in production.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamPolicy {
    /// `NATS_STREAM_REPLICAS` (default 1).
    pub replicas: usize,
    /// `NATS_STREAM_MAX_AGE_DAYS` (default 30).
    pub max_age: Duration,
    /// `NATS_STREAM_MAX_BYTES` (default 100 GiB).
    pub max_bytes: i64,
    /// `NATS_STREAM_DUPLICATE_WINDOW_HOURS` (default 72).
    pub duplicate_window: Duration,
    /// `NATS_STREAM_MAX_MSG_BYTES` (default 1 MiB, NATS' default `max_payload`).
    pub max_message_size: i32,
}

#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// `RELAY_SCHEMAS` — the service schemas whose `outbox` tables are relayed, e.g. `auth,geo,chat`.
    pub schemas: Vec<String>,
    /// `RELAY_BATCH_SIZE` — rows read per round (default 1000).
    pub batch_size: i64,
    /// `RELAY_POLL_INTERVAL_MS` — fallback poll when no NOTIFY arrives (default 1000).
    pub poll_interval: Duration,
    /// `RELAY_RETENTION_HOURS` — published rows are kept this long for `replay` (default 72).
    pub retention: Duration,
    /// `RELAY_BACKOFF_MAX_MS` — cap of the exponential backoff while NATS fails (default 10000).
    pub backoff_max: Duration,
    /// `RELAY_ACK_TIMEOUT_MS` — how long to wait for JetStream's ack (default 5000).
    pub ack_timeout: Duration,
    pub stream: StreamPolicy,
}

#[derive(Clone)]
pub struct Config {
    pub http: HttpConfig,
    pub db: DbConfig,
    pub nats: NatsConfig,
    pub telemetry: TelemetryConfig,
    pub relay: RelayConfig,
}

impl ServiceConfig for Config {
    fn telemetry(&self) -> &TelemetryConfig {
        &self.telemetry
    }

    fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            telemetry: TelemetryConfig::from_env(env, SERVICE)?,
            http: HttpConfig::from_env(env, DEFAULT_PORT)?,
            db: DbConfig::from_env(env)?,
            nats: NatsConfig::from_env(env)?,
            relay: RelayConfig::from_env(env)?,
        })
    }
}

impl RelayConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let schemas = env.list("RELAY_SCHEMAS");
        if schemas.is_empty() {
            return Err(ConfigError::new("RELAY_SCHEMAS", "is required but not set"));
        }
        if let Some(bad) = schemas
            .iter()
            .find(|s| !gewebe_events::outbox::valid_schema(s))
        {
            return Err(ConfigError::new(
                "RELAY_SCHEMAS",
                format!("{bad:?} is not a schema name"),
            ));
        }
        Ok(Self {
            schemas,
            batch_size: env.in_range("RELAY_BATCH_SIZE", 1000, 1..=10_000)?,
            poll_interval: env.millis("RELAY_POLL_INTERVAL_MS", 1000)?,
            retention: Duration::from_secs(
                3600 * env.in_range("RELAY_RETENTION_HOURS", 72, 1..=24 * 365)?,
            ),
            backoff_max: env.millis("RELAY_BACKOFF_MAX_MS", 10_000)?,
            ack_timeout: env.millis("RELAY_ACK_TIMEOUT_MS", 5_000)?,
            stream: StreamPolicy {
                replicas: env.in_range("NATS_STREAM_REPLICAS", 1, 1..=5)?,
                max_age: Duration::from_secs(
                    86_400 * env.in_range("NATS_STREAM_MAX_AGE_DAYS", 30, 1..=3650)?,
                ),
                max_bytes: env.in_range(
                    "NATS_STREAM_MAX_BYTES",
                    100 * 1024 * 1024 * 1024,
                    1024 * 1024..=i64::MAX,
                )?,
                duplicate_window: Duration::from_secs(
                    3600 * env.in_range("NATS_STREAM_DUPLICATE_WINDOW_HOURS", 72, 1..=24 * 30)?,
                ),
                max_message_size: env.in_range(
                    "NATS_STREAM_MAX_MSG_BYTES",
                    1024 * 1024,
                    1024..=64 * 1024 * 1024,
                )?,
            },
        })
    }
}
