//! gewebe-feed's configuration, from the environment (see the README's table).

use std::time::Duration;

use gewebe_platform::{
    ConfigError, Env, auth::JwtConfig, http::HttpConfig, main_loop::ServiceConfig,
    nats::NatsConfig, redis::RedisConfig, telemetry::TelemetryConfig,
};

pub const SERVICE: &str = "gewebe-feed";
pub const DEFAULT_PORT: u16 = 8084;

#[derive(Clone)]
pub struct Config {
    pub http: HttpConfig,
    pub nats: NatsConfig,
    pub redis: RedisConfig,
    pub jwt: JwtConfig,
    pub telemetry: TelemetryConfig,
    pub feed: FeedConfig,
}

#[derive(Debug, Clone)]
pub struct FeedConfig {
    /// `FEED_KEEPALIVE_SECS` — a comment line this often keeps proxies from closing idle streams (15).
    pub keepalive: Duration,
    /// `FEED_RETRY_MS` — the `retry:` hint: how long EventSource waits before reconnecting (2000).
    pub retry: Duration,
    /// `FEED_MAX_CONNECTIONS` — open streams per instance; beyond, 503 + Retry-After (10000).
    pub max_connections: usize,
    /// `FEED_MAX_CONNECTIONS_PER_ACCOUNT` — open authenticated streams per account; beyond, 429 (16).
    pub max_per_account: usize,
    /// `FEED_MAX_CONNECTIONS_PER_ADDRESS` — open anonymous streams per client address (IPv4
    /// address, IPv6 /64), per instance; beyond, 429 (32).
    pub max_per_address: usize,
    /// `FEED_REPLAY_HORIZON_SECS` — how far back a resume may replay; a resume whose first event
    /// is older gets `event: reset` and goes live (86400: a day).
    pub replay_horizon: Duration,
    /// `FEED_REPLAY_BUDGET` — resumes (streams opened with a resume token) one address (anonymous)
    /// or one account may make per `FEED_REPLAY_WINDOW_SECS`, across instances; beyond, the
    /// stream starts live with `event: reset` (30).
    pub replay_budget: u64,
    /// `FEED_REPLAY_WINDOW_SECS` — the window of `FEED_REPLAY_BUDGET` (60).
    pub replay_window: Duration,
    /// `FEED_MAX_CELLS` — H3 cells one subscription may name (64).
    pub max_cells: usize,
    /// `FEED_BUFFER` — events one stream may have waiting when it reads slower than its events
    /// come; a stream further behind gets `event: lagged` and is closed, and resumes from JetStream
    /// (4096).
    pub buffer: usize,
    /// `FEED_TICKET_TTL_SECS` — how long a ticket from `POST /feed/tickets` may wait for its use (30).
    pub ticket_ttl: Duration,
}

impl FeedConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            keepalive: Duration::from_secs(env.in_range("FEED_KEEPALIVE_SECS", 15, 1..=300)?),
            retry: Duration::from_millis(env.in_range("FEED_RETRY_MS", 2000, 100..=60_000)?),
            max_connections: env.in_range("FEED_MAX_CONNECTIONS", 10_000, 1..=1_000_000)?,
            max_per_account: env.in_range("FEED_MAX_CONNECTIONS_PER_ACCOUNT", 16, 1..=10_000)?,
            max_per_address: env.in_range("FEED_MAX_CONNECTIONS_PER_ADDRESS", 32, 1..=1_000_000)?,
            replay_horizon: Duration::from_secs(env.in_range(
                "FEED_REPLAY_HORIZON_SECS",
                86_400,
                1..=30 * 86_400,
            )?),
            replay_budget: env.in_range("FEED_REPLAY_BUDGET", 30, 1..=1_000_000)?,
            replay_window: Duration::from_secs(env.in_range(
                "FEED_REPLAY_WINDOW_SECS",
                60,
                1..=86_400,
            )?),
            max_cells: env.in_range("FEED_MAX_CELLS", 64, 1..=10_000)?,
            buffer: env.in_range("FEED_BUFFER", 4096, 16..=1_000_000)?,
            ticket_ttl: Duration::from_secs(env.in_range("FEED_TICKET_TTL_SECS", 30, 1..=300)?),
        })
    }
}

impl ServiceConfig for Config {
    fn telemetry(&self) -> &TelemetryConfig {
        &self.telemetry
    }

    fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            telemetry: TelemetryConfig::from_env(env, SERVICE)?,
            http: HttpConfig::from_env(env, DEFAULT_PORT)?,
            nats: NatsConfig::from_env(env)?,
            redis: RedisConfig::from_env(env)?,
            jwt: JwtConfig::from_env(env)?,
            feed: FeedConfig::from_env(env)?,
        })
    }
}
