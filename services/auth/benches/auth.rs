//! `cargo xtask bench auth`: gewebe-auth against its baselines, on the same machine, in the same run
//! (a ratio survives a noisy machine; an absolute number does not).
//!
//! 1. logins/s through HTTP (argon2id verify, session, refresh token, audit entry, signed token)
//!    against the raw argon2id verify rate with the same parameters and the same concurrency;
//! 2. authenticated `GET /auth/me` req/s (token verification + a pooled read through PgBouncer)
//!    against a minimal axum handler returning JSON, driven by the same load generator.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::panic
)]

use std::{fmt::Write as _, sync::Arc};

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use gewebe_auth::config::{AccountsConfig, KeysConfig, ThrottleConfig};
use gewebe_platform::{
    Env, Shutdown,
    db::DbConfig,
    http::{HttpConfig, RunningServer},
    redis::RedisConfig,
    telemetry::TelemetryConfig,
};
use gewebe_testkit::load::{drive, drive_for, percentile};
use serde_json::json;

const PASSWORD: &str = "correct horse battery staple";
const LOGIN_CONCURRENCY: usize = 4;
const LOGINS: usize = 240;
const ME_CONCURRENCY: usize = 32;
const ME_SECS: u64 = 8;
const KEK: &str = "3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhs=";

async fn spawn_auth() -> (RunningServer, gewebe_testkit::TestDb) {
    let migrators = gewebe_auth::migrators().unwrap();
    let db = gewebe_testkit::database(&migrators.iter().collect::<Vec<_>>())
        .await
        .unwrap();
    let env = gewebe_testkit::TestEnv::from_env();
    let none = Env::from_pairs(Vec::<(String, String)>::new());
    let mut db_config = DbConfig::new(&db.pooled_url, &db.direct_url);
    db_config.max_connections = 16;
    let mut accounts = AccountsConfig::from_env(&none).unwrap();
    // Every bench client must find a hashing slot: the bench measures throughput, not shedding.
    accounts.hash_concurrency = accounts.hash_concurrency.max(LOGIN_CONCURRENCY);
    let config = gewebe_auth::Config {
        http: HttpConfig {
            concurrency_limit: 4096,
            ..HttpConfig::local()
        },
        db: db_config,
        redis: RedisConfig {
            url: env.redis_url.into(),
            key_prefix: gewebe_testkit::redis_prefix(),
        },
        telemetry: TelemetryConfig {
            service: gewebe_auth::config::SERVICE,
            filter: "warn".into(),
            loki_url: None,
            otlp_endpoint: None,
        },
        jwt: gewebe_platform::auth::JwtConfig::for_issuer_from_env(
            &gewebe_platform::Env::from_pairs(Vec::<(String, String)>::new()),
        )
        .unwrap(),

        keys: KeysConfig::from_env(&Env::from_pairs([("AUTH_KEK", KEK)])).unwrap(),
        accounts,
        throttle: ThrottleConfig::from_env(&none).unwrap(),
        audit: gewebe_auth::config::AuditConfig::from_env(&none).unwrap(),
    };
    let server = gewebe_auth::build(config, Shutdown::new()).await.unwrap();
    (server.spawn().unwrap(), db)
}

