//! gewebe-geo over HTTP against real PostgreSQL + PostGIS (through PgBouncer), real NATS JetStream,
//! and a real gewebe-auth that issues the access tokens (and whose JWKS geo verifies them with).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Test code: pedantic lints that guard production paths, not fixtures and measurements.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::many_single_char_names
)]

mod accounts;
mod edges;
mod home_privacy;
mod nodes;
mod outage;
mod sql;
mod tiles;
mod validation;
mod write_limit;

use std::{
    io::Write,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use gewebe_geo::config::{Config, GeoConfig};
use gewebe_platform::{
    Env, Shutdown,
    auth::JwtConfig,
    db::DbConfig,
    http::{HttpConfig, RunningServer},
    nats::NatsConfig,
    redis::RedisConfig,
    telemetry::TelemetryConfig,
};
use gewebe_testkit::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Every log line of the test binary (services included), for scans that must find nothing.
pub fn logs() -> String {
    String::from_utf8_lossy(&LOG.get_or_init(Default::default).lock().unwrap()).into_owned()
}

static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        std::io::stderr().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_logs() {
    let buffer = LOG.get_or_init(Default::default).clone();
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter("info,sqlx=warn")
        .with_writer(move || LogWriter(buffer.clone()))
        .try_init();
}

/// A geo service with its own database (auth's and geo's schemas), a real auth service beside it,
/// and its own NATS subject prefix.
pub struct Geo {
    pub server: RunningServer,
    pub auth: RunningServer,
    pub db: TestDb,
    pub prefix: String,
    pub http: reqwest::Client,
}

pub const FUZZ_KEY: [u8; 32] = [42; 32];
pub const KEK: &str = "3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhs=";

pub async fn spawn() -> Geo {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Geo {
    init_logs();
    let mut migrators = gewebe_auth::migrators().unwrap();
    migrators.extend(gewebe_geo::migrators().unwrap());
    let db = gewebe_testkit::database(&migrators.iter().collect::<Vec<_>>())
        .await
        .unwrap();
    let env = gewebe_testkit::TestEnv::from_env();
    let none = Env::from_pairs(Vec::<(String, String)>::new());

    let mut throttle = gewebe_auth::config::ThrottleConfig::from_env(&none).unwrap();
    throttle.register_max_per_ip = 1000;
    let auth_config = gewebe_auth::Config {
        http: HttpConfig::local(),
        db: DbConfig::new(&db.pooled_url, &db.direct_url),
        redis: RedisConfig {
            url: env.redis_url.clone().into(),
            key_prefix: gewebe_testkit::redis_prefix(),
        },
        telemetry: telemetry(gewebe_auth::config::SERVICE),
        jwt: gewebe_platform::auth::JwtConfig::for_issuer_from_env(
            &gewebe_platform::Env::from_pairs(Vec::<(String, String)>::new()),
        )
        .unwrap(),

        keys: gewebe_auth::config::KeysConfig::from_env(&Env::from_pairs([("AUTH_KEK", KEK)]))
            .unwrap(),
        accounts: gewebe_auth::config::AccountsConfig {
            // Tests register their people concurrently; slots are auth's own tests' subject.
            hash_concurrency: 64,
            ..gewebe_auth::config::AccountsConfig::from_env(&none).unwrap()
        },
        throttle,
        audit: gewebe_auth::config::AuditConfig::from_env(&none).unwrap(),
    };
    let auth = gewebe_auth::build(auth_config, Shutdown::new())
        .await
        .unwrap()
        .spawn()
        .unwrap();

    let prefix = gewebe_testkit::nats_prefix();
    let mut config = geo_config(&db, &prefix, auth.url("/.well-known/jwks.json"));
    adjust(&mut config);
    let server = gewebe_geo::build(config, Shutdown::new())
        .await
        .unwrap()
        .spawn()
        .unwrap();
    Geo {
        server,
        auth,
        db,
        prefix,
        http: gewebe_testkit::http(),
    }
}

/// gewebe-geo's configuration for a test database and NATS prefix.
pub fn geo_config(db: &TestDb, prefix: &str, jwks_url: String) -> Config {
    Config {
        http: HttpConfig::local(),
        db: DbConfig::new(&db.pooled_url, &db.direct_url),
        nats: NatsConfig {
            url: gewebe_testkit::TestEnv::from_env().nats_url,
            subject_prefix: prefix.to_owned(),
        },
        jwt: JwtConfig {
            jwks_url,
            issuer: "gewebe-auth".into(),
            audience: "gewebe".into(),
            refresh_min_interval: Duration::from_secs(1),
            cache_ttl: Duration::from_mins(5),
            leeway_secs: 30,
        },
        telemetry: telemetry(gewebe_geo::config::SERVICE),
        // The production write limit (tools and benchmarks run without one).
        geo: GeoConfig {
            write_limit: gewebe_geo::limit::WriteLimit::default(),
            ..GeoConfig::with_key(FUZZ_KEY)
        },
    }
}

fn telemetry(service: &'static str) -> TelemetryConfig {
    TelemetryConfig {
        service,
        filter: "info".into(),
        loki_url: None,
        otlp_endpoint: None,
    }
}

/// A registered, logged-in person.
#[derive(Clone, Debug)]
pub struct User {
    pub id: uuid::Uuid,
    pub token: String,
}

impl Geo {
    pub fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    /// Registers and logs in a new account.
    pub async fn user(&self) -> User {
        let a = gewebe_testkit::account(&self.http, &self.auth.url("")).await;
        User {
            id: a.id,
            token: a.token,
        }
    }

    /// A new account with the moderator role (set the way an admin would, then logged in).
    pub async fn moderator(&self) -> User {
        let a = gewebe_testkit::account(&self.http, &self.auth.url("")).await;
        let pool = sqlx::PgPool::connect(&self.db.direct_url).await.unwrap();
        let mut tx = pool.begin().await.unwrap();
        gewebe_auth::admin::change_roles(&mut tx, a.id, &["user".into(), "moderator".into()], None)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        User {
            id: a.id,
            token: gewebe_testkit::login(&self.http, &self.auth.url(""), &a.email, &a.password)
                .await,
        }
    }

    /// Sends a request and returns (status, headers, JSON body or `null`).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        user: Option<&User>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(u) = user {
            req = req.bearer_auth(&u.token);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, headers, body)
    }

    pub async fn get(&self, path: &str, user: Option<&User>) -> (StatusCode, Value) {
        let (s, _, b) = self.call(Method::GET, path, user, None, &[]).await;
        (s, b)
    }

    pub async fn get_text(&self, path: &str) -> String {
        self.http
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Creates a node and returns its JSON.
    pub async fn node(&self, user: &User, kind: &str, title: &str, lat: f64, lon: f64) -> Value {
        let (status, _, body) = self
            .call(
                Method::POST,
                "/geo/nodes",
                Some(user),
                Some(json!({"kind": kind, "title": title, "location": {"lat": lat, "lon": lon}})),
                &[],
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body
    }

    pub async fn pg(&self) -> sqlx::PgConnection {
        use sqlx::Connection;
        sqlx::PgConnection::connect(&self.db.direct_url)
            .await
            .unwrap()
    }

    /// The outbox payloads of one event type, in commit order.
    pub async fn outbox(&self, event_type: &str) -> Vec<Value> {
        let mut conn = self.pg().await;
        let rows: Vec<Vec<u8>> =
            sqlx::query_scalar("SELECT payload FROM geo.outbox WHERE event_type = $1 ORDER BY seq")
                .bind(event_type)
                .fetch_all(&mut conn)
                .await
                .unwrap();
        rows.iter()
            .map(|p| serde_json::from_slice(p).unwrap())
            .collect()
    }
}

/// Asserts a problem+json answer with `status` and `code`.
pub fn assert_problem(status: StatusCode, body: &Value, want_status: u16, want_code: &str) {
    assert_eq!(status.as_u16(), want_status, "{body}");
    assert_eq!(body["code"], want_code, "{body}");
    assert_eq!(body["status"], want_status, "{body}");
}
