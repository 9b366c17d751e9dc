//! The processes of the benchmark: this binary again in a serving mode (a chat instance, the
//! support services, a bare WebSocket endpoint), and nats-server for the baseline.

use std::time::Duration;

use gewebe_platform::main_loop::ServiceConfig as _;
use gewebe_platform::{Env, Shutdown};
use serde_json::json;
use tokio::net::TcpStream;
use uuid::Uuid;

pub struct Child {
    child: std::process::Child,
    pub port: u16,
}

impl Child {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// This benchmark's binary in `mode` as a child process, with the first line it printed.
fn spawn_mode(mode: &str, envs: &[(&str, &str)]) -> (Child, String) {
    use std::io::BufRead;
    // `BENCH_WRAP_CHAT=heaptrack` runs the chat instances under a heap profiler (for looking into
    // their memory; the figures of such a run are not the benchmark's). Dropping the child ends
    // the wrapper only: end the instances it started yourself afterwards.
    let wrap = std::env::var("BENCH_WRAP_CHAT")
        .ok()
        .filter(|_| mode == "serve-chat");
    let mut command = match &wrap {
        Some(tool) => {
            let mut c = std::process::Command::new(tool);
            c.arg(std::env::current_exe().unwrap());
            c
        }
        None => std::process::Command::new(std::env::current_exe().unwrap()),
    };
    let mut child = command
        .arg(mode)
        .envs(envs.iter().copied())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    // A wrapping tool may speak first.
    while line.is_empty() || (wrap.is_some() && line.trim().parse::<u16>().is_err()) {
        line.clear();
        out.read_line(&mut line).unwrap();
    }
    // Whatever else the child prints goes nowhere; its pipe stays open while it runs.
    std::mem::forget(out);
    (Child { child, port: 0 }, line.trim().to_owned())
}

/// A database with auth's and chat's schemas.
pub async fn database() -> gewebe_testkit::TestDb {
    let mut migrators = gewebe_auth::migrators().unwrap();
    migrators.extend(gewebe_chat::migrators().unwrap());
    gewebe_testkit::database(&migrators.iter().collect::<Vec<_>>())
        .await
        .unwrap()
}

/// auth and the relay; returns the child and auth's URL.
pub fn support(prefix: &str, redis_prefix: &str, db: &gewebe_testkit::TestDb) -> (Child, String) {
    let env = gewebe_testkit::TestEnv::from_env();
    spawn_mode(
        "serve-support",
        &[
            ("BENCH_DB_POOLED", &db.pooled_url),
            ("BENCH_DB_DIRECT", &db.direct_url),
            ("NATS_URL", &env.nats_url),
            ("NATS_SUBJECT_PREFIX", prefix),
            ("REDIS_URL", &env.redis_url),
            ("REDIS_KEY_PREFIX", redis_prefix),
        ],
    )
}

/// One chat instance, configured as in production but for the caps a benchmark client exceeds.
pub fn chat(prefix: &str, redis_prefix: &str, db: &gewebe_testkit::TestDb, jwks: &str) -> Child {
    let env = gewebe_testkit::TestEnv::from_env();
    let (mut child, line) = spawn_mode(
        "serve-chat",
        &[
            ("BIND_ADDR", "127.0.0.1:0"),
            ("DATABASE_URL", &db.pooled_url),
            ("DATABASE_DIRECT_URL", &db.direct_url),
            ("NATS_URL", &env.nats_url),
            ("NATS_SUBJECT_PREFIX", prefix),
            ("REDIS_URL", &env.redis_url),
            ("REDIS_KEY_PREFIX", redis_prefix),
            ("JWKS_URL", jwks),
            ("RUST_LOG", "warn"),
            // Node rooms are not part of this benchmark.
            ("CHAT_GEO_URL", "http://127.0.0.1:9"),
            ("HTTP_CONCURRENCY_LIMIT", "30000"),
        ],
    );
    child.port = line.parse().unwrap();
    child
}

pub async fn serve_chat() {
    let env = Env::from_process();
    let config = gewebe_chat::Config::from_env(&env).unwrap();
    let server = gewebe_chat::build(config, Shutdown::new()).await.unwrap();
    println!("{}", server.local_addr().unwrap().port());
    server.run().await.unwrap();
}

/// The support child: gewebe-auth and gewebe-relay (schema `chat`) on the database and prefixes
/// the parent chose; prints auth's URL, then serves until killed.
pub async fn serve_support() {
    let var = |name: &str| std::env::var(name).unwrap();
    let none = Env::from_pairs(Vec::<(String, String)>::new());
    let http = gewebe_platform::http::HttpConfig {
        concurrency_limit: 4096,
        ..gewebe_platform::http::HttpConfig::local()
    };
    let telemetry = |service| gewebe_platform::telemetry::TelemetryConfig {
        service,
        filter: "warn".into(),
        loki_url: None,
        otlp_endpoint: None,
    };
    let mut pool =
        gewebe_platform::db::DbConfig::new(&var("BENCH_DB_POOLED"), &var("BENCH_DB_DIRECT"));
    pool.max_connections = 8;
    let mut throttle = gewebe_auth::config::ThrottleConfig::from_env(&none).unwrap();
    // Every account of the benchmark registers from the same address.
    throttle.register_max_per_ip = 100_000;
    let auth = gewebe_auth::build(
        gewebe_auth::Config {
            http: http.clone(),
            db: pool.clone(),
            redis: gewebe_platform::redis::RedisConfig {
                url: var("REDIS_URL").into(),
                key_prefix: var("REDIS_KEY_PREFIX"),
            },
            telemetry: telemetry("gewebe-auth"),
            jwt: gewebe_platform::auth::JwtConfig::for_issuer_from_env(&none).unwrap(),
            keys: gewebe_auth::config::KeysConfig::from_env(&Env::from_pairs([(
                "AUTH_KEK",
                "3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhs=",
            )]))
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
    let relay = gewebe_relay::build(
        gewebe_relay::Config {
            http,
            db: pool,
            nats: gewebe_platform::nats::NatsConfig {
                url: var("NATS_URL"),
                subject_prefix: var("NATS_SUBJECT_PREFIX"),
            },
            telemetry: telemetry("gewebe-relay"),
            relay: gewebe_relay::config::RelayConfig::from_env(&Env::from_pairs([
                ("RELAY_SCHEMAS", "chat"),
                ("NATS_STREAM_MAX_BYTES", "1073741824"),
            ]))
            .unwrap(),
        },
        Shutdown::new(),
    )
    .await
    .unwrap()
    .spawn()
    .unwrap();
    println!("{}", auth.url(""));
    let _running = (auth, relay);
    std::future::pending::<()>().await;
}

/// `n` registered accounts, logged in: (id, access token).
pub async fn accounts(http: &reqwest::Client, auth: &str, n: usize) -> Vec<(Uuid, String)> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let batch = (n - out.len()).min(32);
        let made =
            futures::future::join_all((0..batch).map(|_| gewebe_testkit::account(http, auth)))
                .await;
        out.extend(made.into_iter().map(|a| (a.id, a.token)));
    }
    out
}

/// A group room made by `token`'s account with `others`; returns its id.
pub async fn group(
    http: &reqwest::Client,
    chat: String,
    token: &str,
    others: Vec<Uuid>,
    r: usize,
) -> Uuid {
    let resp = http
        .post(format!("{chat}/chat/conversations"))
        .bearer_auth(token)
        .json(&json!({"kind": "group", "participants": others, "title": format!("Raum {r}")}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "making a room");
    let body: serde_json::Value = resp.json().await.unwrap();
    body["id"].as_str().unwrap().parse().unwrap()
}

/// A counter from a service's `/metrics` (0 when absent).
pub async fn metric(port: u16, name: &str) -> u64 {
    let Ok(resp) = gewebe_testkit::http()
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
    else {
        return 0;
    };
    let text = resp.text().await.unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Two nats-servers in one cluster, each with a WebSocket listener, on free ports.
pub struct NatsCluster {
    children: Vec<std::process::Child>,
    pub ws_ports: Vec<u16>,
    dir: std::path::PathBuf,
}

impl NatsCluster {
    pub async fn start() -> Self {
        let dir = std::env::temp_dir().join(gewebe_testkit::unique("gwb-natsws-"));
        std::fs::create_dir_all(&dir).unwrap();
        let routes = [free_port(), free_port()];
        let mut children = Vec::new();
        let mut ws_ports = Vec::new();
        for i in 0..2 {
            let (port, ws) = (free_port(), free_port());
            let conf = dir.join(format!("nats{i}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "server_name: bench{i}\nlisten: 127.0.0.1:{port}\nwebsocket {{\n  listen: \"127.0.0.1:{ws}\"\n  no_tls: true\n}}\ncluster {{\n  name: bench\n  listen: 127.0.0.1:{}\n  routes: [\"nats://127.0.0.1:{}\"]\n}}\n",
                    routes[i],
                    routes[1 - i]
                ),
            )
            .unwrap();
            children.push(
                std::process::Command::new("/usr/sbin/nats-server")
                    .arg("-c")
                    .arg(&conf)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .unwrap(),
            );
            ws_ports.push(ws);
        }
        for &ws in &ws_ports {
            for _ in 0..100 {
                if TcpStream::connect(("127.0.0.1", ws)).await.is_ok() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        // The route between the two.
        tokio::time::sleep(Duration::from_secs(2)).await;
        Self {
            children,
            ws_ports,
            dir,
        }
    }

    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().map(std::process::Child::id).collect()
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The least a WebSocket endpoint can be with axum (accept, then read until the client goes), to
/// tell the framework's share of the memory per connection from gewebe-chat's.
pub async fn serve_bare_ws() {
    use axum::extract::ws::WebSocketUpgrade;
    let router = axum::Router::new().route(
        "/ws",
        axum::routing::get(|ws: WebSocketUpgrade| async move {
            ws.on_upgrade(
                |mut socket| async move { while let Some(Ok(_)) = socket.recv().await {} },
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("{}", listener.local_addr().unwrap().port());
    axum::serve(listener, router).await.unwrap();
}

/// KiB of RSS per connection of the bare endpoint, with `n` connections open.
pub async fn bare_ws_rss(n: usize) -> f64 {
    let (mut child, line) = spawn_mode("serve-bare-ws", &[]);
    child.port = line.parse().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_kib(child.pid());
    let mut open = Vec::with_capacity(n);
    for _ in 0..n / 250 {
        let batch = futures::future::join_all((0..250).map(|_| {
            tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/ws", child.port))
        }))
        .await;
        open.extend(batch.into_iter().map(|r| r.unwrap().0));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(child.pid());
    let per = after.saturating_sub(before) as f64 / n as f64;
    println!("bare axum WebSocket: {before} KiB → {after} KiB: {per:.2} KiB per connection");
    drop(open);
    per
}
