//! gewebe-auth's configuration, from the environment (see the README's table).

use gewebe_platform::{
    ConfigError, Env, db::DbConfig, http::HttpConfig, redis::RedisConfig,
    telemetry::TelemetryConfig,
};

pub const SERVICE: &str = "gewebe-auth";
pub const DEFAULT_PORT: u16 = 8081;

#[derive(Clone)]
pub struct Config {
    pub http: HttpConfig,
    pub db: DbConfig,
    pub redis: RedisConfig,
    pub telemetry: TelemetryConfig,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            telemetry: TelemetryConfig::from_env(env, SERVICE)?,
            http: HttpConfig::from_env(env, DEFAULT_PORT)?,
            db: DbConfig::from_env(env)?,
            redis: RedisConfig::from_env(env)?,
        })
    }
}
