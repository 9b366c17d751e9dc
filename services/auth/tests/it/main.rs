//! gewebe-auth against real PostgreSQL (through PgBouncer) and Redis, over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Test code: pedantic lints that guard production paths, not fixtures and measurements.
#![allow(clippy::format_collect)]

mod accounts;
mod admin;
mod api;
mod audit;
mod binary;
mod brute_force;
mod keys;
mod me;
mod overload;
mod service;
mod sessions;
mod sql;
mod throttle;

use gewebe_auth::{
    Config,
    config::{AccountsConfig, AuditConfig, KeysConfig, ThrottleConfig},
};
use gewebe_platform::{
    Shutdown,
    db::DbConfig,
    http::{HttpConfig, RunningServer},
    redis::RedisConfig,
    telemetry::TelemetryConfig,
};
use gewebe_testkit::TestDb;

pub fn config(db: &TestDb) -> Config {
    let env = gewebe_testkit::TestEnv::from_env();
    Config {
        http: HttpConfig::local(),
        db: DbConfig::new(&db.pooled_url, &db.direct_url),
        redis: RedisConfig {
            url: env.redis_url.into(),
            key_prefix: gewebe_testkit::redis_prefix(),
        },
        telemetry: TelemetryConfig {
            service: gewebe_auth::config::SERVICE,
            filter: "info".into(),
            loki_url: None,
            otlp_endpoint: None,
        },
        jwt: gewebe_platform::auth::JwtConfig::for_issuer_from_env(
            &gewebe_platform::Env::from_pairs(Vec::<(String, String)>::new()),
        )
        .unwrap(),

        keys: keys_config(TEST_KEK),
        accounts: AccountsConfig::from_env(&gewebe_platform::Env::from_pairs(Vec::<(
            String,
            String,
        )>::new()))
        .unwrap(),
        throttle: ThrottleConfig::from_env(&gewebe_platform::Env::from_pairs(Vec::<(
            String,
            String,
        )>::new()))
        .unwrap(),
        audit: AuditConfig::from_env(&gewebe_platform::Env::from_pairs(
            Vec::<(String, String)>::new(),
        ))
        .unwrap(),
    }
}

/// base64 of 32 bytes, for tests only.
pub const TEST_KEK: &str = "3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhs=";

pub fn keys_config(kek: &str) -> KeysConfig {
    KeysConfig::from_env(&gewebe_platform::Env::from_pairs([("AUTH_KEK", kek)])).unwrap()
}

/// A migrated database of its own and the service on port 0.
pub async fn spawn() -> (RunningServer, TestDb) {
    spawn_with(|_| {}).await
}

/// Like [`spawn`], with the configuration adjusted first.
pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> (RunningServer, TestDb) {
    // Service logs in the test output, so a failing test shows why.
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("warn")
        .try_init();
    let migrators = gewebe_auth::migrators().unwrap();
    let db = gewebe_testkit::database(&migrators.iter().collect::<Vec<_>>())
        .await
        .unwrap();
    let mut cfg = config(&db);
    adjust(&mut cfg);
    let server = gewebe_auth::build(cfg, Shutdown::new()).await.unwrap();
    (server.spawn().unwrap(), db)
}
