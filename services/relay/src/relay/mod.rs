//! The relay loop: committed outbox rows → JetStream, acknowledged, in order, none lost.
//!
//! - **One active relay.** Instances compete for a session advisory lock on a direct connection
//!   (PgBouncer would drop it); the holder publishes, the others wait and take over within one poll
//!   interval when it dies (its session ends, the lock goes with it). Order is simple to reason
//!   about with one publisher, and two instances never interleave. The leader reads and marks its
//!   batches on that same session.
//! - **Order per aggregate.** A batch holds at most one row per aggregate — the oldest pending one,
//!   so a busy aggregate cannot crowd the others out of a batch — and is fully acknowledged before
//!   the next batch is read, so version n+1 is only sent after version n was acked.
//! - **No loss, no double effect.** A row is marked published only after JetStream's ack; every
//!   message carries `Nats-Msg-Id` = event id, so a row republished after a crash between ack and
//!   mark is dropped as a duplicate within the 72 h window.
//! - **Poison rows** (not an envelope, larger than NATS accepts) go to the quarantine table and the
//!   DLQ subject; the rows behind them carry on. Anything else (NATS down, timeouts) is retried with
//!   capped exponential backoff and jitter, the rows staying pending.
//!
//! The parts: [`leader`] (who publishes, and its loop), [`batch`] (one round of claim, publish,
//! acknowledge), [`replay`] (the DR drill's outbox rebuild), [`housekeeping`] (pruning, the
//! pending gauges) and [`backoff`].

mod backoff;
mod batch;
mod housekeeping;
mod leader;
mod replay;

use std::sync::{Arc, atomic::AtomicBool};

use gewebe_platform::{StartError, db::Db, http::MetricsRegistry, nats::Nats};

pub use backoff::Backoff;
pub use replay::ReplayReport;

use crate::{
    config::{self, Config, RelayConfig},
    jetstream,
    metrics::RelayMetrics,
    store::SchemaSql,
};

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("publishing: {0}")]
    Publish(String),
    #[error("stream: {0}")]
    Stream(#[from] jetstream::StreamError),
}

/// What `/relay/status` shows.
#[derive(Default)]
pub struct RelayState {
    pub leader: AtomicBool,
}

pub struct Relay {
    pub db: Db,
    pub nats: Nats,
    pub schemas: Vec<SchemaSql>,
    pub config: RelayConfig,
    pub metrics: RelayMetrics,
    pub state: Arc<RelayState>,
    /// Acknowledged rows per schema, marked published by the statement that reads the next batch
    /// (one round trip less per batch). If the process dies first they are sent again and
    /// JetStream drops them as duplicates.
    pub acked: std::sync::Mutex<std::collections::HashMap<String, Vec<i64>>>,
}

impl Relay {
    /// Connects to PostgreSQL and NATS (both lazily: a dependency that is not up yet is retried,
    /// not fatal) with the SQL of every relayed schema; also what `replay` and the tests use.
    pub async fn connect(config: &Config, registry: &MetricsRegistry) -> Result<Self, StartError> {
        let db = Db::connect_lazy(&config.db, config::SERVICE)?;
        let nats = Nats::connect(&config.nats, config::SERVICE).await?;
        let schemas = config
            .relay
            .schemas
            .iter()
            .map(|s| SchemaSql::new(s))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            db,
            nats,
            schemas,
            config: config.relay.clone(),
            metrics: RelayMetrics::register(registry),
            state: Arc::default(),
            acked: std::sync::Mutex::default(),
        })
    }
}
