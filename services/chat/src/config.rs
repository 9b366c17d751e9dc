//! gewebe-chat's configuration, from the environment (see the README's table).

use std::time::Duration;

use gewebe_platform::{
    ConfigError, Env, auth::JwtConfig, db::DbConfig, http::HttpConfig, main_loop::ServiceConfig,
    nats::NatsConfig, redis::RedisConfig, telemetry::TelemetryConfig,
};

pub const SERVICE: &str = "gewebe-chat";
pub const DEFAULT_PORT: u16 = 8083;

#[derive(Clone)]
pub struct Config {
    pub http: HttpConfig,
    pub db: DbConfig,
    pub nats: NatsConfig,
    pub redis: RedisConfig,
    pub jwt: JwtConfig,
    pub telemetry: TelemetryConfig,
    pub chat: ChatConfig,
}

#[derive(Debug, Clone)]
pub struct ChatConfig {
    /// `CHAT_MAX_CONNECTIONS` — WebSocket connections per instance; beyond, 503 at the upgrade (10000).
    pub max_connections: usize,
    /// `CHAT_MAX_CONNECTIONS_PER_ACCOUNT` — per account and instance; beyond, 429 (16).
    pub max_per_account: usize,
    /// `CHAT_FRAMES_PER_SEC`, `CHAT_FRAME_BURST` — each connection's token bucket (10/s, burst 20);
    /// a frame beyond it gets `error {code: rate_limited}`.
    pub frames_per_sec: u32,
    pub frame_burst: u32,
    /// `CHAT_SENDS_PER_SEC`, `CHAT_SEND_BURST` — writes one account may make per instance (sends,
    /// edits, deletions, rooms, memberships), over REST and every socket together (10/s, burst 30);
    /// beyond, 429 or `error {code: rate_limited}`.
    pub send_limit: gewebe_platform::limit::WriteLimit,
    /// `CHAT_ABUSE_LIMIT` — rate-limited frames within `CHAT_ABUSE_WINDOW_SECS` that close the
    /// connection with 1008 (20 within 10 s).
    pub abuse_limit: u32,
    pub abuse_window: Duration,
    /// `CHAT_IDLE_MS` — a connection that sent nothing (no frame, no pong) this long is closed (30).
    pub idle: Duration,
    /// `CHAT_MAX_FRAME_BYTES` — a larger frame closes the connection with 1009 (16384).
    pub max_frame_bytes: usize,
    /// `CHAT_OUTBOUND_QUEUE` — frames waiting for a slow client; a full queue closes the connection
    /// with 4003 and the client resumes with `after` (256).
    pub outbound_queue: usize,
    /// `CHAT_REAUTH_BEFORE_SECS` — `reauth` is sent this long before the token expires (60).
    pub reauth_before: Duration,
    /// `CHAT_REAUTH_GRACE_SECS` — a connection whose token expired is closed with 4001 after this (10).
    pub reauth_grace: Duration,
    /// `CHAT_RESUME_MAX_MESSAGES` — a `subscribe` with `after` further behind gets
    /// `error {code: resync}` and reloads by REST (1000).
    pub resume_max_messages: i64,
    /// `CHAT_TICKET_TTL_SECS` — how long a ticket from `POST /chat/tickets` may wait for its use (30).
    pub ticket_ttl: Duration,
    /// `CHAT_CONSUMER` — consume account and node events (default `true`; some tests turn it off).
    pub consume_events: bool,
    /// `CHAT_GEO_URL` — gewebe-geo's base URL, asked whether a node exists before its room is made
    /// (`http://127.0.0.1:8082`).
    pub geo_url: String,
}

impl ChatConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            max_connections: env.in_range("CHAT_MAX_CONNECTIONS", 10_000, 1..=1_000_000)?,
            max_per_account: env.in_range("CHAT_MAX_CONNECTIONS_PER_ACCOUNT", 16, 1..=10_000)?,
            frames_per_sec: env.in_range("CHAT_FRAMES_PER_SEC", 10, 1..=10_000)?,
            frame_burst: env.in_range("CHAT_FRAME_BURST", 20, 1..=100_000)?,
            send_limit: gewebe_platform::limit::WriteLimit {
                per_sec: env.in_range("CHAT_SENDS_PER_SEC", 10, 1..=100_000)?,
                burst: env.in_range("CHAT_SEND_BURST", 30, 1..=1_000_000)?,
            },
            abuse_limit: env.in_range("CHAT_ABUSE_LIMIT", 20, 1..=100_000)?,
            abuse_window: Duration::from_secs(env.in_range(
                "CHAT_ABUSE_WINDOW_SECS",
                10,
                1..=3600,
            )?),
            idle: Duration::from_millis(env.in_range("CHAT_IDLE_MS", 30_000, 100..=3_600_000)?),
            max_frame_bytes: env.in_range("CHAT_MAX_FRAME_BYTES", 16 * 1024, 1024..=1024 * 1024)?,
            outbound_queue: env.in_range("CHAT_OUTBOUND_QUEUE", 256, 8..=100_000)?,
            reauth_before: Duration::from_secs(env.in_range(
                "CHAT_REAUTH_BEFORE_SECS",
                60,
                1..=3600,
            )?),
            reauth_grace: Duration::from_secs(env.in_range(
                "CHAT_REAUTH_GRACE_SECS",
                10,
                0..=600,
            )?),
            resume_max_messages: env.in_range("CHAT_RESUME_MAX_MESSAGES", 1000, 1..=1_000_000)?,
            ticket_ttl: Duration::from_secs(env.in_range("CHAT_TICKET_TTL_SECS", 30, 1..=300)?),
            consume_events: env.or("CHAT_CONSUMER", true)?,
            geo_url: env
                .raw("CHAT_GEO_URL")
                .unwrap_or_else(|| "http://127.0.0.1:8082".to_owned()),
        })
    }
}

impl ServiceConfig for Config {
    fn telemetry(&self) -> &TelemetryConfig {
        &self.telemetry
    }

    fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            chat: ChatConfig::from_env(env)?,
            jwt: JwtConfig::from_env(env)?,
            telemetry: TelemetryConfig::from_env(env, SERVICE)?,
            http: HttpConfig::from_env(env, DEFAULT_PORT)?,
            db: DbConfig::from_env(env)?,
            nats: NatsConfig::from_env(env)?,
            redis: RedisConfig::from_env(env)?,
        })
    }
}
