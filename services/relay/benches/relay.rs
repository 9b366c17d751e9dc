//! `cargo xtask bench relay`: the outbox relay against the raw JetStream publish rate, on the same
//! machine, in the same run (a ratio survives a noisy machine; an absolute number does not).
//!
//! 1. baseline: raw JetStream async publishing (pipelined, acks awaited) of envelope-sized messages;
//! 2. sustained: concurrent writers commit events while the relay publishes them — commit to
//!    JetStream ack, measured until the stream holds them all; and a backlog drain (relay only);
//! 3. latency: 1,000 events/s, one event per transaction, commit → delivery from the stream.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::panic
)]
// Test code: pedantic lints that guard production paths, not fixtures and measurements.
#![allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]

use gewebe_testkit::load::percentile;
use std::{
    collections::HashMap,
    fmt::Write as _,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use async_nats::jetstream::{self, message::PublishMessage};
use futures::StreamExt;
use gewebe_events::{Envelope, outbox::Outbox, subjects, types::NodeUpdated};
use gewebe_platform::{
    Shutdown,
    db::{Db, DbConfig},
    http::HttpConfig,
    nats::NatsConfig,
    telemetry::TelemetryConfig,
};
use gewebe_relay::{Config, config::RelayConfig};
use uuid::Uuid;

const SCHEMA: &str = "bench";
const RAW_MESSAGES: usize = 50_000;
const SUSTAINED_WRITERS: usize = 4;
const SUSTAINED_PER_WRITER: usize = 10_000;
const EVENTS_PER_TX: usize = 50;
const BACKLOG: usize = 50_000;
const LATENCY_SECS: u64 = 10;

fn envelope(aggregate: Uuid, version: i64) -> Envelope {
    let event = NodeUpdated {
        node_id: aggregate,
        kind: "place".into(),
        title: format!("Gemeinschaftsgarten v{version}"),
        location: gewebe_events::Location {
            lat: 53.5511,
            lon: 9.9937,
        },
        h3: "881f1d4815fffff".into(),
    };
    Envelope::new("gewebe-geo", aggregate, version, &event).unwrap()
}

struct Bench {
    db: gewebe_testkit::TestDb,
    pool: Db,
    outbox: Outbox,
    nats_url: String,
    prefix: String,
}

impl Bench {
    async fn new() -> Self {
        let db = gewebe_testkit::database(&[&gewebe_events::outbox::migrator(SCHEMA).unwrap()])
            .await
            .unwrap();
        let mut cfg = DbConfig::new(&db.pooled_url, &db.direct_url);
        cfg.max_connections = 16;
        let pool = Db::connect_lazy(&cfg, "relay-bench").unwrap();
        let wake_pool = pool.pool().clone();
        Self {
            db,
            pool,
            outbox: Outbox::new(SCHEMA, wake_pool).unwrap(),
            nats_url: gewebe_testkit::TestEnv::from_env().nats_url,
            prefix: gewebe_testkit::nats_prefix(),
        }
    }

    fn config(&self) -> Config {
        let env = gewebe_platform::Env::from_pairs([
            ("RELAY_SCHEMAS", SCHEMA),
            ("NATS_STREAM_MAX_BYTES", "1073741824"),
        ]);
        Config {
            http: HttpConfig::local(),
            db: DbConfig::new(&self.db.pooled_url, &self.db.direct_url),
            nats: NatsConfig {
                url: self.nats_url.clone(),
                subject_prefix: self.prefix.clone(),
            },
            telemetry: TelemetryConfig {
                service: "gewebe-relay",
                filter: "warn".into(),
                loki_url: None,
                otlp_endpoint: None,
            },
            relay: RelayConfig::from_env(&env).unwrap(),
        }
    }

    async fn js(&self) -> jetstream::Context {
        jetstream::new(async_nats::connect(&self.nats_url).await.unwrap())
    }

    async fn write_tx(&self, events: &[Envelope]) {
        let mut tx = self.pool.begin().await.unwrap();
        if let [one] = events {
            self.outbox.record(&mut tx, one).await.unwrap();
        } else {
            self.outbox.record_many(&mut tx, events).await.unwrap();
        }
        self.outbox.commit(tx).await.unwrap();
    }

    /// `writers` × `per_writer` events, `EVENTS_PER_TX` per transaction, each writer on its own
    /// 1,000 aggregates.
    async fn write_load(&self, writers: usize, per_writer: usize) {
        futures::future::join_all((0..writers).map(|_| async move {
            let aggregates: Vec<Uuid> = (0..1000).map(|_| Uuid::now_v7()).collect();
            let mut versions = vec![0i64; aggregates.len()];
            let mut chunk = Vec::with_capacity(EVENTS_PER_TX);
            for i in 0..per_writer {
                let a = i % aggregates.len();
                versions[a] += 1;
                chunk.push(envelope(aggregates[a], versions[a]));
                if chunk.len() == EVENTS_PER_TX {
                    self.write_tx(&chunk).await;
                    chunk.clear();
                }
            }
            if !chunk.is_empty() {
                self.write_tx(&chunk).await;
            }
        }))
        .await;
    }

    async fn stream_len(&self, js: &jetstream::Context) -> u64 {
        match js.get_stream(subjects::stream(&self.prefix)).await {
            Ok(mut s) => s.info().await.map_or(0, |i| i.state.messages),
            Err(_) => 0,
        }
    }

    async fn wait_for_stream(&self, js: &jetstream::Context, n: u64) -> Instant {
        loop {
            if self.stream_len(js).await >= n {
                return Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Raw JetStream: the same payload size, `Nats-Msg-Id` set, up to 4,096 acks in flight.
async fn raw_publish_rate(nats_url: &str) -> (f64, usize) {
    let js = jetstream::new(async_nats::connect(nats_url).await.unwrap());
    let prefix = gewebe_testkit::nats_prefix();
    js.create_stream(jetstream::stream::Config {
        name: subjects::stream(&prefix),
        subjects: vec![subjects::all_events(&prefix)],
        storage: jetstream::stream::StorageType::File,
        duplicate_window: Duration::from_hours(72),
        max_bytes: 1 << 30,
        ..Default::default()
    })
    .await
    .unwrap();
    let payloads: Vec<(Uuid, Vec<u8>)> = (0..RAW_MESSAGES)
        .map(|i| {
            let e = envelope(Uuid::now_v7(), i as i64 + 1);
            (e.id, e.to_vec().unwrap())
        })
        .collect();
    let size = payloads[0].1.len();
    let subject = subjects::event(&prefix, "node.updated");
    let started = Instant::now();
    let mut acks = futures::stream::FuturesUnordered::new();
    for (id, payload) in payloads {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", id.to_string().as_str());
        let ack = js
            .send_publish(
                subject.clone(),
                PublishMessage::build()
                    .payload(payload.into())
                    .headers(headers),
            )
            .await
            .unwrap();
        acks.push(ack.into_future());
        while acks.len() >= 4096 {
            acks.next().await.unwrap().unwrap();
        }
    }
    while let Some(ack) = acks.next().await {
        ack.unwrap();
    }
    let rate = RAW_MESSAGES as f64 / started.elapsed().as_secs_f64();
    js.delete_stream(subjects::stream(&prefix)).await.unwrap();
    (rate, size)
}

fn latency_rate() -> u64 {
    std::env::var("BENCH_LATENCY_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000)
}

#[tokio::main]
async fn main() {
    #[allow(non_snake_case)]
    let LATENCY_RATE = latency_rate();
    if std::env::args().any(|a| a == "--list") {
        return; // cargo's bench discovery
    }
    eprintln!("relay bench: raw JetStream baseline ({RAW_MESSAGES} messages)…");
    let (raw_rate, payload_bytes) =
        raw_publish_rate(&gewebe_testkit::TestEnv::from_env().nats_url).await;

    // Sustained: writers and relay at once.
    eprintln!(
        "relay bench: sustained, {SUSTAINED_WRITERS} writers × {SUSTAINED_PER_WRITER} events…"
    );
    let bench = Bench::new().await;
    let js = bench.js().await;
    let server = gewebe_relay::build(bench.config(), Shutdown::new())
        .await
        .unwrap()
        .spawn()
        .unwrap();
    let total = (SUSTAINED_WRITERS * SUSTAINED_PER_WRITER) as u64;
    let started = Instant::now();
    bench
        .write_load(SUSTAINED_WRITERS, SUSTAINED_PER_WRITER)
        .await;
    let writes_done = started.elapsed();
    let all_acked = bench
        .wait_for_stream(&js, total)
        .await
        .duration_since(started);
    let sustained_rate = total as f64 / all_acked.as_secs_f64();
    let write_rate = total as f64 / writes_done.as_secs_f64();
    server.stop().await.unwrap();

    // Backlog drain: rows already committed, then the relay starts.
    eprintln!("relay bench: backlog drain of {BACKLOG} rows…");
    let backlog = Bench::new().await;
    let bjs = backlog.js().await;
    backlog
        .write_load(SUSTAINED_WRITERS, BACKLOG / SUSTAINED_WRITERS)
        .await;
    let relay_server = gewebe_relay::build(backlog.config(), Shutdown::new())
        .await
        .unwrap();
    let started = Instant::now();
    let server = relay_server.spawn().unwrap();
    let drained = backlog
        .wait_for_stream(&bjs, BACKLOG as u64)
        .await
        .duration_since(started);
    let drain_rate = BACKLOG as f64 / drained.as_secs_f64();
    server.stop().await.unwrap();

    // Latency at a steady 1,000 events/s, one event per transaction.
    eprintln!("relay bench: latency at {LATENCY_RATE} events/s for {LATENCY_SECS} s…");
    let lat = Bench::new().await;
    let ljs = lat.js().await;
    let server = gewebe_relay::build(lat.config(), Shutdown::new())
        .await
        .unwrap()
        .spawn()
        .unwrap();
    // Let the relay provision the stream before the clock starts.
    while ljs.get_stream(subjects::stream(&lat.prefix)).await.is_err() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let committed: Arc<Mutex<HashMap<Uuid, Instant>>> = Arc::default();
    let expected = LATENCY_RATE * LATENCY_SECS;
    let receiver = {
        let stream = ljs.get_stream(subjects::stream(&lat.prefix)).await.unwrap();
        let consumer = stream
            .create_consumer(jetstream::consumer::pull::OrderedConfig::default())
            .await
            .unwrap();
        let committed = committed.clone();
        tokio::spawn(async move {
            let mut messages = consumer.messages().await.unwrap();
            let mut latencies = Vec::with_capacity(expected as usize);
            while (latencies.len() as u64) < expected {
                let Ok(Some(Ok(m))) =
                    tokio::time::timeout(Duration::from_secs(30), messages.next()).await
                else {
                    break;
                };
                let received = Instant::now();
                let id = Envelope::from_slice(&m.payload).unwrap().id;
                // The commit is recorded right after `commit()` returns; wait for that entry.
                let at = loop {
                    if let Some(at) = committed.lock().unwrap().get(&id).copied() {
                        break at;
                    }
                    tokio::task::yield_now().await;
                };
                latencies.push(received.saturating_duration_since(at).as_secs_f64() * 1000.0);
            }
            latencies
        })
    };
    let writers = 10u64;
    let per_writer_interval = Duration::from_micros(1_000_000 * writers / LATENCY_RATE);
    futures::future::join_all((0..writers).map(|_| {
        let lat = &lat;
        let committed = committed.clone();
        async move {
            let mut tick = tokio::time::interval(per_writer_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            for _ in 0..(expected / writers) {
                tick.tick().await;
                let e = envelope(Uuid::now_v7(), 1);
                let id = e.id;
                lat.write_tx(std::slice::from_ref(&e)).await;
                committed.lock().unwrap().insert(id, Instant::now());
            }
        }
    }))
    .await;
    let mut latencies = receiver.await.unwrap();
    let metrics = gewebe_testkit::http()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let batch_lines: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("relay_batch_duration_seconds"))
        .collect();
    eprintln!(
        "relay batch durations during the latency run:\n{}",
        batch_lines.join("\n")
    );
    server.stop().await.unwrap();
    latencies.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile(&latencies, 0.50), percentile(&latencies, 0.99));

    let machine = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    let mut md = String::new();
    writeln!(md, "# Relay benchmark").unwrap();
    writeln!(md).unwrap();
    writeln!(md, "`cargo xtask bench relay` on {} cores ({machine}); PostgreSQL through PgBouncer (transaction mode), NATS JetStream file storage, same machine. Envelope size {payload_bytes} bytes.", std::thread::available_parallelism().map_or(0, std::num::NonZero::get)).unwrap();
    writeln!(md).unwrap();
    writeln!(md, "| measure | value | target |").unwrap();
    writeln!(md, "|---|---|---|").unwrap();
    writeln!(
        md,
        "| baseline: raw JetStream async publish | {raw_rate:.0} msg/s | — |"
    )
    .unwrap();
    writeln!(md, "| sustained, commit → JetStream ack ({total} events, {SUSTAINED_WRITERS} writers, {EVENTS_PER_TX}/tx) | {sustained_rate:.0} events/s | ≥ 10,000 |").unwrap();
    writeln!(
        md,
        "| sustained ÷ raw JetStream | {:.2}× | ≥ 0.5× |",
        sustained_rate / raw_rate
    )
    .unwrap();
    writeln!(
        md,
        "| (writers alone committed at) | {write_rate:.0} events/s | — |"
    )
    .unwrap();
    writeln!(md, "| backlog drain, relay only ({BACKLOG} rows) | {drain_rate:.0} events/s ({:.2}× raw) | — |", drain_rate / raw_rate).unwrap();
    writeln!(md, "| latency commit → delivered from the stream at {LATENCY_RATE} events/s, p50 | {p50:.2} ms | — |").unwrap();
    writeln!(md, "| latency p99 | {p99:.2} ms | ≤ 20 ms |").unwrap();
    writeln!(
        md,
        "| latency samples | {} of {expected} | — |",
        latencies.len()
    )
    .unwrap();
    print!("{md}");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/results/relay.md");
    std::fs::write(&out, &md).unwrap();
    eprintln!("written to {}", out.display());
}
