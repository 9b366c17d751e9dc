//! gewebe-feed over HTTP against real NATS JetStream and Redis, with tokens from a real gewebe-auth.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Test code: pedantic lints that guard production paths, not fixtures and measurements.
#![allow(
    clippy::assigning_clones,
    clippy::match_wild_err_arm,
    clippy::used_underscore_binding
)]

mod forget;
mod limits;
mod resume;
mod streams;

use std::time::Duration;

use futures::StreamExt;
use gewebe_events::{Envelope, Location, types::NodeCreated};
use gewebe_feed::config::{Config, FeedConfig};
use gewebe_platform::{
    Env, Shutdown,
    auth::JwtConfig,
    db::DbConfig,
    http::{HttpConfig, RunningServer},
    nats::NatsConfig,
    redis::RedisConfig,
    telemetry::TelemetryConfig,
};
use serde_json::Value;
use uuid::Uuid;

const KEK: &str = "3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhs=";

pub struct Feed {
    pub server: RunningServer,
    /// This instance's configuration, for starting a second one on the same stream.
    pub config: Config,
    pub auth: RunningServer,
    pub prefix: String,
    pub js: async_nats::jetstream::Context,
    pub http: reqwest::Client,
}

pub async fn spawn() -> Feed {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(adjust: impl FnOnce(&mut FeedConfig)) -> Feed {
    spawn_with_token_ttl(adjust, Duration::from_mins(15)).await
}

/// Like [`spawn_with`], with access tokens that live `token_ttl`.
pub async fn spawn_with_token_ttl(
    adjust: impl FnOnce(&mut FeedConfig),
    token_ttl: Duration,
) -> Feed {
    spawn_full(adjust, token_ttl, |_| {}).await
}

/// Like [`spawn_with_token_ttl`], with a last say over the feed's whole configuration.
pub async fn spawn_full(
    adjust: impl FnOnce(&mut FeedConfig),
    token_ttl: Duration,
    adjust_config: impl FnOnce(&mut Config),
) -> Feed {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("warn")
        .try_init();
    let env = gewebe_testkit::TestEnv::from_env();
    let none = Env::from_pairs(Vec::<(String, String)>::new());
    let migrators = gewebe_auth::migrators().unwrap();
    let db = gewebe_testkit::database(&migrators.iter().collect::<Vec<_>>())
        .await
        .unwrap();
    let redis = RedisConfig {
        url: env.redis_url.clone().into(),
        key_prefix: gewebe_testkit::redis_prefix(),
    };
    let mut throttle = gewebe_auth::config::ThrottleConfig::from_env(&none).unwrap();
    throttle.register_max_per_ip = 1000;
    let auth = gewebe_auth::build(
        gewebe_auth::Config {
            http: HttpConfig::local(),
            db: DbConfig::new(&db.pooled_url, &db.direct_url),
            redis: redis.clone(),
            telemetry: telemetry("gewebe-auth"),
            jwt: gewebe_platform::auth::JwtConfig::for_issuer_from_env(
                &gewebe_platform::Env::from_pairs(Vec::<(String, String)>::new()),
            )
            .unwrap(),

            keys: gewebe_auth::config::KeysConfig::from_env(&Env::from_pairs([("AUTH_KEK", KEK)]))
                .unwrap(),
            accounts: gewebe_auth::config::AccountsConfig {
                access_ttl: token_ttl,
                // Tests register their people concurrently; slots are auth's own tests' subject.
                hash_concurrency: 64,
                ..gewebe_auth::config::AccountsConfig::from_env(&none).unwrap()
            },
            throttle,
            audit: gewebe_auth::config::AuditConfig::from_env(&none).unwrap(),
        },
        Shutdown::new(),
    )
    .await
    .unwrap()
    .spawn()
    .unwrap();

    let prefix = gewebe_testkit::nats_prefix();
    let client = async_nats::connect(&env.nats_url).await.unwrap();
    let js = async_nats::jetstream::new(client);
    js.get_or_create_stream(async_nats::jetstream::stream::Config {
        name: gewebe_events::subjects::stream(&prefix),
        subjects: vec![gewebe_events::subjects::all_events(&prefix)],
        duplicate_window: Duration::from_mins(2),
        ..Default::default()
    })
    .await
    .unwrap();

    let mut feed = FeedConfig::from_env(&none).unwrap();
    adjust(&mut feed);
    let mut config = Config {
        http: HttpConfig::local(),
        nats: NatsConfig {
            url: env.nats_url.clone(),
            subject_prefix: prefix.clone(),
        },
        redis,
        jwt: JwtConfig {
            jwks_url: auth.url("/.well-known/jwks.json"),
            issuer: "gewebe-auth".into(),
            audience: "gewebe".into(),
            refresh_min_interval: Duration::from_secs(1),
            cache_ttl: Duration::from_mins(5),
            leeway_secs: 30,
        },
        telemetry: telemetry("gewebe-feed"),
        feed,
    };
    adjust_config(&mut config);
    let server = gewebe_feed::build(config.clone(), Shutdown::new())
        .await
        .unwrap()
        .spawn()
        .unwrap();
    // The hub reads the stream from "now": give its consumer a moment to exist.
    tokio::time::sleep(Duration::from_millis(300)).await;
    Feed {
        server,
        config,
        auth,
        prefix,
        js,
        http: gewebe_testkit::http(),
    }
}

fn telemetry(service: &'static str) -> TelemetryConfig {
    TelemetryConfig {
        service,
        filter: "warn".into(),
        loki_url: None,
        otlp_endpoint: None,
    }
}

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq)]
pub struct Sse {
    pub id: Option<String>,
    pub event: String,
    pub data: String,
}

