//! gewebe-chat over HTTP and WebSocket against real PostgreSQL (through PgBouncer), NATS, Redis,
//! a real gewebe-auth that issues the tokens and a real gewebe-geo that knows the nodes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Test code: pedantic lints that guard production paths, not fixtures and measurements.
#![allow(clippy::items_after_statements)]

mod consumer;
mod conversations;
mod live;
mod messages;
mod sql;
mod ws;

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use gewebe_chat::config::{ChatConfig, Config};
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
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Message as WsMessage, client::IntoClientRequest},
};

/// For tests that send more than a person would (the send limit is its own test's subject).
pub const UNLIMITED: gewebe_platform::limit::WriteLimit = gewebe_platform::limit::WriteLimit {
    per_sec: 1_000_000,
    burst: 1_000_000,
};

pub const KEK: &str = "3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhs=";

/// Auth, geo and one or more chat instances on one database, one NATS prefix, one Redis prefix.
pub struct Chat {
    pub servers: Vec<RunningServer>,
    pub auth: RunningServer,
    pub geo: RunningServer,
    pub db: TestDb,
    pub prefix: String,
    pub http: reqwest::Client,
}

#[derive(Clone, Debug)]
pub struct User {
    pub id: uuid::Uuid,
    pub token: String,
}

pub async fn spawn() -> Chat {
    spawn_many(1, |_| {}).await
}

pub async fn spawn_many(instances: usize, adjust: impl Fn(&mut ChatConfig)) -> Chat {
    spawn_on(
        &gewebe_testkit::TestEnv::from_env().nats_url,
        instances,
        adjust,
    )
    .await
}

