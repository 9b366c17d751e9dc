//! gewebe-relay against real PostgreSQL (through PgBouncer) and real NATS JetStream.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Test code: pedantic lints that guard production paths, not fixtures and measurements.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::implicit_hasher
)]

mod chaos;
mod consumer;
mod outbox;
mod relay;
mod sql;

use std::{collections::HashMap, process::Command, time::Duration};

use futures::StreamExt;
use gewebe_events::{Envelope, outbox::Outbox, subjects, types::NodeUpdated};
use gewebe_platform::{
    db::{Db, DbConfig},
    http::HttpConfig,
    nats::NatsConfig,
    telemetry::TelemetryConfig,
};
use gewebe_relay::{Config, config::RelayConfig};
use gewebe_testkit::TestDb;
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

/// The writer schema of these tests: an outbox plus one business table.
pub const SCHEMA: &str = "w";

#[derive(Clone)]
pub struct Env {
    pub db: TestDb,
    pub pool: Db,
    pub prefix: String,
    pub nats_url: String,
    pub outbox: Outbox,
}

pub async fn env_with_nats(nats_url: String) -> Env {
    let outbox_migrator = gewebe_events::outbox::migrator(SCHEMA).unwrap();
    let items = sqlx::migrate::Migrator::with_migrations(vec![sqlx::migrate::Migration::new(
        1,
        "items".into(),
        sqlx::migrate::MigrationType::Simple,
        sqlx::SqlSafeStr::into_sql_str(
            "CREATE TABLE w.items (id uuid PRIMARY KEY, version bigint NOT NULL)",
        ),
        false,
    )]);
    let mut items = items;
    items.dangerous_set_table_name("w._items_migrations");
    let db = gewebe_testkit::database(&[&outbox_migrator, &items])
        .await
        .unwrap();
    let mut cfg = DbConfig::new(&db.pooled_url, &db.direct_url);
    cfg.max_connections = 20;
    let pool = Db::connect_lazy(&cfg, "relay-test").unwrap();
    let wake_pool = pool.pool().clone();
    Env {
        db,
        pool,
        prefix: gewebe_testkit::nats_prefix(),
        nats_url,
        outbox: Outbox::new(SCHEMA, wake_pool).unwrap(),
    }
}

pub async fn env() -> Env {
    env_with_nats(gewebe_testkit::TestEnv::from_env().nats_url).await
}

impl Env {
    pub fn config(&self) -> Config {
        let env = gewebe_platform::Env::from_pairs([
            ("RELAY_SCHEMAS", SCHEMA),
            ("RELAY_POLL_INTERVAL_MS", "200"),
            ("RELAY_BACKOFF_MAX_MS", "1000"),
            ("NATS_STREAM_MAX_BYTES", "268435456"),
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
                filter: "info".into(),
                loki_url: None,
                otlp_endpoint: None,
            },
            relay: RelayConfig::from_env(&env).unwrap(),
        }
    }

    /// The environment for the real binary.
    pub fn binary(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gewebe-relay"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &self.db.pooled_url)
            .env("DATABASE_DIRECT_URL", &self.db.direct_url)
            .env("NATS_URL", &self.nats_url)
            .env("NATS_SUBJECT_PREFIX", &self.prefix)
            .env("RELAY_SCHEMAS", SCHEMA)
            .env("RELAY_POLL_INTERVAL_MS", "200")
            .env("RELAY_BACKOFF_MAX_MS", "1000")
            .env("NATS_STREAM_MAX_BYTES", "268435456")
            .env("BIND_ADDR", "127.0.0.1:0")
            .env("RUST_LOG", "warn");
        cmd
    }

    /// One business write and its event, in one pooled transaction.
    pub async fn write(&self, aggregate: Uuid, version: i64) -> Envelope {
        let event = NodeUpdated {
            node_id: aggregate,
            kind: "place".into(),
            title: format!("v{version}"),
            location: gewebe_events::Location {
                lat: 53.55,
                lon: 9.99,
            },
            h3: "881f1d4815fffff".into(),
        };
        let envelope = Envelope::new("test-writer", aggregate, version, &event).unwrap();
        let mut tx = self.pool.begin().await.unwrap();
        sqlx::query("INSERT INTO w.items (id, version) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET version = $2")
            .bind(aggregate)
            .bind(version)
            .execute(&mut *tx)
            .await
            .unwrap();
        self.outbox.record(&mut tx, &envelope).await.unwrap();
        self.outbox.commit(tx).await.unwrap();
        envelope
    }