/// A reading end of `/feed/stream`.
pub struct Stream {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
}

impl Stream {
    /// The next event (comments and `retry:` skipped); `None` when the server closed the stream.
    pub async fn next(&mut self) -> Option<Sse> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut sse = Sse {
                    id: None,
                    event: "message".into(),
                    data: String::new(),
                };
                let mut any = false;
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        sse.id = Some(v.trim().to_owned());
                        any = true;
                    } else if let Some(v) = line.strip_prefix("event:") {
                        sse.event = v.trim().to_owned();
                        any = true;
                    } else if let Some(v) = line.strip_prefix("data:") {
                        sse.data.push_str(v.trim_start());
                        any = true;
                    }
                }
                if any {
                    return Some(sse);
                }
                continue;
            }
            match tokio::time::timeout(Duration::from_secs(30), self.body.next()).await {
                Ok(Some(Ok(chunk))) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                Ok(_) => return None,
                Err(_) => panic!("no event within 30 s"),
            }
        }
    }

    /// The next event within `wait`, or `None` if none came.
    pub async fn within(&mut self, wait: Duration) -> Option<Sse> {
        tokio::time::timeout(wait, self.next()).await.ok().flatten()
    }
}

impl Feed {
    /// A second feed instance on the same stream (its own hub, its own port).
    pub async fn another_instance(&self) -> RunningServer {
        gewebe_feed::build(self.config.clone(), Shutdown::new())
            .await
            .unwrap()
            .spawn()
            .unwrap()
    }

    /// Opens `/feed/stream?<query>` (with `last_event_id` and a Bearer token if given).
    pub async fn open(
        &self,
        query: &str,
        last_event_id: Option<&str>,
        token: Option<&str>,
    ) -> Result<Stream, (u16, Value)> {
        self.open_on(&self.server, query, last_event_id, token)
            .await
    }

    /// Like [`Feed::open`], on a given instance.
    pub async fn open_on(
        &self,
        server: &RunningServer,
        query: &str,
        last_event_id: Option<&str>,
        token: Option<&str>,
    ) -> Result<Stream, (u16, Value)> {
        self.open_as(server, None, query, last_event_id, token)
            .await
    }

    /// Like [`Feed::open`], as a client at `address` (the server believes the loopback proxy's
    /// `X-Forwarded-For`, as it believes Caddy's).
    pub async fn open_from(
        &self,
        address: &str,
        query: &str,
        last_event_id: Option<&str>,
        token: Option<&str>,
    ) -> Result<Stream, (u16, Value)> {
        self.open_as(&self.server, Some(address), query, last_event_id, token)
            .await
    }

    pub async fn open_as(
        &self,
        server: &RunningServer,
        address: Option<&str>,
        query: &str,
        last_event_id: Option<&str>,
        token: Option<&str>,
    ) -> Result<Stream, (u16, Value)> {
        let mut req = self
            .http
            .get(server.url(&format!("/feed/stream?{query}")))
            .timeout(Duration::from_hours(1));
        if let Some(a) = address {
            req = req.header("x-forwarded-for", a);
        }
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        if status != 200 {
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let mut body: Value = resp.json().await.unwrap_or(Value::Null);
            if let (Some(r), Some(map)) = (retry_after, body.as_object_mut()) {
                // Not part of the problem body: the header, kept for the tests to look at.
                map.insert("retry_after_header".into(), Value::String(r));
            }
            return Err((status, body));
        }
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        Ok(Stream {
            body: resp.bytes_stream().boxed(),
            buffer: String::new(),
        })
    }

    /// Publishes as the relay does: subject by type, `Nats-Msg-Id` = event id; returns the sequence.
    pub async fn publish(&self, envelope: &Envelope) -> u64 {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", envelope.id.to_string().as_str());
        self.js
            .publish_with_headers(
                gewebe_events::subjects::event(&self.prefix, &envelope.event_type),
                headers,
                envelope.to_vec().unwrap().into(),
            )
            .await
            .unwrap()
            .await
            .unwrap()
            .sequence
    }

    /// A registered, logged-in account: (id, access token).
    pub async fn user(&self) -> (Uuid, String) {
        let a = gewebe_testkit::account(&self.http, &self.auth.url("")).await;
        (a.id, a.token)
    }
}

/// A `node.created` at a position, as gewebe-geo writes it.
pub fn node_at(lat: f64, lon: f64, title: &str) -> Envelope {
    node_of(lat, lon, title, None).with_actor(Uuid::now_v7())
}

/// A `node.created` that `owner` wrote (as actor) and owns (`data.owner`, as geo writes it today
/// for anything but a role-without-name owner).
pub fn node_by(lat: f64, lon: f64, title: &str, owner: Uuid) -> Envelope {
    node_of(lat, lon, title, Some(owner)).with_actor(owner)
}

fn node_of(lat: f64, lon: f64, title: &str, owner: Option<Uuid>) -> Envelope {
    let id = Uuid::now_v7();
    let cell = h3o::LatLng::new(lat, lon)
        .unwrap()
        .to_cell(h3o::Resolution::Fifteen)
        .to_string();
    Envelope::new(
        "gewebe-geo",
        id,
        1,
        &NodeCreated {
            node_id: id,
            kind: "place".into(),
            title: title.into(),
            location: Location { lat, lon },
            h3: cell.clone(),
            owner,
        },
    )
    .unwrap()
    .with_location(Location { lat, lon }, Some(cell))
}