async fn minimal_axum() -> RunningServer {
    let router = axum::Router::new().route(
        "/me",
        axum::routing::get(|| async {
            axum::Json(json!({"id": "0196f0a4-0000-7000-8000-000000000000", "display_name": "Ada"}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = Shutdown::new();
    let handle = tokio::spawn(async move { axum::serve(listener, router).await });
    RunningServer {
        addr,
        shutdown,
        handle,
    }
}

#[tokio::main]
async fn main() {
    let (auth, _db) = spawn_auth().await;
    let http = gewebe_testkit::http();
    let r = http
        .post(auth.url("/auth/register"))
        .json(&json!({"email": "bench@example.org", "password": PASSWORD, "display_name": "Bench"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // 1a. Baseline: argon2id verify with the service's parameters, same concurrency, no HTTP.
    let params = Params::new(19_456, 2, 1, None).unwrap();
    let hash = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(PASSWORD.as_bytes())
        .unwrap()
        .to_string();
    let hash = Arc::new(hash);
    let (raw_elapsed, _) = drive(LOGIN_CONCURRENCY, LOGINS, move || {
        let (hash, params) = (hash.clone(), params.clone());
        async move {
            tokio::task::spawn_blocking(move || {
                let parsed = PasswordHash::new(&hash).unwrap();
                Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
                    .verify_password(PASSWORD.as_bytes(), &parsed)
                    .unwrap();
            })
            .await
            .unwrap();
        }
    })
    .await;
    let raw_rate = LOGINS as f64 / raw_elapsed.as_secs_f64();
    eprintln!("raw argon2id verify: {raw_rate:.1}/s");

    // 1b. Logins through HTTP.
    let login_url = auth.url("/auth/login");
    let (login_elapsed, login_lat) = {
        let (http, url) = (http.clone(), login_url.clone());
        drive(LOGIN_CONCURRENCY, LOGINS, move || {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let r = http
                    .post(url)
                    .json(&json!({"email": "bench@example.org", "password": PASSWORD}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                r.bytes().await.unwrap();
            }
        })
        .await
    };
    let login_rate = LOGINS as f64 / login_elapsed.as_secs_f64();
    eprintln!("logins: {login_rate:.1}/s");

    // 2a. Baseline: a minimal axum JSON handler, same client, same concurrency.
    let minimal = minimal_axum().await;
    let (min_elapsed, min_lat) = {
        let (http, url) = (http.clone(), minimal.url("/me"));
        drive_for(ME_CONCURRENCY, ME_SECS, move || {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let r = http.get(url).send().await.unwrap();
                assert_eq!(r.status(), 200);
                r.bytes().await.unwrap();
            }
        })
        .await
    };
    minimal.handle.abort();
    let min_rate = min_lat.len() as f64 / min_elapsed.as_secs_f64();
    eprintln!("minimal axum: {min_rate:.0} req/s");

    // 2b. Authenticated GET /auth/me.
    let token: serde_json::Value = http
        .post(&login_url)
        .json(&json!({"email": "bench@example.org", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    let (me_elapsed, me_lat) = {
        let (http, url) = (http.clone(), auth.url("/auth/me"));
        drive_for(ME_CONCURRENCY, ME_SECS, move || {
            let (http, url, token) = (http.clone(), url.clone(), token.clone());
            async move {
                let r = http.get(url).bearer_auth(token).send().await.unwrap();
                assert_eq!(r.status(), 200);
                r.bytes().await.unwrap();
            }
        })
        .await
    };
    let me_rate = me_lat.len() as f64 / me_elapsed.as_secs_f64();
    eprintln!("GET /auth/me: {me_rate:.0} req/s");
    auth.stop().await.unwrap();

    let machine = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let mut md = String::new();
    writeln!(md, "# Auth benchmark").unwrap();
    writeln!(md).unwrap();
    writeln!(md, "`cargo xtask bench auth` on {cores} cores ({machine}); gewebe-auth in process on PostgreSQL through PgBouncer (transaction mode) and Redis, the load generator (reqwest, HTTP/1.1 keep-alive) in the same process. argon2id m=19456 KiB, t=2, p=1.").unwrap();
    writeln!(md).unwrap();
    writeln!(md, "| measure | value | target |").unwrap();
    writeln!(md, "|---|---|---|").unwrap();
    writeln!(md, "| baseline: raw argon2id verify, {LOGIN_CONCURRENCY} at once ({LOGINS}) | {raw_rate:.1}/s | — |").unwrap();
    writeln!(
        md,
        "| `POST /auth/login`, {LOGIN_CONCURRENCY} clients ({LOGINS}) | {login_rate:.1}/s | — |"
    )
    .unwrap();
    writeln!(
        md,
        "| logins ÷ raw argon2id | {:.2}× | ≥ 0.9× |",
        login_rate / raw_rate
    )
    .unwrap();
    writeln!(
        md,
        "| login latency p50 / p99 | {:.1} ms / {:.1} ms | — |",
        percentile(&login_lat, 0.5),
        percentile(&login_lat, 0.99)
    )
    .unwrap();
    writeln!(md, "| baseline: minimal axum JSON handler, {ME_CONCURRENCY} clients, {ME_SECS} s | {min_rate:.0} req/s (p99 {:.2} ms) | — |", percentile(&min_lat, 0.99)).unwrap();
    writeln!(md, "| authenticated `GET /auth/me`, {ME_CONCURRENCY} clients, {ME_SECS} s | {me_rate:.0} req/s (p50 {:.2} ms, p99 {:.2} ms) | — |", percentile(&me_lat, 0.5), percentile(&me_lat, 0.99)).unwrap();
    writeln!(
        md,
        "| `/auth/me` ÷ minimal axum | {:.2}× | ≥ 0.5× |",
        me_rate / min_rate
    )
    .unwrap();
    print!("{md}");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/results/auth.md");
    std::fs::write(&out, &md).unwrap();
    eprintln!("written to {}", out.display());
}