/// As [`spawn_many`], on the NATS server at `nats_url` (a private one a test may restart).
pub async fn spawn_on(nats_url: &str, instances: usize, adjust: impl Fn(&mut ChatConfig)) -> Chat {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("info,sqlx=warn")
        .try_init();
    let mut migrators = gewebe_auth::migrators().unwrap();
    migrators.extend(gewebe_geo::migrators().unwrap());
    migrators.extend(gewebe_chat::migrators().unwrap());
    let db = gewebe_testkit::database(&migrators.iter().collect::<Vec<_>>())
        .await
        .unwrap();
    let env = gewebe_testkit::TestEnv::from_env();
    let none = Env::from_pairs(Vec::<(String, String)>::new());
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
            telemetry: telemetry(gewebe_auth::config::SERVICE),
            jwt: JwtConfig::for_issuer_from_env(&none).unwrap(),
            keys: gewebe_auth::config::KeysConfig::from_env(&Env::from_pairs([("AUTH_KEK", KEK)]))
                .unwrap(),
            accounts: gewebe_auth::config::AccountsConfig {
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
    let jwks = auth.url("/.well-known/jwks.json");
    let nats = NatsConfig {
        url: nats_url.to_owned(),
        subject_prefix: prefix.clone(),
    };
    let geo = gewebe_geo::build(
        gewebe_geo::Config {
            http: HttpConfig::local(),
            db: DbConfig::new(&db.pooled_url, &db.direct_url),
            nats: nats.clone(),
            jwt: jwt(&jwks),
            telemetry: telemetry(gewebe_geo::config::SERVICE),
            geo: gewebe_geo::config::GeoConfig {
                consume_account_events: false,
                ..gewebe_geo::config::GeoConfig::with_key([42; 32])
            },
        },
        Shutdown::new(),
    )
    .await
    .unwrap()
    .spawn()
    .unwrap();
    // The stream the relay provisions, so the consumer and the repair path find it.
    let js = async_nats::jetstream::new(async_nats::connect(nats_url).await.unwrap());
    js.get_or_create_stream(async_nats::jetstream::stream::Config {
        name: gewebe_events::subjects::stream(&prefix),
        subjects: vec![gewebe_events::subjects::all_events(&prefix)],
        duplicate_window: Duration::from_mins(2),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut servers = Vec::new();
    for _ in 0..instances {
        let mut chat = ChatConfig::from_env(&none).unwrap();
        chat.geo_url = geo.url("");
        chat.consume_events = false;
        adjust(&mut chat);
        let config = Config {
            http: HttpConfig::local(),
            db: DbConfig::new(&db.pooled_url, &db.direct_url),
            nats: nats.clone(),
            redis: redis.clone(),
            jwt: jwt(&jwks),
            telemetry: telemetry(gewebe_chat::config::SERVICE),
            chat,
        };
        servers.push(
            gewebe_chat::build(config, Shutdown::new())
                .await
                .unwrap()
                .spawn()
                .unwrap(),
        );
    }
    Chat {
        servers,
        auth,
        geo,
        db,
        prefix,
        http: gewebe_testkit::http(),
    }
}

fn jwt(jwks_url: &str) -> JwtConfig {
    JwtConfig {
        jwks_url: jwks_url.to_owned(),
        issuer: "gewebe-auth".into(),
        audience: "gewebe".into(),
        refresh_min_interval: Duration::from_secs(1),
        cache_ttl: Duration::from_mins(5),
        leeway_secs: 30,
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

pub type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

impl Chat {
    pub fn url(&self, path: &str) -> String {
        self.servers[0].url(path)
    }

    pub async fn user(&self) -> User {
        let a = gewebe_testkit::account(&self.http, &self.auth.url("")).await;
        User {
            id: a.id,
            token: a.token,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        user: Option<&User>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(u) = user {
            req = req.bearer_auth(&u.token);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let bytes = resp.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// A direct room between `a` and `b`; returns its id.
    pub async fn direct(&self, a: &User, b: &User) -> String {
        let (s, body) = self
            .call(
                Method::POST,
                "/chat/conversations",
                Some(a),
                Some(json!({"kind": "direct", "participants": [b.id]})),
            )
            .await;
        assert!(s == 201 || s == 200, "{s} {body}");
        body["id"].as_str().unwrap().to_owned()
    }

    pub async fn send(&self, user: &User, room: &str, body: &str) -> Value {
        let (s, message) = self
            .call(
                Method::POST,
                &format!("/chat/conversations/{room}/messages"),
                Some(user),
                Some(json!({"client_msg_id": uuid::Uuid::now_v7(), "body": body})),
            )
            .await;
        assert_eq!(s, 201, "{message}");
        message
    }

    /// A WebSocket whose TCP receive buffer is tiny, so a client that stops reading pushes back on
    /// the server after a few frames rather than after megabytes of kernel buffers.
    pub async fn slow_socket(
        &self,
        i: usize,
        user: &User,
    ) -> WebSocketStream<tokio::net::TcpStream> {
        let (_, ticket) = self
            .call(Method::POST, "/chat/tickets", Some(user), None)
            .await;
        let url = self.servers[i]
            .url(&format!(
                "/chat/ws?ticket={}",
                ticket["ticket"].as_str().unwrap()
            ))
            .replace("http://", "ws://");
        let tcp = tokio::net::TcpSocket::new_v4().unwrap();
        tcp.set_recv_buffer_size(4096).unwrap();
        let stream = tcp.connect(self.servers[i].addr).await.unwrap();
        let (socket, _) =
            tokio_tungstenite::client_async(url.into_client_request().unwrap(), stream)
                .await
                .unwrap();
        socket
    }

    /// A WebSocket on instance `i`, authenticated with a ticket.
    pub async fn socket(&self, i: usize, user: &User) -> Socket {
        let (s, ticket) = self
            .call(Method::POST, "/chat/tickets", Some(user), None)
            .await;
        assert_eq!(s, 200, "{ticket}");
        let url = self.servers[i]
            .url(&format!(
                "/chat/ws?ticket={}",
                ticket["ticket"].as_str().unwrap()
            ))
            .replace("http://", "ws://");
        let mut request = url.into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", "gewebe.chat.v1".parse().unwrap());
        let (socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
        assert_eq!(
            response.headers()["sec-websocket-protocol"],
            "gewebe.chat.v1"
        );
        socket
    }
}

pub async fn put(socket: &mut Socket, frame: Value) {
    socket
        .send(WsMessage::text(frame.to_string()))
        .await
        .unwrap();
}

/// The next JSON frame (pings are skipped), or `None` when the socket closed; panics after 10 s.
pub async fn next(socket: &mut Socket) -> Option<Value> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("no frame within 10 s");
        match frame {
            Some(Ok(WsMessage::Text(t))) => return Some(serde_json::from_str(&t).unwrap()),
            Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => {}
            Some(Ok(WsMessage::Close(_)) | Err(_)) | None => return None,
            Some(Ok(other)) => panic!("unexpected frame {other:?}"),
        }
    }
}

/// The next frame of `kind`, skipping others (typing, read...).
pub async fn next_of(socket: &mut Socket, kind: &str) -> Value {
    loop {
        let frame = next(socket)
            .await
            .unwrap_or_else(|| panic!("closed before a {kind} frame"));
        if frame["type"] == kind {
            return frame;
        }
    }
}

/// The close code the server ends the socket with; panics after 10 s.
pub async fn close_code(socket: &mut Socket) -> Option<u16> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("no close within 10 s");
        match frame {
            Some(Ok(WsMessage::Close(Some(c)))) => return Some(c.code.into()),
            Some(Ok(WsMessage::Close(None)) | Err(_)) | None => return None,
            Some(Ok(_)) => {}
        }
    }
}
