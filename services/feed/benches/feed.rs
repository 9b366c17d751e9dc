//! `cargo xtask bench feed`: gewebe-feed against its baselines, on one machine, in one run.
//!
//! 1. memory: the feed runs as its own process; RSS before and after 10,000 open streams;
//! 2. fan-out: 1,000 streams, events published to JetStream at a steady rate; events delivered per
//!    second to all of them, against nats-server's own WebSocket listener delivering the same
//!    payloads at the same rate to 1,000 WebSocket clients (a second, private nats-server);
//! 3. write-to-screen: `POST /geo/nodes` at 500/s (gewebe-auth, gewebe-geo and gewebe-relay in a
//!    child process, the feed in another) → SSE receipt, with 1,000 streams open.
//!
//! Clients are raw TCP (SSE) and tokio-tungstenite (WebSocket): cheap enough that 10,000 of them
//! fit beside the server.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::panic
)]
// Test code: pedantic lints that guard production paths, not fixtures and measurements.
#![allow(
    clippy::cast_possible_truncation,
    clippy::items_after_statements,
    clippy::similar_names,
    clippy::unused_self
)]

use std::{
    fmt::Write as _,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use futures::{SinkExt, StreamExt};
use gewebe_events::{Envelope, Location, types::NodeCreated};
use gewebe_platform::main_loop::ServiceConfig as _;
use gewebe_platform::{Env, Shutdown};
use gewebe_testkit::load::percentile;
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use uuid::Uuid;

const STREAMS_FOR_MEMORY: usize = 10_000;
const FANOUT_CLIENTS: usize = 1_000;
const FANOUT_RATE: u64 = 500;
const FANOUT_EVENTS: u64 = 1_000;
const WRITE_SECS: u64 = 10;

/// The runs of the write-to-screen part: the 500/s with listeners watching their own part
/// of the map, the same at 250/s (below saturation), and 500/s with every listener shown every
/// write.
/// `BENCH_WRITE_RATE` and `BENCH_LISTENERS` (`map` or `all`) pick one run.
fn write_runs() -> Vec<(u64, Listeners)> {
    let rate = std::env::var("BENCH_WRITE_RATE")
        .ok()
        .and_then(|v| v.parse().ok());
    let listeners = match std::env::var("BENCH_LISTENERS").as_deref() {
        Ok("map") => Some(Listeners::Map),
        Ok("all") => Some(Listeners::All),
        _ => None,
    };
    match (rate, listeners) {
        (None, None) => vec![
            (500, Listeners::Map),
            (250, Listeners::Map),
            (500, Listeners::All),
        ],
        (rate, listeners) => vec![(rate.unwrap_or(500), listeners.unwrap_or(Listeners::Map))],
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// A child process serving the least an SSE stream can be with axum (one greeting, then nothing),
/// to tell the framework's share of the memory per stream from gewebe-feed's.
async fn serve_minimal_sse() {
    use axum::response::sse::{Event, Sse};
    let router = axum::Router::new().route(
        "/feed/stream",
        axum::routing::get(|| async {
            let greeting = futures::stream::once(async {
                Ok::<_, std::convert::Infallible>(Event::default().comment("gewebe feed"))
            });
            Sse::new(greeting.chain(futures::stream::pending()))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("{}", listener.local_addr().unwrap().port());
    axum::serve(listener, router).await.unwrap();
}

/// The child process: gewebe-feed with the configuration from the environment.
async fn serve_feed() {
    let env = Env::from_process();
    let config = gewebe_feed::Config::from_env(&env).unwrap();
    let server = gewebe_feed::build(config, Shutdown::new()).await.unwrap();
    println!("{}", server.local_addr().unwrap().port());
    server.run().await.unwrap();
}

struct Child(std::process::Child, u16);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_feed(prefix: &str, jwks: &str) -> Child {
    spawn_child("serve-feed", prefix, jwks)
}

fn spawn_child(mode: &str, prefix: &str, jwks: &str) -> Child {
    let env = gewebe_testkit::TestEnv::from_env();
    let (mut child, line) = spawn_mode(
        mode,
        &[
            ("BIND_ADDR", "127.0.0.1:0"),
            ("NATS_URL", &env.nats_url),
            ("NATS_SUBJECT_PREFIX", prefix),
            ("REDIS_URL", &env.redis_url),
            ("REDIS_KEY_PREFIX", &gewebe_testkit::redis_prefix()),
            ("JWKS_URL", jwks),
            ("RUST_LOG", "warn"),
            ("FEED_MAX_CONNECTIONS", "20000"),
            // Every listener is a client of this one loopback address.
            ("FEED_MAX_CONNECTIONS_PER_ADDRESS", "20000"),
            ("HTTP_CONCURRENCY_LIMIT", "30000"),
        ],
    );
    child.1 = line.parse().unwrap();
    child
}

/// The write path's child process; returns it and the line it printed (JWKS URL, geo URL).
fn spawn_writers(prefix: &str, db: &gewebe_testkit::TestDb) -> (Child, String) {
    let env = gewebe_testkit::TestEnv::from_env();
    spawn_mode(
        "serve-writers",
        &[
            ("BENCH_DB_POOLED", &db.pooled_url),
            ("BENCH_DB_DIRECT", &db.direct_url),
            ("NATS_URL", &env.nats_url),
            ("NATS_SUBJECT_PREFIX", prefix),
        ],
    )
}

/// This benchmark's binary in `mode` as a child process, with the first line it printed.
fn spawn_mode(mode: &str, envs: &[(&str, &str)]) -> (Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .arg(mode)
        .envs(envs.iter().copied())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (Child(child, 0), line.trim().to_owned())
}

/// Opens a raw SSE stream and waits for the feed's greeting.
async fn open_sse(port: u16, query: &str) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(
        format!("GET /feed/stream?{query} HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&seen).contains("gewebe feed") {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "the feed closed a new stream");
        seen.extend_from_slice(&buf[..n]);
    }
    s
}

/// How to read the table; appended to the results file.
const NOTES: &str = "
- **Memory.** Behind Caddy (`versions h2c` in `caddy/Caddyfile`) the streams of many browsers share a few HTTP/2 connections to the feed, and a stream costs the feed what the h2c row says. A client that connects to the feed directly over HTTP/1.1 costs a connection each, mostly hyper's two 8 KiB buffers (read, and response head); no setting of hyper's HTTP/1 server makes them smaller. The bare `axum::serve` row is an endpoint that does nothing on the server every service used before (the feed measured 23.0 KiB per stream on it): `axum::serve` runs every connection through hyper-util's `auto` builder, which holds the HTTP/1 and HTTP/2 state side by side.
- **Fan-out.** Every stream here is shown every event. A delivery over HTTP/2 costs more CPU than over HTTP/1.1 (a task per stream in hyper, one lock per connection in the h2 crate, frames copied into the connection's buffer); two things brought h2c level with nats-server: the platform's server lets the other streams queue their frames before a connection is flushed (`crates/platform/src/http/coalesce.rs`; hyper flushed after almost every frame), and a stream keeps one timer for its keep-alive and token expiry that moves only when it fires (it registered a new timer for every event it sent, 0.86× nats-server before).
- **Write to screen.** The listeners are HTTP/2 streams, as Caddy forwards them; auth, geo and relay run in one child process, the feed in another, the clients in the benchmark process; PostgreSQL (through PgBouncer with 5 server connections), NATS and Redis share the same 2 cores. Each run starts with one unmeasured second at its rate: the first writes open geo's pooled connections (and PgBouncer's to PostgreSQL) and fill the plan caches, and those 100-odd milliseconds were most of the 99th percentile. What made 500 writes/s fit (each measured against the previous state in alternating runs): writers no longer NOTIFY inside their transaction (PostgreSQL serialises every committing transaction that notified behind one cluster-wide lock held across its WAL flush; `Outbox::commit` notifies after the commit instead), the relay reads and marks a batch in one prepared statement on its own session, the insert of a node writes its outbox row in the same statement, and the feed wakes only the streams an event is for (each stream was woken for every event to filter for itself). When every listener is shown every write, 500 writes/s are 500,000 deliveries/s on top of the write path: more than this machine does, so that row measures a queue, and the streams that fall more than `FEED_BUFFER` events behind are cut with `lagged` (they would resume from JetStream).
";

/// Streams are HTTP/2 streams when Caddy forwards them (`versions h2c`): Go's transport puts as
/// many on one connection as the server allows (hyper's 200), then opens the next.
const H2_STREAMS_PER_CONNECTION: usize = 200;

/// Opens one SSE stream per query over h2c connections as Caddy would, each past the feed's
/// greeting.
async fn open_h2c(port: u16, queries: &[String]) -> Vec<hyper::Response<hyper::body::Incoming>> {
    use http_body_util::BodyExt;
    let n = queries.len();
    let mut open = Vec::with_capacity(n);
    for _ in 0..n.div_ceil(H2_STREAMS_PER_CONNECTION) {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let (sender, connection) =
            hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                .handshake::<_, http_body_util::Empty<bytes::Bytes>>(hyper_util::rt::TokioIo::new(
                    tcp,
                ))
                .await
                .unwrap();
        tokio::spawn(connection);
        let batch = futures::future::join_all(
            queries[open.len()..(open.len() + H2_STREAMS_PER_CONNECTION).min(n)]
                .iter()
                .map(|query| {
                    let mut sender = sender.clone();
                    async move {
                        sender.ready().await.unwrap();
                        let request =
                            hyper::Request::get(format!("http://localhost/feed/stream?{query}"))
                                .body(http_body_util::Empty::new())
                                .unwrap();
                        let mut response = sender.send_request(request).await.unwrap();
                        assert_eq!(response.status(), 200);
                        let greeting = response.body_mut().frame().await.unwrap().unwrap();
                        assert!(
                            String::from_utf8_lossy(greeting.data_ref().unwrap())
                                .contains("gewebe feed")
                        );
                        response
                    }
                }),
        )
        .await;
        open.extend(batch);
    }
    open
}

/// What an SSE stream over HTTP/1.1 brings, as it arrives.
fn tcp_chunks(s: TcpStream) -> impl futures::Stream<Item = bytes::Bytes> + Unpin {
    Box::pin(futures::stream::unfold(s, |mut s| async move {
        let mut buf = vec![0u8; 64 * 1024];
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((bytes::Bytes::from(buf), s))
            }
        }
    }))
}

/// What an SSE stream over HTTP/2 brings, as it arrives.
fn h2_chunks(
    response: hyper::Response<hyper::body::Incoming>,
) -> impl futures::Stream<Item = bytes::Bytes> + Unpin {
    http_body_util::BodyDataStream::new(response.into_body())
        .take_while(|chunk| std::future::ready(chunk.is_ok()))
        .filter_map(|chunk| std::future::ready(chunk.ok()))
}

/// Counts SSE events on a stream; with `stamps`, also the delay since the `sent_us` in each title.
async fn count_events(
    mut chunks: impl futures::Stream<Item = bytes::Bytes> + Unpin,
    counter: Arc<AtomicU64>,
    stamps: Option<Arc<std::sync::Mutex<Vec<f64>>>>,
) {
    let mut carry: Vec<u8> = Vec::new();
    while let Some(chunk) = chunks.next().await {
        carry.extend_from_slice(&chunk);
        // Whole events only (they end with a blank line): a chunk may end anywhere.
        let mut start = 0;
        while let Some(end) = find(&carry[start..], b"\n\n").map(|e| start + e) {
            let event = &carry[start..end];
            start = end + 2;
            if find(event, b"event: node.created").is_none() {
                continue;
            }
            counter.fetch_add(1, Ordering::Relaxed);
            let Some(stamps) = &stamps else { continue };
            let Some(t) = find(event, b"sent_us=") else {
                continue;
            };
            let digits: String = event[t + 8..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .map(|&b| char::from(b))
                .collect();
            if let Ok(sent) = digits.parse::<u128>() {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_micros();
                stamps
                    .lock()
                    .unwrap()
                    .push((now.saturating_sub(sent)) as f64 / 1000.0);
            }
        }
        carry.drain(..start);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn envelope(i: u64) -> Envelope {
    let id = Uuid::now_v7();
    let (lat, lon) = (52.5 + (i % 100) as f64 * 0.001, 13.4);
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
            title: format!("Knoten {i}"),
            location: Location { lat, lon },
            h3: cell.clone(),
            owner: None,
        },
    )
    .unwrap()
    .with_location(Location { lat, lon }, Some(cell))
}

async fn stream_for(js: &async_nats::jetstream::Context, prefix: &str) {
    js.get_or_create_stream(async_nats::jetstream::stream::Config {
        name: gewebe_events::subjects::stream(prefix),
        subjects: vec![gewebe_events::subjects::all_events(prefix)],
        max_bytes: 1 << 30,
        ..Default::default()
    })
    .await
    .unwrap();
}

/// Waits until `counter` reaches `want` (or 60 s pass); returns when it got there.
async fn until_count(counter: &AtomicU64, want: u64) -> Instant {
    let deadline = Instant::now() + Duration::from_mins(1);
    while counter.load(Ordering::Relaxed) < want && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Instant::now()
}

/// nats-server with only its WebSocket listener of interest, on free ports.
struct NatsWs {
    child: std::process::Child,
    ws_port: u16,
    port: u16,
    dir: std::path::PathBuf,
}

impl Drop for NatsWs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn nats_ws() -> NatsWs {
    let (port, ws_port) = (free_port(), free_port());
    let dir = std::env::temp_dir().join(gewebe_testkit::unique("gwb-natsws-"));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("nats.conf");
    std::fs::write(
        &conf,
        format!("listen: 127.0.0.1:{port}\nwebsocket {{\n  listen: \"127.0.0.1:{ws_port}\"\n  no_tls: true\n}}\n"),
    )
    .unwrap();
    let child = std::process::Command::new("/usr/sbin/nats-server")
        .arg("-c")
        .arg(&conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", ws_port)).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    NatsWs {
        child,
        ws_port,
        port,
        dir,
    }
}

/// A NATS WebSocket client subscribed to `bench.>`, counting MSGs.
async fn ws_client(port: u16, counter: Arc<AtomicU64>, ready: Arc<AtomicU64>) {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}"))
        .await
        .unwrap();
    use tokio_tungstenite::tungstenite::Message;
    ws.send(Message::binary(
        b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\nSUB bench.> 1\r\nPING\r\n".to_vec(),
    ))
    .await
    .unwrap();
    let mut buf: Vec<u8> = Vec::new();
    let mut subscribed = false;
    while let Some(Ok(frame)) = ws.next().await {
        buf.extend_from_slice(&frame.into_data());
        while let Some(eol) = buf.windows(2).position(|w| w == b"\r\n") {
            let line = String::from_utf8_lossy(&buf[..eol]).into_owned();
            if let Some(rest) = line.strip_prefix("MSG ") {
                let len: usize = rest.rsplit(' ').next().unwrap().parse().unwrap();
                if buf.len() < eol + 2 + len + 2 {
                    break;
                }
                buf.drain(..eol + 2 + len + 2);
                counter.fetch_add(1, Ordering::Relaxed);
            } else {
                buf.drain(..eol + 2);
                if line == "PONG" && !subscribed {
                    subscribed = true;
                    ready.fetch_add(1, Ordering::Relaxed);
                } else if line == "PING" {
                    let _ = ws.send(Message::binary(b"PONG\r\n".to_vec())).await;
                }
            }
        }
    }
}

/// Publishes `count` payloads at `rate`/s via `publish`.
async fn steady<F, Fut>(rate: u64, count: u64, mut publish: F)
where
    F: FnMut(u64) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for i in 0..count {
        tick.tick().await;
        publish(i).await;
    }
}

/// Part 1, memory per open stream: HTTP/1.1 connections, h2c streams as Caddy forwards them, and
/// a bare `axum::serve` SSE endpoint for comparison; rows appended to `md`.
async fn memory(js: &async_nats::jetstream::Context, md: &mut String) {
    let prefix = gewebe_testkit::nats_prefix();
    stream_for(js, &prefix).await;
    let feed = spawn_feed(&prefix, "http://127.0.0.1:9/.well-known/jwks.json");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(feed.0.id());
    let mut streams = Vec::with_capacity(STREAMS_FOR_MEMORY);
    let started = Instant::now();
    for chunk in 0..(STREAMS_FOR_MEMORY / 500) {
        let opened = futures::future::join_all((0..500).map(|i| {
            let q = if (chunk + i) % 2 == 0 {
                "topics=nodes&bbox=13,52,14,53"
            } else {
                "topics=nodes,edges"
            };
            open_sse(feed.1, q)
        }))
        .await;
        streams.extend(opened);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(feed.0.id());
    let per = (after.saturating_sub(before)) as f64 / STREAMS_FOR_MEMORY as f64;
    println!(
        "{STREAMS_FOR_MEMORY} streams opened in {:.1} s; feed RSS {before} KiB → {after} KiB: {per:.2} KiB per stream",
        started.elapsed().as_secs_f64()
    );
    writeln!(md, "| RSS per open stream, HTTP/1.1: one connection each ({STREAMS_FOR_MEMORY} streams; {before} → {after} KiB) | {per:.2} KiB | — | — | ≤ 12 KiB |").unwrap();
    drop(streams);
    drop(feed);
    // The same as Caddy forwards them: HTTP/2 streams sharing connections.
    let feed = spawn_feed(&prefix, "http://127.0.0.1:9/.well-known/jwks.json");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(feed.0.id());
    let mut streams = Vec::with_capacity(STREAMS_FOR_MEMORY);
    for chunk in 0..2 {
        let q = if chunk == 0 {
            "topics=nodes&bbox=13,52,14,53"
        } else {
            "topics=nodes,edges"
        };
        streams.extend(open_h2c(feed.1, &vec![q.to_owned(); STREAMS_FOR_MEMORY / 2]).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(feed.0.id());
    let per = (after.saturating_sub(before)) as f64 / STREAMS_FOR_MEMORY as f64;
    let conns = STREAMS_FOR_MEMORY.div_ceil(H2_STREAMS_PER_CONNECTION);
    println!(
        "h2c: feed RSS {before} KiB → {after} KiB: {per:.2} KiB per stream ({conns} connections)"
    );
    writeln!(md, "| RSS per open stream, h2c as Caddy forwards them ({STREAMS_FOR_MEMORY} streams on {conns} connections; {before} → {after} KiB) | {per:.2} KiB | — | — | ≤ 12 KiB |").unwrap();
    drop(streams);
    drop(feed);
    // The same for a bare axum SSE endpoint: what any axum/hyper stream costs.
    let bare = spawn_child("serve-minimal-sse", &prefix, "http://127.0.0.1:9/");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let bare_before = rss_kib(bare.0.id());
    let mut streams = Vec::with_capacity(STREAMS_FOR_MEMORY);
    for _ in 0..(STREAMS_FOR_MEMORY / 500) {
        streams.extend(futures::future::join_all((0..500).map(|_| open_sse(bare.1, ""))).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let bare_after = rss_kib(bare.0.id());
    let bare_per = (bare_after.saturating_sub(bare_before)) as f64 / STREAMS_FOR_MEMORY as f64;
    println!("bare axum SSE: {bare_before} KiB → {bare_after} KiB: {bare_per:.2} KiB per stream");
    writeln!(md, "| (for comparison: a bare SSE endpoint on `axum::serve`, HTTP/1.1, {STREAMS_FOR_MEMORY} streams; {bare_before} → {bare_after} KiB) | {bare_per:.2} KiB | — | — | — |").unwrap();
    drop(streams);
    drop(bare);
}

/// Part 2, the feed's side of the fan-out: `FANOUT_CLIENTS` streams over HTTP/1.1 connections or
/// h2c (as Caddy forwards them), `FANOUT_EVENTS` published at `FANOUT_RATE`; returns deliveries/s
/// and deliveries.
async fn feed_fanout(
    js: &async_nats::jetstream::Context,
    payloads: &[Envelope],
    h2c: bool,
) -> (f64, u64) {
    let prefix = gewebe_testkit::nats_prefix();
    stream_for(js, &prefix).await;
    let feed = spawn_feed(&prefix, "http://127.0.0.1:9/.well-known/jwks.json");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let counter = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    if h2c {
        let queries = vec!["topics=nodes".to_owned(); FANOUT_CLIENTS];
        for stream in open_h2c(feed.1, &queries).await {
            readers.push(tokio::spawn(count_events(
                h2_chunks(stream),
                counter.clone(),
                None,
            )));
        }
    } else {
        for _ in 0..FANOUT_CLIENTS / 100 {
            let opened =
                futures::future::join_all((0..100).map(|_| open_sse(feed.1, "topics=nodes"))).await;
            for s in opened {
                readers.push(tokio::spawn(count_events(
                    tcp_chunks(s),
                    counter.clone(),
                    None,
                )));
            }
        }
    }
    let want = FANOUT_EVENTS * FANOUT_CLIENTS as u64;
    let started = Instant::now();
    steady(FANOUT_RATE, FANOUT_EVENTS, |i| {
        let (js, e, prefix) = (js.clone(), &payloads[i as usize], prefix.clone());
        async move {
            let mut h = async_nats::HeaderMap::new();
            h.insert("Nats-Msg-Id", e.id.to_string().as_str());
            let _ack = js
                .publish_with_headers(
                    gewebe_events::subjects::event(&prefix, &e.event_type),
                    h,
                    e.to_vec().unwrap().into(),
                )
                .await
                .unwrap();
        }
    })
    .await;
    let done = until_count(&counter, want).await;
    let delivered = counter.load(Ordering::Relaxed);
    for r in readers {
        r.abort();
    }
    (delivered as f64 / (done - started).as_secs_f64(), delivered)
}

async fn bench() {
    let env = gewebe_testkit::TestEnv::from_env();
    let js = async_nats::jetstream::new(async_nats::connect(&env.nats_url).await.unwrap());
    let mut md = String::new();
    writeln!(md, "# Feed benchmark\n").unwrap();
    writeln!(
        md,
        "`cargo xtask bench feed` on {} cores; gewebe-feed as its own process, NATS JetStream and Redis on the same machine; clients are raw TCP or hyper's HTTP/2 client (SSE) and tokio-tungstenite (WebSocket) in the benchmark process; for the write-to-screen rows auth, geo and relay run in a second child process, and the benchmark process holds only the clients.\n",
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get)
    )
    .unwrap();
    writeln!(md, "| measure | value | baseline | ratio | target |").unwrap();
    writeln!(md, "|---|---|---|---|---|").unwrap();

    memory(&js, &mut md).await;

    // 2. Fan-out: feed vs nats-server WebSocket, same clients, payloads and rate.
    let payloads: Vec<Envelope> = (0..FANOUT_EVENTS).map(envelope).collect();
    let want = FANOUT_EVENTS * FANOUT_CLIENTS as u64;
    let (feed_rate, feed_delivered) = feed_fanout(&js, &payloads, false).await;
    let (h2c_rate, h2c_delivered) = feed_fanout(&js, &payloads, true).await;
    let ws = nats_ws().await;
    let nc = async_nats::connect(format!("nats://127.0.0.1:{}", ws.port))
        .await
        .unwrap();
    let ws_counter = Arc::new(AtomicU64::new(0));
    let ready = Arc::new(AtomicU64::new(0));
    let mut ws_clients = Vec::new();
    for _ in 0..FANOUT_CLIENTS {
        ws_clients.push(tokio::spawn(ws_client(
            ws.ws_port,
            ws_counter.clone(),
            ready.clone(),
        )));
    }
    until_count(&ready, FANOUT_CLIENTS as u64).await;
    let started = Instant::now();
    steady(FANOUT_RATE, FANOUT_EVENTS, |i| {
        let (nc, e) = (nc.clone(), &payloads[i as usize]);
        async move {
            nc.publish(
                format!("bench.{}", e.event_type),
                e.to_vec().unwrap().into(),
            )
            .await
            .unwrap();
        }
    })
    .await;
    let done = until_count(&ws_counter, want).await;
    let ws_rate = ws_counter.load(Ordering::Relaxed) as f64 / (done - started).as_secs_f64();
    let ws_delivered = ws_counter.load(Ordering::Relaxed);
    for c in ws_clients {
        c.abort();
    }
    drop(ws);
    println!(
        "fan-out: feed {feed_rate:.0} deliveries/s ({feed_delivered} of {want}), over h2c {h2c_rate:.0}/s ({h2c_delivered} of {want}); nats-server WebSocket {ws_rate:.0}/s ({ws_delivered} of {want})"
    );
    writeln!(
        md,
        "| fan-out: {FANOUT_EVENTS} events at {FANOUT_RATE}/s to {FANOUT_CLIENTS} clients, HTTP/1.1: one connection each (delivered {feed_delivered} of {want} / {ws_delivered} of {want}) | {feed_rate:.0} deliveries/s | nats-server WebSocket: {ws_rate:.0}/s | {:.2}× | ≥ 1.0× |",
        feed_rate / ws_rate
    )
    .unwrap();
    writeln!(
        md,
        "| fan-out, the same over h2c as Caddy forwards them ({} connections; delivered {h2c_delivered} of {want}) | {h2c_rate:.0} deliveries/s | nats-server WebSocket: {ws_rate:.0}/s | {:.2}× | ≥ 1.0× |",
        FANOUT_CLIENTS.div_ceil(H2_STREAMS_PER_CONNECTION),
        h2c_rate / ws_rate
    )
    .unwrap();

    // 3. Write to screen.
    for (rate, listeners) in write_runs() {
        let Screen {
            p50_ms,
            p99_ms,
            samples,
            writes_per_s,
            delivered,
            want,
            lagged,
        } = write_to_screen(rate, listeners).await;
        println!(
            "write → screen at {rate}/s with {FANOUT_CLIENTS} streams ({}): p50 {p50_ms:.2} ms, p99 {p99_ms:.2} ms ({samples} samples, {writes_per_s:.0} writes/s completed)",
            listeners.describe()
        );
        let target = match (rate, listeners) {
            (500, Listeners::Map) => "p50 ≤ 10 ms, p99 ≤ 50 ms",
            (500, Listeners::All) => "(worst case: 500,000 deliveries/s)",
            _ => "(below saturation, for comparison)",
        };
        writeln!(md, "| `POST /geo/nodes` → SSE receipt at {rate}/s ({writes_per_s:.0}/s completed), {FANOUT_CLIENTS} streams open, {}: p50 / p99 ({samples} receipts on 10 sampled streams; {delivered} of {want} deliveries, {lagged} streams lagged) | {p50_ms:.2} ms / {p99_ms:.2} ms | — | — | {target} |", listeners.describe()).unwrap();
    }
    md.push_str(NOTES);
    print!("{md}");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench/results/feed.md");
    std::fs::write(path, md).unwrap();
    println!("written to {path}");
}

/// Ten city centres (lat, lon). In the map layout each listener watches one city and the writes
/// go round the cities, so each write reaches the tenth of the listeners whose map shows it.
const CITIES: [(f64, f64); 10] = [
    (52.520, 13.405),
    (53.551, 9.994),
    (48.137, 11.575),
    (50.938, 6.960),
    (50.110, 8.682),
    (48.776, 9.183),
    (51.228, 6.773),
    (51.340, 12.375),
    (51.514, 7.468),
    (51.050, 13.738),
];

/// Who watches what in the write-to-screen part.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Listeners {
    /// Every listener's map shows one of the [`CITIES`] (a box of about 20 km); write `i` lands in
    /// city `i % 10`.
    Map,
    /// Every listener's map shows every write: the worst case, `FANOUT_CLIENTS` deliveries a write.
    All,
}

impl Listeners {
    fn describe(self) -> &'static str {
        match self {
            Self::Map => "each watching one of 10 cities where the writes land in turn",
            Self::All => "every one of them shown every write",
        }
    }

    fn query(self, listener: usize) -> String {
        match self {
            Self::Map => {
                let (lat, lon) = CITIES[listener % CITIES.len()];
                format!(
                    "topics=nodes&bbox={},{},{},{}",
                    lon - 0.15,
                    lat - 0.1,
                    lon + 0.15,
                    lat + 0.1
                )
            }
            Self::All => "topics=nodes&bbox=5,47,15,55".to_owned(),
        }
    }

    fn location(self, write: u64) -> (f64, f64) {
        let (lat, lon) = CITIES[(write % CITIES.len() as u64) as usize];
        // Spread within the city, so writes do not all share one spot.
        let k = (write / CITIES.len() as u64 % 100) as f64;
        (
            lat + (k % 10.0 - 5.0) * 0.005,
            lon + (k / 10.0 - 5.0) * 0.008,
        )
    }

    /// Deliveries per write.
    fn reach(self) -> u64 {
        match self {
            Self::Map => (FANOUT_CLIENTS / CITIES.len()) as u64,
            Self::All => FANOUT_CLIENTS as u64,
        }
    }
}

/// What a write-to-screen run measured.
struct Screen {
    p50_ms: f64,
    p99_ms: f64,
    samples: usize,
    /// Writes the machine completed per second (below `rate` when it cannot keep up).
    writes_per_s: f64,
    /// Events written to the listeners' screens, of those their maps show.
    delivered: u64,
    want: u64,
    /// Listeners cut with `lagged` (they would resume from JetStream).
    lagged: u64,
}

/// The child process of the write path: gewebe-auth, gewebe-geo and gewebe-relay on the database
/// and subject prefix the parent chose; prints the URLs of auth and geo, then serves until killed.
async fn serve_writers() {
    let db_pooled = std::env::var("BENCH_DB_POOLED").unwrap();
    let db_direct = std::env::var("BENCH_DB_DIRECT").unwrap();
    let prefix = std::env::var("NATS_SUBJECT_PREFIX").unwrap();
    let env = gewebe_testkit::TestEnv::from_env();
    let none = Env::from_pairs(Vec::<(String, String)>::new());
    let http_config = gewebe_platform::http::HttpConfig {
        concurrency_limit: 4096,
        ..gewebe_platform::http::HttpConfig::local()
    };
    let redis = gewebe_platform::redis::RedisConfig {
        url: env.redis_url.clone().into(),
        key_prefix: gewebe_testkit::redis_prefix(),
    };
    let telemetry = |service| gewebe_platform::telemetry::TelemetryConfig {
        service,
        filter: "warn".into(),
        loki_url: None,
        otlp_endpoint: None,
    };
    let mut pool = gewebe_platform::db::DbConfig::new(&db_pooled, &db_direct);
    pool.max_connections = 16;
    let auth = gewebe_auth::build(
        gewebe_auth::Config {
            http: http_config.clone(),
            db: pool.clone(),
            redis,
            telemetry: telemetry("gewebe-auth"),
            jwt: gewebe_platform::auth::JwtConfig::for_issuer_from_env(
                &gewebe_platform::Env::from_pairs(Vec::<(String, String)>::new()),
            )
            .unwrap(),

            keys: gewebe_auth::config::KeysConfig::from_env(&Env::from_pairs([(
                "AUTH_KEK",
                "3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhs=",
            )]))
            .unwrap(),
            accounts: gewebe_auth::config::AccountsConfig {
                // The benchmark registers its listeners concurrently.
                hash_concurrency: 64,
                ..gewebe_auth::config::AccountsConfig::from_env(&none).unwrap()
            },
            throttle: gewebe_auth::config::ThrottleConfig::from_env(&none).unwrap(),
            audit: gewebe_auth::config::AuditConfig::from_env(&none).unwrap(),
        },
        Shutdown::new(),
    )
    .await
    .unwrap()
    .spawn()
    .unwrap();
    let jwks = auth.url("/.well-known/jwks.json");
    let nats = gewebe_platform::nats::NatsConfig {
        url: env.nats_url.clone(),
        subject_prefix: prefix.clone(),
    };
    let jwt = gewebe_platform::auth::JwtConfig {
        jwks_url: jwks.clone(),
        issuer: "gewebe-auth".into(),
        audience: "gewebe".into(),
        refresh_min_interval: Duration::from_secs(5),
        cache_ttl: Duration::from_mins(5),
        leeway_secs: 30,
    };
    let geo = gewebe_geo::build(
        gewebe_geo::Config {
            http: http_config.clone(),
            db: pool.clone(),
            nats: nats.clone(),
            jwt,
            telemetry: telemetry("gewebe-geo"),
            geo: gewebe_geo::config::GeoConfig::with_key([5; 32]),
        },
        Shutdown::new(),
    )
    .await
    .unwrap()
    .spawn()
    .unwrap();
    let relay = gewebe_relay::build(
        gewebe_relay::Config {
            http: http_config,
            db: pool,
            nats,
            telemetry: telemetry("gewebe-relay"),
            relay: gewebe_relay::config::RelayConfig::from_env(&Env::from_pairs([
                ("RELAY_SCHEMAS", "geo"),
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
    println!("{jwks} {}", geo.url(""));
    let _running = (auth, geo, relay);
    std::future::pending::<()>().await;
}

/// The write path (auth, geo, relay) and the feed each run as their own process, as they are
/// deployed; this process is only the clients: the POSTs and the 1,000 listeners. (With the write
/// path in this process, its requests queued behind the listeners' reads on the same two worker
/// threads.)
async fn write_to_screen(rate: u64, listeners: Listeners) -> Screen {
    let env = gewebe_testkit::TestEnv::from_env();
    let mut migrators = gewebe_auth::migrators().unwrap();
    migrators.extend(gewebe_geo::migrators().unwrap());
    let db = gewebe_testkit::database(&migrators.iter().collect::<Vec<_>>())
        .await
        .unwrap();
    let prefix = gewebe_testkit::nats_prefix();
    let (writers, urls) = spawn_writers(&prefix, &db);
    let (jwks, geo_url) = urls.split_once(' ').unwrap();
    let auth_url = jwks.trim_end_matches("/.well-known/jwks.json").to_owned();
    let js = async_nats::jetstream::new(async_nats::connect(&env.nats_url).await.unwrap());
    while js
        .get_stream(gewebe_events::subjects::stream(&prefix))
        .await
        .is_err()
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let feed = spawn_feed(&prefix, jwks);
    tokio::time::sleep(Duration::from_millis(500)).await;

    let http = gewebe_testkit::http();
    let token = gewebe_testkit::account(&http, &auth_url).await.token;

    let counter = Arc::new(AtomicU64::new(0));
    let stamps = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut readers = Vec::new();
    // The listeners reach the feed as Caddy forwards them: HTTP/2 streams sharing connections.
    let queries: Vec<String> = (0..FANOUT_CLIENTS).map(|i| listeners.query(i)).collect();
    for (i, stream) in open_h2c(feed.1, &queries).await.into_iter().enumerate() {
        // One sampled stream per city (the first ten): in the map layout every write is sampled
        // exactly once.
        let sample = i < CITIES.len();
        readers.push(tokio::spawn(count_events(
            h2_chunks(stream),
            counter.clone(),
            sample.then(|| stamps.clone()),
        )));
    }
    let url = format!("{geo_url}/geo/nodes");
    let post_ms = Arc::new(std::sync::Mutex::new(Vec::new()));
    // A second at the same rate first, not measured: every pooled connection of geo (and
    // PgBouncer's to PostgreSQL) is opened, and every plan cache filled, by the first writes.
    post_nodes(&http, &url, &token, rate, rate, listeners, &post_ms).await;
    until_count(&counter, rate * listeners.reach()).await;
    counter.store(0, Ordering::Relaxed);
    stamps.lock().unwrap().clear();
    post_ms.lock().unwrap().clear();
    let writes = rate * WRITE_SECS;
    let write_started = Instant::now();
    post_nodes(&http, &url, &token, rate, writes, listeners, &post_ms).await;
    let writes_per_s = writes as f64 / write_started.elapsed().as_secs_f64();
    eprintln!("{writes_per_s:.0} writes/s completed");
    let want = writes * listeners.reach();
    until_count(&counter, want).await;
    let delivered = counter.load(Ordering::Relaxed);
    let lagged = lagged_streams(feed.1).await;
    eprintln!(
        "{delivered} of {want} deliveries after {:.1} s; {lagged} streams lagged",
        write_started.elapsed().as_secs_f64()
    );
    let mut posts = std::mem::take(&mut *post_ms.lock().unwrap());
    posts.sort_by(f64::total_cmp);
    eprintln!(
        "POST /geo/nodes p50 {:.2} ms, p99 {:.2} ms",
        percentile(&posts, 0.5),
        percentile(&posts, 0.99)
    );
    for r in readers {
        r.abort();
    }
    let mut lat = std::mem::take(&mut *stamps.lock().unwrap());
    lat.sort_by(f64::total_cmp);
    drop((feed, writers));
    Screen {
        p50_ms: percentile(&lat, 0.5),
        p99_ms: percentile(&lat, 0.99),
        samples: lat.len(),
        writes_per_s,
        delivered,
        want,
        lagged,
    }
}

/// `writes` new nodes at `rate`/s where `listeners` look, each title carrying its send time;
/// returns when the last one was answered.
async fn post_nodes(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    rate: u64,
    writes: u64,
    listeners: Listeners,
    post_ms: &Arc<std::sync::Mutex<Vec<f64>>>,
) {
    let in_flight = Arc::new(tokio::sync::Semaphore::new(64));
    steady(rate, writes, |i| {
        let (http, url, token, permit, post_ms) = (
            http.clone(),
            url.to_owned(),
            token.to_owned(),
            in_flight.clone(),
            post_ms.clone(),
        );
        let (lat, lon) = listeners.location(i);
        async move {
            let permit = permit.acquire_owned().await.unwrap();
            tokio::spawn(async move {
                let sent = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_micros();
                let posted = Instant::now();
                let r = http
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({"kind": "place", "title": format!("sent_us={sent} n{i}"), "location": {"lat": lat, "lon": lon}}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201);
                post_ms.lock().unwrap().push(posted.elapsed().as_secs_f64() * 1000.0);
                drop(permit);
            });
        }
    })
    .await;
    // The last POSTs are still in flight when the loop ends: wait for their permits.
    let _all = in_flight.acquire_many(64).await.unwrap();
}

/// `feed_lagged_disconnects_total` from the feed's metrics.
async fn lagged_streams(port: u16) -> u64 {
    let text = gewebe_testkit::http()
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("feed_lagged_disconnects_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    match args.first().map(String::as_str) {
        Some("serve-feed") => runtime.block_on(serve_feed()),
        Some("serve-writers") => runtime.block_on(serve_writers()),
        Some("serve-minimal-sse") => runtime.block_on(serve_minimal_sse()),
        Some("--list") => {}
        // Only the memory part, for looking into it.
        Some("memory") => runtime.block_on(async {
            let env = gewebe_testkit::TestEnv::from_env();
            let js = async_nats::jetstream::new(async_nats::connect(&env.nats_url).await.unwrap());
            let mut md = String::new();
            memory(&js, &mut md).await;
            print!("{md}");
        }),
        // Only the write-to-screen part, for looking into it.
        Some("latency") => {
            for (rate, listeners) in write_runs() {
                let r = runtime.block_on(write_to_screen(rate, listeners));
                println!(
                    "write → screen at {rate}/s ({}): p50 {:.2} ms, p99 {:.2} ms ({} samples, {:.0} writes/s completed, {} of {} deliveries, {} lagged)",
                    listeners.describe(),
                    r.p50_ms,
                    r.p99_ms,
                    r.samples,
                    r.writes_per_s,
                    r.delivered,
                    r.want,
                    r.lagged
                );
            }
        }
        _ => runtime.block_on(bench()),
    }
}