    /// `writers` concurrent writers, each owning `aggregates` aggregates written round-robin up to
    /// `per_writer` events. Returns the expected versions per aggregate.
    pub async fn write_many(
        &self,
        writers: usize,
        aggregates: usize,
        per_writer: usize,
    ) -> HashMap<Uuid, i64> {
        let tasks = (0..writers).map(|_| async move {
            let ids: Vec<Uuid> = (0..aggregates).map(|_| Uuid::now_v7()).collect();
            let mut versions: HashMap<Uuid, i64> = HashMap::new();
            for i in 0..per_writer {
                let id = ids[i % aggregates];
                let v = versions.entry(id).or_insert(0);
                *v += 1;
                self.write(id, *v).await;
            }
            versions
        });
        futures::future::join_all(tasks)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    pub async fn direct(&self) -> PgConnection {
        PgConnection::connect(&self.db.direct_url).await.unwrap()
    }

    pub async fn pending(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM w.outbox WHERE published_at IS NULL")
            .fetch_one(&mut self.direct().await)
            .await
            .unwrap()
    }

    pub async fn jetstream(&self) -> async_nats::jetstream::Context {
        async_nats::jetstream::new(async_nats::connect(&self.nats_url).await.unwrap())
    }

    pub async fn stream_len(&self) -> u64 {
        let js = self.jetstream().await;
        match js.get_stream(subjects::stream(&self.prefix)).await {
            Ok(mut s) => s.info().await.unwrap().state.messages,
            Err(_) => 0,
        }
    }

    /// Waits until the stream holds `n` messages and nothing is pending.
    pub async fn wait_for(&self, n: u64, timeout: Duration) {
        let reached = gewebe_testkit::eventually(timeout, || async {
            (self.stream_len().await >= n && self.pending().await == 0).then_some(())
        })
        .await;
        assert!(
            reached.is_some(),
            "stream has {} of {n}, {} pending",
            self.stream_len().await,
            self.pending().await
        );
        // Anything more would be a duplicate; give it a moment to show up.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    /// Every envelope in the stream, in stream order.
    pub async fn read_stream(&self) -> Vec<Envelope> {
        let js = self.jetstream().await;
        let stream = js.get_stream(subjects::stream(&self.prefix)).await.unwrap();
        let total = self.stream_len().await as usize;
        let consumer = stream
            .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default())
            .await
            .unwrap();
        let mut messages = consumer.messages().await.unwrap();
        let mut out = Vec::with_capacity(total);
        while out.len() < total {
            let message = tokio::time::timeout(Duration::from_secs(10), messages.next())
                .await
                .expect("reading the stream stalled")
                .unwrap()
                .unwrap();
            out.push(Envelope::from_slice(&message.payload).unwrap());
        }
        out
    }
}

/// Exactly once, and per aggregate in version order 1..=n.
pub fn assert_exactly_once_in_order(events: &[Envelope], expected: &HashMap<Uuid, i64>) {
    let total: i64 = expected.values().sum();
    assert_eq!(
        events.len() as i64,
        total,
        "stream holds every event exactly once"
    );
    let mut ids = std::collections::HashSet::new();
    for e in events {
        assert!(ids.insert(e.id), "duplicate event {}", e.id);
    }
    let mut last: HashMap<Uuid, i64> = HashMap::new();
    for e in events {
        let prev = last
            .insert(e.aggregate.id, e.aggregate.version)
            .unwrap_or(0);
        assert_eq!(
            e.aggregate.version,
            prev + 1,
            "aggregate {} out of order",
            e.aggregate.id
        );
    }
    for (id, v) in expected {
        assert_eq!(last.get(id), Some(v), "aggregate {id} incomplete");
    }
}
